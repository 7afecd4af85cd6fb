// An IOVA allocator over the ranges an IOMMU reports: pure (no syscalls), shared by every IOMMU
// backend. Live allocations are kept sorted by address; allocation is first fit from the lowest
// address, so an IOVA freed by unmap is the first one handed out again, and addresses stay low
// (devices with narrow DMA masks, such as edu's 28 bits, keep working as long as possible).
import { IovaRange } from '../decode/iommu';
import { VfioError, invalidArgument } from '../errors';

export { IovaRange };

export interface IovaAllocatorOptions {
  /** The IOMMU's smallest page size: every IOVA and size is a multiple of it. */
  pageSize: bigint;
  /**
   * Lowest address allocate() hands out; default one page, because a bus address of 0 means
   * "no address" to many devices and drivers. reserve() may still place something below it.
   */
  floor?: bigint;
}

export interface IovaConstraint {
  /**
   * How many address bits the device drives (its DMA mask): the whole allocation lies below
   * 2^bits. 28 for edu, 32 for many older devices; default 64.
   */
  dmaMaskBits?: number;
}

export interface AllocateOptions extends IovaConstraint {
  /** Alignment of the IOVA, a power of two no smaller than the page size; default the page size. */
  align?: bigint;
}

/** One live allocation; `end` is exclusive. */
export interface IovaAllocation { readonly iova: bigint; readonly size: bigint }

interface Span { start: bigint; end: bigint }

const U64_END = 1n << 64n;

function hex(n: bigint): string {
  return `0x${n.toString(16)}`;
}

function isPowerOfTwo(n: bigint): boolean {
  return n > 0n && (n & (n - 1n)) === 0n;
}

function alignUp(n: bigint, a: bigint): bigint {
  return (n + a - 1n) & ~(a - 1n);
}

export class IovaAllocator {
  readonly pageSize: bigint;
  /** Usable ranges with exclusive ends, sorted, page-trimmed. */
  private readonly ranges: readonly Span[];
  private readonly floor: bigint;
  /** Live allocations sorted by start. */
  private readonly live: Span[] = [];
  private readonly op: string;

  /** `ranges` are inclusive, as the kernel reports them; `op` names the caller in errors. */
  constructor(ranges: readonly IovaRange[], o: IovaAllocatorOptions, op = 'IovaAllocator') {
    if (!isPowerOfTwo(o.pageSize)) throw invalidArgument(op, `page size ${hex(o.pageSize)} is not a power of two`);
    this.pageSize = o.pageSize;
    this.floor = o.floor ?? o.pageSize;
    this.op = op;
    const trimmed: Span[] = [];
    for (const r of ranges) {
      if (r.end < r.start) throw invalidArgument(op, `IOVA range [${hex(r.start)}, ${hex(r.end)}] is empty`);
      // Only whole pages inside the range are usable.
      const start = alignUp(r.start, o.pageSize);
      const end = (r.end + 1n) & ~(o.pageSize - 1n);
      if (end > start) trimmed.push({ start, end });
    }
    trimmed.sort((a, b) => (a.start < b.start ? -1 : 1));
    for (let i = 1; i < trimmed.length; i++) {
      if (trimmed[i].start < trimmed[i - 1].end) throw invalidArgument(op, 'IOVA ranges overlap');
    }
    this.ranges = trimmed;
  }

  /** The usable ranges, inclusive ends (as the kernel reports them, trimmed to whole pages). */
  get usableRanges(): IovaRange[] {
    return this.ranges.map((r) => ({ start: r.start, end: r.end - 1n }));
  }

  /** Live allocations, lowest first. */
  get allocations(): IovaAllocation[] {
    return this.live.map((s) => ({ iova: s.start, size: s.end - s.start }));
  }

  get count(): number {
    return this.live.length;
  }

  /** Bytes currently allocated. */
  get allocatedBytes(): bigint {
    return this.live.reduce((n, s) => n + (s.end - s.start), 0n);
  }

  private checkSize(size: bigint, op: string): void {
    if (size <= 0n || size % this.pageSize !== 0n) {
      throw invalidArgument(op, `size ${hex(size)} is not a positive multiple of the IOMMU page size ${hex(this.pageSize)}`);
    }
  }

  private limit(c: IovaConstraint, op: string): bigint {
    if (c.dmaMaskBits === undefined) return U64_END;
    const bits = c.dmaMaskBits;
    if (!Number.isInteger(bits) || bits < 12 || bits > 64) throw invalidArgument(op, `DMA mask of ${bits} bits is not 12–64`);
    return 1n << BigInt(bits);
  }

