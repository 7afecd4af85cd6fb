// IOMMU mappings of DMA buffers, independent of the IOMMU backend. A DmaSpace is one IOVA
// address space (a type1 container, an iommufd IOAS): it allocates IOVAs inside the ranges the
// backend reports, calls the backend's map/unmap ioctls, and turns their errno into errors that
// say what to do. The backend is the only part that knows the ioctls.
import { DmaBuffer, DmaMapping, MappingSpace } from './buffer';
import { VfioError, errnoError, errnoName, invalidArgument } from '../errors';
import { currentInvocation, memlockHint, moduleParamCommand } from '../system/hints';
import { bigIntArg, intArg, optionsArg } from '../errors/args';
import { IovaAllocator, IovaConstraint, IovaRange, dmaMaskLimit } from './iova';
import { MemId, U64n, native } from '../addon/native';

/** What an IOMMU backend tells the DMA layer about its address space. */
export interface DmaGeometry {
  /** Usable IOVA ranges, inclusive ends. */
  readonly ranges: readonly IovaRange[];
  /** Supported IOMMU page sizes, one bit per size (bit 12 = 4 KiB). */
  readonly pageSizes: bigint;
}

/**
 * The backend-specific part: a handful of ioctls. Each returns 0 or -errno. Addresses and
 * lengths are numbers while below 2^53 (the allocator's space) and bigints only above.
 */
export interface DmaBackend {
  /** Names the space in errors ('Type1Context'). */
  readonly name: string;
  /** The ioctl names, for errors ('VFIO_IOMMU_MAP_DMA'). */
  readonly mapOp: string;
  readonly unmapOp: string;
  /** Throws (with a hint) when the space cannot map yet, e.g. before the IOMMU is set. */
  geometry(op: string): DmaGeometry;
  map(mem: MemId, offset: number, size: number, iova: U64n, read: boolean, write: boolean): number;
  unmap(iova: U64n, size: number): number;
  /** How many more mappings the kernel accepts, when it says (type1's DMA_AVAIL cap). */
  dmaAvailable(): number | undefined;
}

/**
 * Options of a DMA map (`iommu.map(buffer, options)`, `dev.dma.map`). Sizes and offsets are in
 * bytes; invalid values throw {@link InvalidArgumentError}, an IOVA already in use `EEXIST`.
 */
export interface DmaMapOptions extends IovaConstraint {
  /** Where the device sees the buffer (a number or a bigint); default: the lowest free IOVA that fits (and the DMA mask). */
  iova?: bigint | number;
  /** The device may read the memory (host → device transfers). Default true. */
  read?: boolean;
  /** The device may write the memory (device → host transfers). Default true. */
  write?: boolean;
  /** Map only part of the buffer: byte offset (page-aligned) and length; default all of it. */
  offset?: number | bigint;
  /** Bytes to map from `offset`, a multiple of the page size; default: to the end of the buffer. */
  length?: number | bigint;
}

function hex(n: bigint | number): string {
  return `0x${n.toString(16)}`;
}

/** The default options, shared: a fresh `{}` per map was an allocation on the hot path. */
const NO_OPTIONS: DmaMapOptions = Object.freeze({});

/** The IOMMU page sizes worth aligning IOVAs to, in bytes: from 1 GiB down to the smallest. */
export function alignmentChoices(pageSizes: bigint, minPage: bigint): number[] {
  const out: number[] = [];
  for (let bit = 30; bit >= 0; bit--) {
    const p = 1n << BigInt(bit);
    if (p >= minPage && (pageSizes & p) !== 0n) out.push(2 ** bit);
  }
  if (out.length === 0 || out[out.length - 1] !== Number(minPage)) out.push(Number(minPage));
  return out;
}

/**
 * The largest choice not above `size`: lets the IOMMU map the buffer with superpages. An indexed
 * loop over numbers, because a for-of over {bytes, big} objects costs far more per map
 * (docs/measurements.md).
 */
export function naturalAlignment(size: number, choices: readonly number[]): number {
  const last = choices.length - 1;
  for (let i = 0; i < last; i++) if (choices[i] <= size) return choices[i];
  return choices[last];
}

