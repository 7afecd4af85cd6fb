// An IOVA allocator over the ranges an IOMMU reports: pure (no syscalls), shared by every IOMMU
// backend. Live allocations are kept sorted by address; allocation is first fit from the lowest
// address, so an IOVA freed by unmap is the first one handed out again, and addresses stay low
// (devices with narrow DMA masks, such as edu's 28 bits, keep working as long as possible).
//
// Addresses are JavaScript numbers inside: every map and unmap goes through here, and bigint
// arithmetic allocates on each operation (docs/measurements.md). Numbers are exact below 2^53, so allocate() hands out IOVAs below 2^53
// only (8 PiB: no IOMMU aperture runs out there); reserve() still takes caller-chosen IOVAs
// anywhere up to 2^64, kept in a separate bigint list.
import { IovaRange } from '../decode/iommu';
import { VfioError, invalidArgument } from '../errors';
import { bigIntArg } from '../errors/args';

export { IovaRange };

/** How an {@link IovaAllocator} carves its ranges. */
export interface IovaAllocatorOptions {
  /** The IOMMU's smallest page size: every IOVA and size is a multiple of it. */
  pageSize: bigint;
  /**
   * Lowest address allocate() hands out; default one page, because a bus address of 0 means
   * "no address" to many devices and drivers. reserve() may still place something below it.
   */
  floor?: bigint;
}

/** Limits on where an IOVA may lie, from the device's side. */
export interface IovaConstraint {
  /**
   * How many address bits the device drives (its DMA mask): the whole allocation lies below
   * 2^bits. 28 for edu, 32 for many older devices; default 64.
   */
  dmaMaskBits?: number;
}

/**
 * Options of {@link IovaAllocator.allocate}. A mask narrower than the page size's bits, or an
 * alignment that is not a power of two, throws {@link InvalidArgumentError}.
 */
export interface AllocateOptions extends IovaConstraint {
  /** Alignment of the IOVA, a power of two no smaller than the page size; default the page size. */
  align?: bigint;
}

/** One live allocation. */
export interface IovaAllocation {
  /** First address, page-aligned. */
  readonly iova: bigint;
  /** Bytes, a multiple of the page size. */
  readonly size: bigint;
}

/** [start, end) below 2^53, as numbers. */
interface Span {
  start: number;
  end: number;
}
/** [start, end) reserved by the caller at or above 2^53. */
interface HighSpan {
  start: bigint;
  end: bigint;
}

/** Numbers are exact integers below this; allocate() stays under it. */
const EXACT = 2 ** 53;
const EXACT_BIG = 1n << 53n;
const U64_END = 1n << 64n;

function hex(n: bigint | number): string {
  return `0x${n.toString(16)}`;
}

function isPowerOfTwo(n: bigint): boolean {
  return n > 0n && (n & (n - 1n)) === 0n;
}

/** Rounds up to a power-of-two `a`; exact for numbers below 2^53. */
function alignUp(n: number, a: number): number {
  return Math.ceil(n / a) * a;
}

/**
 * First-fit allocator of I/O virtual addresses over the ranges an IOMMU reports; pure (no
 * syscalls). Every IOMMU context has one; out of space it throws {@link VfioError} `ENOSPC`,
 * and invalid arguments throw {@link InvalidArgumentError}.
 */
export class IovaAllocator {
  /** The IOMMU's smallest page size in bytes: every IOVA and size is a multiple of it. */
  readonly pageSize: bigint;
  /** Usable ranges, exclusive ends, page-trimmed and sorted: the truth for containment. */
  private readonly ranges: readonly HighSpan[];
  /** The same ranges clipped to [floor, 2^53), as numbers: where allocate() searches. */
  private readonly searchable: readonly Span[];
  /**
   * Live allocations below 2^53, sorted: starts[i] and ends[i] bound the i-th. Two arrays of
   * numbers rather than one of {start, end} objects: no allocation, and no write barrier, per map.
   */
  private readonly starts: number[] = [];
  private readonly ends: number[] = [];
  /** Caller-chosen IOVAs at or above 2^53 (rare: only reserve() puts anything here). */
  private readonly high: HighSpan[] = [];
  private readonly op: string;

