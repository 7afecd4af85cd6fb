// Memory a device can reach by DMA once an IOMMU maps it: page-aligned, allocated natively as a
// shared memfd mapping (so a fork() by child_process cannot copy-on-write it away from the
// pages the IOMMU holds), seen from JavaScript only through typed views and width-exact
// accessors. JavaScript never sees an address: the IOMMU backend hands the native handle to
// the kernel, and the device sees the IOVA of a DmaMapping.
import * as fs from 'fs';
import { errnoError, errnoName, invalidArgument, notSupported, throwCloseErrors } from '../errors';
import { boolArg, intArg, optionsArg } from '../errors/args';
import { MemoryLabel, WidthExactMemory } from '../memory/width-exact';
import { Mapped, MemId, U64n, native } from '../addon/native';
import { Invocation, currentInvocation, rootCommand } from '../system/hints';

/** Options of {@link DmaBuffer.allocate}. Invalid values throw {@link InvalidArgumentError}. */
export interface DmaAllocateOptions {
  /**
   * Back the buffer with huge pages (the default huge page size, see /proc/meminfo). They must
   * be reserved beforehand (vm.nr_hugepages); the size is rounded up to whole huge pages.
   */
  hugepages?: boolean;
}

/** The huge page figures of /proc/meminfo. */
export interface HugepageInfo {
  /** Default huge page size in bytes (0 when the kernel has no hugetlb support). */
  readonly size: number;
  /** HugePages_Total: huge pages reserved in the default pool. */
  readonly total: number;
  /** HugePages_Free: reserved huge pages not yet in use. */
  readonly free: number;
}

/** Parses the HugePages_* and Hugepagesize lines of /proc/meminfo. */
export function parseHugepageInfo(meminfo: string): HugepageInfo {
  const field = (name: string): number | undefined => {
    const m = new RegExp(`^${name}:\\s+(\\d+)`, 'm').exec(meminfo);
    return m ? Number(m[1]) : undefined;
  };
  return {
    size: (field('Hugepagesize') ?? 0) * 1024,
    total: field('HugePages_Total') ?? 0,
    free: field('HugePages_Free') ?? 0,
  };
}

function readHugepageInfo(): HugepageInfo {
  try {
    return parseHugepageInfo(fs.readFileSync('/proc/meminfo', 'utf8'));
  } catch {
    return { size: 0, total: 0, free: 0 };
  }
}

function hugepageHint(info: HugepageInfo, length: number, inv: Invocation = currentInvocation()): string {
  const pages = Math.ceil(length / info.size);
  return (
    `${pages} free huge page(s) of ${info.size / 1024} KiB are needed, /proc/meminfo shows ` +
    `HugePages_Total ${info.total}, HugePages_Free ${info.free}: reserve more with ` +
    `\`${rootCommand(inv, `sysctl -w vm.nr_hugepages=${info.total + pages}`)}\` (vm.nr_hugepages in /etc/sysctl.d/ keeps it, ` +
    'hugepages= on the kernel command line reserves them at boot)'
  );
}

/** What buffers and mappings ask of an address space they were mapped in (map.ts: DmaSpace). */
export interface MappingSpace {
  /** The live mappings of `buffer` in this space. */
  mappingsOf(buffer: DmaBuffer): DmaMapping[];
  /** @internal Unmaps one mapping of this space from the IOMMU. */
  unmapOne(m: DmaMapping): void;
  /** @internal Drops a mapping whose unmap failed, keeping its IOVA range reserved. */
  forget(m: DmaMapping): void;
}

/**
 * Page-aligned memory a device can reach once mapped in an IOMMU ({@link DmaBuffer.allocate},
 * then `iommu.map(buffer)` or `dev.dma.map(buffer)`). Read and write it through the typed views
 * (`u8` … `u64`) or the width-exact `readN`/`writeN` (offsets in bytes from its start). close()
 * unmaps every live mapping first, then frees the memory; after close every view and accessor
 * throws {@link ClosedError}.
 */