export class DmaSpace implements MappingSpace {
  private readonly backend: DmaBackend;
  private allocator: IovaAllocator | undefined;
  /** Computed with the allocator: the IOMMU page size as a number, and the alignment choices. */
  private pageBytes = 0;
  private alignments: readonly number[] = [];
  /** The last length mapped, and its natural alignment. */
  private alignedLength = 0;
  private alignment = 0;
  /** Live mappings; each knows its index (`slot`), so removal is a swap with the last: O(1). */
  private readonly live: DmaMapping[] = [];
  /** Bytes mapped here (pinned and charged to RLIMIT_MEMLOCK unless the process has CAP_IPC_LOCK). */
  private pinnedBytes = 0;
  private readonly mapName: string;

  constructor(backend: DmaBackend) {
    this.backend = backend;
    this.mapName = `${backend.name}.map`;
  }

  /**
   * The allocator, created from the backend's geometry on first use (it does not change). The
   * creation is out of line, as are take()'s error and the ioctl wrappers' general paths: V8
   * inlines into map() only within a bytecode budget, and with them inline the map ioctl's
   * wrapper is left out (docs/measurements.md).
   */
  iova(op: string): IovaAllocator {
    return this.allocator ?? this.createAllocator(op);
  }

  private createAllocator(op: string): IovaAllocator {
    const g = this.backend.geometry(op);
    const page = g.pageSizes === 0n ? BigInt(native().constants.PAGE_SIZE) : g.pageSizes & -g.pageSizes;
    const allocator = new IovaAllocator(g.ranges, { pageSize: page }, this.backend.name);
    this.allocator = allocator;
    this.pageBytes = Number(page);
    this.alignments = alignmentChoices(g.pageSizes, page);
    this.alignedLength = 0;
    return allocator;
  }

  /** Live mappings, in no particular order. */
  get mappings(): DmaMapping[] {
    return this.live.slice();
  }

  mappingsOf(buffer: DmaBuffer): DmaMapping[] {
    return this.live.filter((m) => m.buffer === buffer);
  }

  /** Bytes currently mapped through this space. */
  get mappedBytes(): number {
    return this.pinnedBytes;
  }

  map(buffer: DmaBuffer, o: DmaMapOptions = NO_OPTIONS): DmaMapping {
    const op = this.mapName;
    const mem = buffer.memId(op);
    const alloc = this.iova(op);
    const page = this.pageBytes;
    if (o !== NO_OPTIONS) optionsArg(op, o);
    const offset =
      o.offset === undefined ? 0 : typeof o.offset === 'number' ? o.offset : intArg(op, 'offset', o.offset);
    const length =
      o.length === undefined
        ? buffer.length - offset
        : typeof o.length === 'number'
          ? o.length
          : intArg(op, 'length', o.length);
    if (!Number.isSafeInteger(offset) || offset < 0 || offset % page !== 0) {
      throw invalidArgument(op, `offset ${offset} is not a multiple of the IOMMU page size ${hex(page)}`);
    }
    if (!Number.isSafeInteger(length) || length <= 0 || offset + length > buffer.length || length % page !== 0) {
      throw invalidArgument(
        op,
        `${length} bytes at ${offset} are not whole IOMMU pages (${hex(page)}) inside the ${buffer.length}-byte buffer`,
        { code: 'ERANGE' },
      );
    }
    if (o.dmaMaskBits !== undefined) dmaMaskLimit(o.dmaMaskBits, op);
    const read = o.read ?? true;
    const write = o.write ?? true;
    if (!read && !write)
      throw invalidArgument(op, 'a mapping the device can neither read nor write is useless: set read or write');
    let iova: U64n;
    if (o.iova !== undefined) {
      const want = bigIntArg(op, 'iova', o.iova);
      alloc.reserve(want, BigInt(length), o);
      // Below 2^53 the number is exact, and the ioctls take it without a bigint.
      iova = want < 2n ** 53n ? Number(want) : want;
    } else {
      // Drivers map buffers of one size over and over: remember the last size's alignment.
      if (length !== this.alignedLength) {
        this.alignedLength = length;
        this.alignment = naturalAlignment(length, this.alignments);
      }
      iova = alloc.take(length, this.alignment, o.dmaMaskBits);
    }
    const r = this.backend.map(mem, offset, length, iova, read, write);
    if (r < 0) {
      alloc.release(iova);
      throw this.mapError(-r, iova, length);
    }
    const m = new DmaMapping(this, buffer, iova, offset, length, read, write);
    m.slot = this.live.push(m) - 1;
    this.pinnedBytes += length;
    buffer.attach(this);
    return m;
  }