  /** Index of the first live span whose end lies above `addr` (binary search). */
  private firstEndingAfter(addr: bigint): number {
    let lo = 0;
    let hi = this.live.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.live[mid].end <= addr) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  private insert(s: Span): void {
    this.live.splice(this.firstEndingAfter(s.start), 0, s);
  }

  /** Finds and takes the lowest free, aligned IOVA for `size` bytes. */
  allocate(size: bigint, o: AllocateOptions = {}): bigint {
    // The hot path of every map: checks and the search allocate as few bigints as they can.
    const align = o.align ?? this.pageSize;
    if (size <= 0n || size % this.pageSize !== 0n) this.checkSize(size, `${this.op}.allocate`);
    if (align < this.pageSize || (align & (align - 1n)) !== 0n) {
      throw invalidArgument(`${this.op}.allocate`, `alignment ${hex(align)} is not a power of two of at least the page size ${hex(this.pageSize)}`);
    }
    const limit = o.dmaMaskBits === undefined ? U64_END : this.limit(o, `${this.op}.allocate`);
    const mask = align - 1n;
    for (const r of this.ranges) {
      const rangeEnd = r.end < limit ? r.end : limit;
      const from = r.start > this.floor ? r.start : this.floor;
      let at = (from & mask) === 0n ? from : (from + mask) & ~mask;
      // Walk the gaps between live spans from `at` on; the first that fits wins.
      for (let i = this.firstEndingAfter(at); ; i++) {
        const end = at + size;
        if (end > rangeEnd) break;
        const next = this.live[i];
        if (!next || end <= next.start) {
          this.live.splice(i, 0, { start: at, end });
          return at;
        }
        at = (next.end & mask) === 0n ? next.end : (next.end + mask) & ~mask;
      }
    }
    const op = `${this.op}.allocate`;
    const bits = o.dmaMaskBits === undefined ? '' : ` below 2^${o.dmaMaskBits}`;
    throw new VfioError({
      code: 'ENOSPC', op, message: `${op}: no free IOVA space for ${hex(size)} bytes${bits} (${this.count} mappings hold ${hex(this.allocatedBytes)} bytes)`,
      hint: 'unmap mappings that are no longer needed, map smaller buffers, or relax the DMA mask',
    });
  }

  /** Takes a caller-chosen IOVA: it must lie in a usable range, under the mask, and overlap nothing. */
  reserve(iova: bigint, size: bigint, c: IovaConstraint = {}): void {
    const op = `${this.op}.reserve`;
    this.checkSize(size, op);
    if (iova < 0n || iova % this.pageSize !== 0n) {
      throw invalidArgument(op, `IOVA ${hex(iova)} is not aligned to the IOMMU page size ${hex(this.pageSize)}`);
    }
    const end = iova + size;
    const limit = this.limit(c, op);
    if (end > limit || end > U64_END) {
      throw invalidArgument(op, `[${hex(iova)}, ${hex(end)}) does not fit below the ${c.dmaMaskBits ?? 64}-bit DMA mask`, { code: 'ERANGE' });
    }
    if (!this.ranges.some((r) => iova >= r.start && end <= r.end)) {
      throw invalidArgument(op, `[${hex(iova)}, ${hex(end)}) is not inside one of the IOMMU's IOVA ranges (${describeRanges(this.usableRanges)})`, {
        code: 'ERANGE', hint: 'leave `iova` out to have one allocated, or pick one inside the ranges `iommu.iovaRanges` lists',
      });
    }
    const next = this.live[this.firstEndingAfter(iova)];
    if (next && next.start < end) {
      throw new VfioError({
        code: 'EEXIST', op,
        message: `${op}: [${hex(iova)}, ${hex(end)}) overlaps the mapping at [${hex(next.start)}, ${hex(next.end)})`,
        hint: 'unmap that mapping first, or leave `iova` out to have a free one allocated',
      });
    }
    this.insert({ start: iova, end });
  }

  /** Releases the allocation that starts at `iova`; returns its size. */
  free(iova: bigint): bigint {
    const i = this.firstEndingAfter(iova);
    const s = this.live[i];
    if (!s || s.start !== iova) throw invalidArgument(`${this.op}.free`, `no allocation starts at ${hex(iova)}`);
    this.live.splice(i, 1);
    return s.end - s.start;
  }

  /** True when [iova, iova+size) lies inside one usable range. */
  contains(iova: bigint, size: bigint): boolean {
    return this.ranges.some((r) => iova >= r.start && iova + size <= r.end);
  }
}

export function describeRanges(ranges: readonly IovaRange[]): string {
  return ranges.map((r) => `[${hex(r.start)}-${hex(r.end)}]`).join(' ') || 'none';
}