export class DmaBuffer extends WidthExactMemory implements Disposable {
  /** Whether huge pages back the buffer. */
  readonly hugepages: boolean;
  /**
   * The address spaces this buffer was mapped in (one or two, in practice) and how many of its
   * mappings are live: a map or an unmap only counts, and close() asks the spaces for the
   * mappings. A list of mappings here cost a write barrier and a search per map and unmap.
   */
  private readonly spaces: MappingSpace[] = [];
  private mapCount = 0;

  private constructor(mapped: Mapped, length: number, hugepages: boolean) {
    super(mapped, length);
    this.hugepages = hugepages;
  }

  /**
   * Allocates `size` bytes, rounded up to whole pages (huge pages with `hugepages`), zeroed.
   * Nothing is pinned yet: the IOMMU pins the pages when the buffer is mapped.
   */
  static allocate(sizeIn: number | bigint, oIn: DmaAllocateOptions = {}): DmaBuffer {
    const op = 'DmaBuffer.allocate';
    const o = optionsArg(op, oIn);
    const hugepages = boolArg(op, 'hugepages', o.hugepages, false);
    const size = intArg(op, 'size', sizeIn, { min: 1 });
    let unit = native().constants.PAGE_SIZE;
    const huge = hugepages ? readHugepageInfo() : undefined;
    if (huge) {
      if (huge.size === 0) {
        throw notSupported(op, 'this kernel has no huge page support (no Hugepagesize in /proc/meminfo)', {
          hint: 'allocate without hugepages',
        });
      }
      unit = huge.size;
    }
    const length = Math.ceil(size / unit) * unit;
    const max = native().constants.MAX_MAPPING_LENGTH;
    if (length > max) {
      throw invalidArgument(op, `${length} bytes exceed the largest DMA buffer (${max} bytes)`, {
        code: 'ERANGE',
        hint: 'allocate several smaller buffers and map each',
      });
    }
    const r = native().dma_alloc(length, hugepages);
    if (typeof r === 'number') {
      const code = errnoName(-r);
      // hugetlbfs reports a shortage as ENOSPC (fallocate) or ENOMEM (mmap reservation).
      const short = huge && (code === 'ENOMEM' || code === 'ENOSPC');
      throw errnoError(-r, 'dma_alloc', {
        detail: `${length} bytes${hugepages ? ' of huge pages' : ''}`,
        hint: short ? hugepageHint(huge, length) : undefined,
      });
    }
    return new DmaBuffer(r, length, hugepages);
  }

  protected override label(): MemoryLabel {
    return { prefix: 'DmaBuffer', what: `the ${this.length}-byte DMA buffer`, noun: 'buffer' };
  }

  /** Byte view of the whole buffer (plain memory: bulk operations such as set/fill are fine). */
  get u8(): Uint8Array {
    this.live('u8');
    return this.v8;
  }
  /** 16-bit view of the whole buffer (host byte order, little-endian on the supported machines). */
  get u16(): Uint16Array {
    this.live('u16');
    return this.v16;
  }
  /** 32-bit view of the whole buffer (host byte order). */
  get u32(): Uint32Array {
    this.live('u32');
    return this.v32;
  }
  /** 64-bit view of the whole buffer (host byte order), as bigints. */
  get u64(): BigUint64Array {
    this.live('u64');
    return this.v64;
  }

  /** Live IOMMU mappings of this buffer, in no particular order. */
  get mappings(): DmaMapping[] {
    return this.mapCount === 0 ? [] : this.spaces.flatMap((s) => s.mappingsOf(this));
  }

  /** @internal The mapping id an IOMMU backend maps; the closed error once closed. */
  memId(op: string): MemId {
    this.live(op);
    return this.id;
  }

  /** @internal A space mapped this buffer: counted, and the space kept so close() can unmap first. */
  attach(space: MappingSpace): void {
    this.mapCount++;
    const n = this.spaces.length;
    if (n === 0 || (this.spaces[n - 1] !== space && !this.spaces.includes(space))) this.spaces.push(space);
  }
  /** @internal One of this buffer's mappings is gone. */
  detach(): void {
    this.mapCount--;
  }