  private mapError(errno: number, iova: U64n, size: number): VfioError {
    const detail = `IOVA ${hex(iova)}, ${hex(size)} bytes`;
    switch (errnoName(errno)) {
      case 'ENOMEM': {
        // type1 and iommufd charge pinned pages to RLIMIT_MEMLOCK (CAP_IPC_LOCK exempts).
        const lim = native().getrlimit(native().constants.RLIMIT_MEMLOCK);
        const cur = typeof lim === 'number' ? undefined : lim[0];
        const hard = typeof lim === 'number' ? undefined : lim[1];
        const finite = cur !== undefined && cur !== (1n << 64n) - 1n;
        return errnoError(errno, this.backend.mapOp, {
          detail,
          hint: finite
            ? memlockHint(cur, BigInt(this.pinnedBytes + size), hard)
            : 'the kernel could not pin or map the memory (RLIMIT_MEMLOCK is unlimited here)',
        });
      }
      case 'ENOSPC': {
        // type1 counts mappings (DMA_AVAIL); a backend without such a count gets no guess.
        const avail = this.backend.dmaAvailable();
        return errnoError(errno, this.backend.mapOp, {
          detail,
          hint:
            avail === undefined
              ? undefined
              : `the IOMMU accepts no more DMA mappings (${this.live.length} live in this ${this.backend.name}; DMA available: ` +
                `${avail}): unmap some, map fewer larger buffers (a DmaPool carves one mapping into blocks), or raise ` +
                `vfio_iommu_type1's dma_entry_limit (65535 by default; read when a container opens): ` +
                moduleParamCommand(currentInvocation(), 'vfio_iommu_type1', 'dma_entry_limit', '262144'),
        });
      }
      case 'EEXIST':
        return errnoError(errno, this.backend.mapOp, {
          detail,
          hint: 'something outside this library mapped that IOVA already',
        });
      default:
        return errnoError(errno, this.backend.mapOp, { detail });
    }
  }

  /** @internal */
  unmapOne(m: DmaMapping): void {
    const r = this.backend.unmap(m.at, m.size);
    if (r < 0) throw errnoError(-r, this.backend.unmapOp, { detail: `IOVA ${hex(m.at)}, ${hex(m.size)} bytes` });
    // A live mapping took its range from the allocator, and dropAll() forgets every mapping
    // before it drops the allocator: the allocator is there whenever a mapping is.
    this.allocator?.release(m.at);
    this.forget(m);
  }

  /** @internal Drops the bookkeeping of a mapping, but not its IOVA range (see abandon()). */
  forget(m: DmaMapping): void {
    const i = m.slot;
    if (this.live[i] !== m) return;
    const last = this.live.pop();
    if (last !== undefined && last !== m) {
      this.live[i] = last;
      last.slot = i;
    }
    this.pinnedBytes -= m.size;
    m.buffer.detach();
  }

  /**
   * The kernel dropped the address space and every mapping in it (type1: the last group left
   * the container): forget them without unmapping, and read the geometry afresh next time.
   */
  dropAll(): void {
    for (const m of this.live.slice()) m.abandon();
    this.allocator = undefined;
  }

  /** Unmaps every mapping (before the space itself goes away); returns what failed. */
  unmapAll(): unknown[] {
    const errors: unknown[] = [];
    for (const m of this.live.slice()) {
      try {
        m.unmap();
      } catch (e) {
        errors.push(e);
        m.abandon();
      }
    }
    return errors;
  }
}