  /** `ranges` are inclusive, as the kernel reports them; `op` names the caller in errors. */
  constructor(ranges: readonly IovaRange[], o: IovaAllocatorOptions, op = 'IovaAllocator') {
    if (!isPowerOfTwo(o.pageSize) || o.pageSize > 1n << 30n) {
      throw invalidArgument(op, `page size ${hex(o.pageSize)} is not a power of two up to 1 GiB`);
    }
    this.pageSize = o.pageSize;
    this.op = op;
    const mask = o.pageSize - 1n;
    const trimmed: HighSpan[] = [];
    for (const r of ranges) {
      if (r.end < r.start) throw invalidArgument(op, `IOVA range [${hex(r.start)}, ${hex(r.end)}] is empty`);
      // Only whole pages inside the range are usable.
      const start = (r.start + mask) & ~mask;
      const end = (r.end + 1n) & ~mask;
      if (end > start) trimmed.push({ start, end });
    }
    trimmed.sort((a, b) => (a.start < b.start ? -1 : 1));
    for (let i = 1; i < trimmed.length; i++) {
      if (trimmed[i].start < trimmed[i - 1].end) throw invalidArgument(op, 'IOVA ranges overlap');
    }
    this.ranges = trimmed;
    const floor = o.floor ?? o.pageSize;
    this.searchable = trimmed
      .map((r) => ({ start: r.start > floor ? r.start : floor, end: r.end < EXACT_BIG ? r.end : EXACT_BIG }))
      .filter((r) => r.end > r.start)
      .map((r) => ({ start: Number(r.start), end: Number(r.end) }));
  }

  /** The usable ranges, inclusive ends (as the kernel reports them, trimmed to whole pages). */
  get usableRanges(): IovaRange[] {
    return this.ranges.map((r) => ({ start: r.start, end: r.end - 1n }));
  }

  /** Live allocations, lowest first. */
  get allocations(): IovaAllocation[] {
    return [
      ...this.starts.map((start, i) => ({ iova: BigInt(start), size: BigInt(this.ends[i] - start) })),
      ...this.high.map((s) => ({ iova: s.start, size: s.end - s.start })),
    ];
  }

  /** Number of live allocations. */
  get count(): number {
    return this.starts.length + this.high.length;
  }

  /** Bytes currently allocated. */
  get allocatedBytes(): bigint {
    return this.allocations.reduce((n, a) => n + a.size, 0n);
  }

  private sizeError(size: bigint | number, op: string): never {
    throw invalidArgument(
      op,
      `size ${hex(size)} is not a positive multiple of the IOMMU page size ${hex(this.pageSize)}`,
    );
  }

  /** Index of the first live span whose end lies above `addr` (binary search). */
  private firstEndingAfter(addr: number): number {
    let lo = 0;
    let hi = this.ends.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.ends[mid] <= addr) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Finds and takes the lowest free, aligned IOVA for `size` bytes. */
  allocate(size: bigint, o: AllocateOptions = {}): bigint {
    const op = `${this.op}.allocate`;
    if (size <= 0n || size % this.pageSize !== 0n || size >= EXACT_BIG) this.sizeError(size, op);
    const align = o.align ?? this.pageSize;
    if (!isPowerOfTwo(align) || align < this.pageSize || align > 1n << 30n) {
      throw invalidArgument(
        op,
        `alignment ${hex(align)} is not a power of two between the page size ${hex(this.pageSize)} and 1 GiB`,
      );
    }
    dmaMaskLimit(o.dmaMaskBits, op);
    return BigInt(this.take(Number(size), Number(align), o.dmaMaskBits));
  }

  /**
   * @internal allocate() in numbers, for the DMA layer's hot path: `size` a positive multiple
   * of the page size, `align` a power of two from the page size to 1 GiB (the caller checked).
   */
  take(size: number, align: number, dmaMaskBits?: number): number {
    const limit = dmaMaskBits === undefined || dmaMaskBits >= 53 ? EXACT : 2 ** dmaMaskBits;
    const { starts, ends } = this;
    for (let k = 0; k < this.searchable.length; k++) {
      const r = this.searchable[k];
      const rangeEnd = r.end < limit ? r.end : limit;
      let at = alignUp(r.start, align);
      // Walk the gaps between live spans from `at` on; the first that fits wins.
      for (let i = this.firstEndingAfter(at); ; i++) {
        const end = at + size;
        if (end > rangeEnd) break;
        if (i === starts.length) {
          starts.push(at);
          ends.push(end);
          return at;
        }
        if (end <= starts[i]) {
          starts.splice(i, 0, at);
          ends.splice(i, 0, end);
          return at;
        }
        at = alignUp(ends[i], align);
      }
    }
    throw this.noSpace(size, dmaMaskBits);
  }

  /** take()'s error, out of line: its strings would make take() too big for V8 to inline. */
  private noSpace(size: number, dmaMaskBits: number | undefined): VfioError {
    const op = `${this.op}.allocate`;
    const bits = dmaMaskBits === undefined ? '' : ` below 2^${dmaMaskBits}`;
    return new VfioError({
      code: 'ENOSPC',
      op,
      message: `${op}: no free IOVA space for ${hex(size)} bytes${bits} (${this.count} mappings hold ${hex(this.allocatedBytes)} bytes)`,
      hint: 'unmap mappings that are no longer needed, map smaller buffers, or relax the DMA mask',
    });
  }