  /**
   * Unmaps every IOMMU mapping of the buffer (so no device can reach it any more), then
   * detaches the views and frees the memory. Idempotent.
   */
  close(): void {
    const h = this.handle;
    if (h === undefined) return;
    const errors: unknown[] = [];
    for (const m of this.mappings) {
      try {
        m.unmap();
      } catch (e) {
        errors.push(e);
        m.abandon();
      }
    }
    this.release();
    const r = native().dma_free(h);
    if (r < 0) errors.push(errnoError(-r, 'dma_free'));
    if (errors.length === 1) throw errors[0];
    throwCloseErrors('DmaBuffer.close', errors);
  }

  /** `using buf = …`: the same as {@link DmaBuffer.close}. */
  [Symbol.dispose](): void {
    this.close();
  }
}

/** One buffer range mapped at an IOVA in a MappingSpace (created by DmaSpace.map()). */
export class DmaMapping implements Disposable {
  /** Mapped bytes. */
  readonly size: number;
  /** Offset of the mapped part within the buffer. */
  readonly offset: number;
  /** The buffer whose bytes are mapped. */
  readonly buffer: DmaBuffer;
  /** Whether the device may read the buffer through this mapping (DMA to the device). */
  readonly read: boolean;
  /** Whether the device may write the buffer through this mapping (DMA from the device). */
  readonly write: boolean;
  /**
   * @internal The IOVA as the ioctls take it: a number below 2^53 (every allocated IOVA), a
   * bigint above. Making a bigint per mapping cost more than the map ioctl in the emulated host,
   * so `iova` makes it on first read.
   */
  readonly at: U64n;
  /** @internal Index in the space's list of live mappings. */
  slot = -1;
  private space: MappingSpace | undefined;
  private iovaBig: bigint | undefined;

  /** @internal Created by DmaSpace.map(). */
  constructor(
    space: MappingSpace,
    buffer: DmaBuffer,
    at: U64n,
    offset: number,
    size: number,
    read: boolean,
    write: boolean,
  ) {
    this.space = space;
    this.buffer = buffer;
    this.at = at;
    this.offset = offset;
    this.size = size;
    this.read = read;
    this.write = write;
    this.iovaBig = undefined;
  }

  /** The address the device uses for the first mapped byte. */
  get iova(): bigint {
    const at = this.at;
    if (typeof at === 'bigint') return at;
    return (this.iovaBig ??= BigInt(at));
  }

  /** True once unmapped (by unmap(), close(), or its buffer's or space's close). */
  get closed(): boolean {
    return this.space === undefined;
  }

  /** The IOVA of byte `off` of the buffer (which must lie inside this mapping). */
  iovaOf(off: number): bigint {
    if (!Number.isInteger(off) || off < this.offset || off >= this.offset + this.size) {
      throw invalidArgument(
        'DmaMapping.iovaOf',
        `buffer offset ${off} is outside the mapped bytes [${this.offset}, ${this.offset + this.size})`,
        { code: 'ERANGE' },
      );
    }
    return this.iova + BigInt(off - this.offset);
  }

  /** Removes the mapping from the IOMMU: the device can no longer reach the buffer there. Idempotent. */
  unmap(): void {
    const s = this.space;
    if (s === undefined) return;
    s.unmapOne(this);
    this.space = undefined;
  }

  /** @internal Forgets the mapping after an unmap that failed, keeping its IOVA range reserved. */
  abandon(): void {
    this.space?.forget(this);
    this.space = undefined;
  }

  /** The same as {@link DmaMapping.unmap}; the buffer stays allocated. Idempotent. */
  close(): void {
    this.unmap();
  }

  /** `using m = …`: the same as {@link DmaMapping.unmap}. */
  [Symbol.dispose](): void {
    this.unmap();
  }
}