  /** Takes a caller-chosen IOVA: it must lie in a usable range, under the mask, and overlap nothing. */
  reserve(iovaIn: bigint | number, sizeIn: bigint | number, c: IovaConstraint = {}): void {
    const op = `${this.op}.reserve`;
    const iova = bigIntArg(op, 'iova', iovaIn);
    const size = bigIntArg(op, 'size', sizeIn, { min: 1n });
    if (size <= 0n || size % this.pageSize !== 0n) this.sizeError(size, op);
    if (iova < 0n || iova % this.pageSize !== 0n) {
      throw invalidArgument(op, `IOVA ${hex(iova)} is not aligned to the IOMMU page size ${hex(this.pageSize)}`);
    }
    const end = iova + size;
    if (end > dmaMaskLimit(c.dmaMaskBits, op) || end > U64_END) {
      throw invalidArgument(
        op,
        `[${hex(iova)}, ${hex(end)}) does not fit below the ${c.dmaMaskBits ?? 64}-bit DMA mask`,
        { code: 'ERANGE' },
      );
    }
    if (!this.ranges.some((r) => iova >= r.start && end <= r.end)) {
      throw invalidArgument(
        op,
        `[${hex(iova)}, ${hex(end)}) is not inside one of the IOMMU's IOVA ranges (${describeRanges(this.usableRanges)})`,
        {
          code: 'ERANGE',
          hint: 'leave `iova` out to have one allocated, or pick one inside the ranges `iommu.iovaRanges` lists',
        },
      );
    }
    if (iova < EXACT_BIG && end > EXACT_BIG) {
      throw invalidArgument(op, `[${hex(iova)}, ${hex(end)}) straddles 2^53: map it as two pieces, one on each side`, {
        code: 'ERANGE',
      });
    }
    const overlap = (s: { start: bigint; end: bigint }) => {
      throw new VfioError({
        code: 'EEXIST',
        op,
        message: `${op}: [${hex(iova)}, ${hex(end)}) overlaps the mapping at [${hex(s.start)}, ${hex(s.end)})`,
        hint: 'unmap that mapping first, or leave `iova` out to have a free one allocated',
      });
    };
    if (iova >= EXACT_BIG) {
      const hit = this.high.find((s) => s.start < end && iova < s.end);
      if (hit) overlap(hit);
      this.high.push({ start: iova, end });
      return;
    }
    const start = Number(iova);
    const i = this.firstEndingAfter(start);
    if (i < this.starts.length && this.starts[i] < Number(end))
      overlap({ start: BigInt(this.starts[i]), end: BigInt(this.ends[i]) });
    this.starts.splice(i, 0, start);
    this.ends.splice(i, 0, Number(end));
  }

  /** Releases the allocation that starts at `iova`; returns its size. */
  free(iova: bigint): bigint {
    if (iova >= EXACT_BIG) {
      const i = this.high.findIndex((s) => s.start === iova);
      if (i < 0) throw invalidArgument(`${this.op}.free`, `no allocation starts at ${hex(iova)}`);
      const [s] = this.high.splice(i, 1);
      return s.end - s.start;
    }
    const i = this.firstEndingAfter(Number(iova));
    const size = this.ends[i] - this.starts[i];
    this.release(iova);
    return BigInt(size);
  }

  /**
   * @internal free() for the DMA layer's hot path: no size computed, no bigint made. Takes the
   * IOVA as a number when below 2^53 (as take() returns it).
   */
  release(iova: bigint | number): void {
    if (typeof iova === 'bigint') {
      if (iova >= EXACT_BIG) {
        this.free(iova);
        return;
      }
      iova = Number(iova);
    }
    const at = iova;
    const i = this.firstEndingAfter(at);
    const { starts, ends } = this;
    if (i === starts.length || starts[i] !== at)
      throw invalidArgument(`${this.op}.free`, `no allocation starts at ${hex(iova)}`);
    if (i === starts.length - 1) {
      starts.pop();
      ends.pop();
    } else {
      starts.splice(i, 1);
      ends.splice(i, 1);
    }
  }

  /** True when [iova, iova+size) lies inside one usable range. */
  contains(iova: bigint, size: bigint): boolean {
    return this.ranges.some((r) => iova >= r.start && iova + size <= r.end);
  }
}

/** 2^bits for a DMA mask of `bits` address bits (2^64 when undefined); throws for nonsense. */
export function dmaMaskLimit(bits: number | undefined, op: string): bigint {
  if (bits === undefined) return U64_END;
  if (!Number.isInteger(bits) || bits < 12 || bits > 64)
    throw invalidArgument(op, `DMA mask of ${bits} bits is not 12–64`);
  return 1n << BigInt(bits);
}

export function describeRanges(ranges: readonly IovaRange[]): string {
  return ranges.map((r) => `[${hex(r.start)}-${hex(r.end)}]`).join(' ') || 'none';
}
