// A DMA memory pool: one DmaBuffer, one IOMMU mapping, carved into equal aligned blocks that
// know their device addresses. A driver allocates its queues, descriptors and bounce pages here
// instead of mapping a buffer per object: type1 allows 65,535 mappings per container, and a
// map ioctl per I/O would cost more than the I/O itself. alloc() and free() are O(1) and make
// no garbage: the block objects exist from the start and are handed out again.
import { native } from '../addon/native';
import { BusyError, VfioError, closedError, invalidArgument } from '../errors';
import { DmaBuffer, DmaMapping } from './buffer';
import type { DmaMapOptions } from './map';

/** Where a pool maps its memory: a device's IOMMU context (or a DmaSpace, on the host in tests). */
export interface DmaPoolSpace {
  /** Maps the pool's buffer once, at creation. */
  map(buffer: DmaBuffer, o?: DmaMapOptions): DmaMapping;
  /** True without an IOMMU (device addresses are physical, pages not contiguous). */
  readonly unsafe?: boolean;
  /** The address a device uses for `length` bytes at buffer `offset` (IommuContextBase). */
  deviceAddress?(m: DmaMapping, offset?: number, length?: number): bigint;
}

/**
 * A device a pool can belong to (a Device is one): its IOMMU context, and the close hooks that
 * close the pool with the device, in its DMA phase (after bus mastering is off).
 */
export interface DmaPoolOwner {
  /** The device's address, for errors. */
  readonly bdf: string;
  /** Where the pool maps its buffer. */
  readonly iommu: DmaPoolSpace;
  /** Registers the pool to close with the device, in the DMA phase. */
  own(res: { close(): void }, phase: 'dma'): void;
  /** Unregisters a pool that closed by itself. */
  disown(res: { close(): void }, phase: 'dma'): void;
}

/**
 * The shape of a {@link DmaPool}: `blocks` blocks of `blockSize` bytes (positive integers whose
 * product fits in a buffer). Invalid values throw {@link InvalidArgumentError}.
 */
export interface DmaPoolOptions {
  /** Bytes per block. */
  blockSize: number;
  /** Number of blocks. */
  blocks: number;
  /**
   * Alignment of every block (a power of two, in bytes, at most the page size). Default: the
   * block size rounded up to a power of two, capped at the page size.
   */
  align?: number;
  /** The device drives only this many address bits (see DmaMapOptions). */
  dmaMaskBits?: number;
  /** Back the pool with huge pages (see DmaBuffer.allocate). */
  hugepages?: boolean;
  /** Device access, as DmaMapOptions: both by default. */
  read?: boolean;
  /** Whether the device may write the blocks; default true. */
  write?: boolean;
}

/** alloc() found no free block (code ENOBUFS). */
export class DmaPoolExhaustedError extends VfioError {}

/** A block of a pool: its bytes, where it lies in the pool's buffer, and its device address. */
export class DmaBlock {
  /** Index within the pool. */
  readonly index: number;
  /** Byte offset within the pool's buffer (for the buffer's width-exact accessors). */
  readonly offset: number;
  /** Bytes in the block: the pool's block size. */
  readonly size: number;
  /** Device address (IOVA) of the first byte, a number (IOVAs stay below 2^53). */
  readonly iova: number;
  /** Whether the device sees the block as one contiguous range (always, behind an IOMMU). */
  readonly contiguous: boolean;
  /** The block's bytes (a view into the pool's buffer). */
  readonly u8: Uint8Array;
  /** The pool it belongs to. */
  readonly pool: DmaPool;

  /** @internal */
  constructor(
    pool: DmaPool,
    index: number,
    offset: number,
    size: number,
    iova: number,
    contiguous: boolean,
    u8: Uint8Array,
  ) {
    this.pool = pool;
    this.index = index;
    this.offset = offset;
    this.size = size;
    this.iova = iova;
    this.contiguous = contiguous;
    this.u8 = u8;
  }

  /** The device address of byte `off` (0 to size - 1) of the block (page by page without an IOMMU). */
  deviceAddress(off = 0): number {
    if (typeof off !== 'number' || !Number.isInteger(off) || off < 0 || off >= this.size) {
      throw invalidArgument(
        'DmaBlock.deviceAddress',
        `offset ${String(off)} is not an integer inside the ${this.size}-byte block`,
        {
          code: 'ERANGE',
        },
      );
    }
    return this.pool.deviceAddressAt(this.offset + off);
  }

  /** Gives the block back to its pool. */
  free(): void {
    this.pool.free(this);
  }
}

const isPow2 = (n: number) => Number.isSafeInteger(n) && n > 0 && (n & (n - 1)) === 0;

/**
 * Equal, aligned blocks of one DMA buffer mapped once: alloc() and free() in O(1), with no
 * garbage. alloc() throws {@link DmaPoolExhaustedError} (`ENOBUFS`) when every block is out;
 * after close() (its own or its device's) the buffer is unmapped and freed, and alloc() throws
 * {@link ClosedError}.
 */
export class DmaPool implements Disposable {
  /** Bytes per block, as asked. */
  readonly blockSize: number;
  /** Number of blocks. */
  readonly capacity: number;
  /** The memory behind every block: use its width-exact accessors at `block.offset + …`. */
  readonly buffer: DmaBuffer;
  /** The buffer's one IOMMU mapping. */
  readonly mapping: DmaMapping;
  /** Where the buffer is mapped: every device attached to this IOMMU context sees the blocks. */
  readonly space: DmaPoolSpace;
  /** Bytes from one block to the next: the block size rounded up to the alignment. */
  readonly stride: number;
  private readonly page: number;
  /** Device address of each page of the buffer. */
  private readonly pageAddress: Float64Array;
  private readonly blockList: DmaBlock[] = [];
  private readonly freeStack: Int32Array;
  private freeTop: number;
  private readonly used: Uint8Array;
  /** pin() counts per block; `pinned` is their sum. */
  private readonly pins: Uint32Array;
  private pinned = 0;
  private readonly device: DmaPoolOwner | undefined;
  private closedFlag = false;

  private constructor(
    buffer: DmaBuffer,
    mapping: DmaMapping,
    o: DmaPoolOptions,
    stride: number,
    page: number,
    space: DmaPoolSpace,
    device: DmaPoolOwner | undefined,
  ) {
    this.buffer = buffer;
    this.mapping = mapping;
    this.blockSize = o.blockSize;
    this.capacity = o.blocks;
    this.stride = stride;
    this.page = page;
    this.device = device;
    this.space = space;
    const pages = buffer.length / page;
    this.pageAddress = new Float64Array(pages);
    const base = Number(mapping.iova);
    for (let p = 0; p < pages; p++) {
      this.pageAddress[p] =
        space.unsafe && space.deviceAddress ? Number(space.deviceAddress(mapping, p * page, page)) : base + p * page;
    }
    this.freeStack = new Int32Array(o.blocks);
    this.used = new Uint8Array(o.blocks);
    this.pins = new Uint32Array(o.blocks);
    for (let i = 0; i < o.blocks; i++) {
      const off = i * stride;
      let contiguous = true;
      for (let p = Math.floor(off / page) + 1; p * page < off + o.blockSize; p++) {
        if (this.pageAddress[p] !== this.pageAddress[p - 1] + page) contiguous = false;
      }
      this.blockList.push(
        new DmaBlock(
          this,
          i,
          off,
          o.blockSize,
          this.deviceAddressAt(off),
          contiguous,
          buffer.u8.subarray(off, off + o.blockSize),
        ),
      );
      // Handed out lowest first: the stack holds them in reverse.
      this.freeStack[i] = o.blocks - 1 - i;
    }
    this.freeTop = o.blocks;
  }

  /**
   * Allocates and maps the pool in `on`: a Device (the pool then closes with it, before its
   * IOMMU context), or an IOMMU context (close the pool yourself; it reads closed once the
   * context dropped its mappings).
   */
  static create(on: DmaPoolOwner | DmaPoolSpace, o: DmaPoolOptions): DmaPool {
    const op = 'DmaPool.create';
    const page = native().constants.PAGE_SIZE;
    if (on === null || typeof on !== 'object' || !(isDevice(on) || typeof on.map === 'function'))
      throw invalidArgument(op, 'create the pool on a Device or an IOMMU context');
    if (o === null || typeof o !== 'object') throw invalidArgument(op, 'options { blockSize, blocks } are required');
    if (!Number.isSafeInteger(o.blockSize) || o.blockSize <= 0)
      throw invalidArgument(op, `blockSize ${String(o.blockSize)} is not a positive integer`);
    if (!Number.isSafeInteger(o.blocks) || o.blocks <= 0)
      throw invalidArgument(op, `blocks ${String(o.blocks)} is not a positive integer`);
    let align = o.align;
    if (align === undefined) {
      align = 1;
      while (align < o.blockSize && align < page) align *= 2;
    }
    if (!isPow2(align) || align > page)
      throw invalidArgument(op, `align ${String(align)} is not a power of two up to the page size (${page})`);
    const stride = Math.ceil(o.blockSize / align) * align;
    const device = isDevice(on) ? on : undefined;
    const space: DmaPoolSpace = device ? device.iommu : (on as DmaPoolSpace);
    const buffer = DmaBuffer.allocate(stride * o.blocks, { hugepages: o.hugepages });
    let mapping: DmaMapping;
    try {
      mapping = space.map(buffer, { dmaMaskBits: o.dmaMaskBits, read: o.read, write: o.write });
    } catch (e) {
      buffer.close();
      throw e;
    }
    const pool = new DmaPool(buffer, mapping, { ...o, align }, stride, page, space, device);
    device?.own(pool, 'dma');
    return pool;
  }

  /** True after close(), or once its mapping was unmapped (the device closed). */
  get closed(): boolean {
    return this.closedFlag || this.mapping.closed;
  }

  /** Free blocks. */
  get available(): number {
    return this.freeTop;
  }

  /** Every block, free or not, in address order. */
  get blocks(): readonly DmaBlock[] {
    return this.blockList;
  }

  /** A free block (its bytes keep what they held: clear what the device must not see). */
  alloc(): DmaBlock {
    const b = this.tryAlloc();
    if (b === undefined) {
      throw new DmaPoolExhaustedError({
        code: 'ENOBUFS',
        op: 'DmaPool.alloc',
        device: this.device?.bdf,
        message: `DmaPool.alloc: all ${this.capacity} blocks of ${this.blockSize} bytes are in use`,
        hint: 'free blocks once the device is done with them, or create the pool with more blocks',
      });
    }
    return b;
  }

  /** A free block, or undefined when none is left. */
  tryAlloc(): DmaBlock | undefined {
    if (this.closed) throw closedError('DmaPool.alloc', 'the DMA pool', this.device?.bdf);
    if (this.freeTop === 0) return undefined;
    const i = this.freeStack[--this.freeTop];
    this.used[i] = 1;
    return this.blockList[i];
  }

  /**
   * Gives a block back. Freeing a block twice, or one of another pool, is an error; so is freeing
   * a pinned block (EBUSY): a device may still write it.
   */
  free(block: DmaBlock): void {
    const i = this.allocatedIndex('DmaPool.free', block);
    if (this.pins[i] > 0) throw this.busy('DmaPool.free', `block ${i} is pinned: a device may still be using it`);
    this.used[i] = 0;
    this.freeStack[this.freeTop++] = i;
  }

  /**
   * Marks an allocated block as in a device's hands (the data of a command in flight) and returns
   * the function that undoes this pin (once; later calls do nothing). Until every pin of the
   * block is undone, free() refuses it and close() the pool, with EBUSY, so the memory cannot be
   * handed out again or released while the device may still write it. Only the holder of a pin
   * can undo it.
   */
  pin(block: DmaBlock): () => void {
    if (this.closed) throw closedError('DmaPool.pin', 'the DMA pool', this.device?.bdf);
    const i = this.allocatedIndex('DmaPool.pin', block);
    this.pins[i]++;
    this.pinned++;
    let held = true;
    return () => {
      if (!held) return;
      held = false;
      this.pins[i]--;
      this.pinned--;
    };
  }

  /** Whether the block is one of this pool's, allocated now. */
  isAllocated(block: DmaBlock): boolean {
    return this.owns(block) && this.used[block.index] === 1;
  }

  /** Whether a device may be using the block (a pin() not undone yet). */
  isPinned(block: DmaBlock): boolean {
    return this.owns(block) && this.pins[block.index] > 0;
  }

  private owns(block: DmaBlock): boolean {
    return block instanceof DmaBlock && this.blockList[block.index] === block;
  }

  private allocatedIndex(op: string, block: DmaBlock): number {
    if (!this.owns(block)) {
      throw invalidArgument(
        op,
        block instanceof DmaBlock ? 'the block belongs to another pool' : `not a DmaBlock (got ${typeof block})`,
      );
    }
    const i = block.index;
    if (this.used[i] === 0) throw invalidArgument(op, `block ${i} is not allocated (freed twice?)`);
    return i;
  }

  private busy(op: string, message: string): BusyError {
    return new BusyError({
      code: 'EBUSY',
      op,
      device: this.device?.bdf,
      message: `${op}: ${message}`,
      hint: 'wait until the command or transfer that uses the memory has settled',
    });
  }

  /** The device address of byte `off` of the pool's buffer. */
  deviceAddressAt(off: number): number {
    const p = typeof off === 'number' && Number.isInteger(off) ? Math.floor(off / this.page) : NaN;
    if (!(p >= 0 && p < this.pageAddress.length)) {
      throw invalidArgument(
        'DmaPool.deviceAddressAt',
        `offset ${String(off)} is not an integer inside the ${this.buffer.length}-byte pool`,
        { code: 'ERANGE' },
      );
    }
    return this.pageAddress[p] + (off - p * this.page);
  }

  /**
   * Unmaps the pool and frees its memory; every block is gone. Idempotent. Refused (EBUSY) while
   * a block is pinned and the mapping is still live: once the device closed (bus mastering off,
   * mappings gone) the pins no longer matter.
   */
  close(): void {
    if (this.closedFlag) return;
    if (this.pinned > 0 && !this.mapping.closed)
      throw this.busy('DmaPool.close', `${this.pinned} pin(s) on its blocks: a device may still be using them`);
    this.closedFlag = true;
    this.device?.disown(this, 'dma');
    this.freeTop = 0;
    this.buffer.close();
  }

  /** `using pool = …`: the same as {@link DmaPool.close}. */
  [Symbol.dispose](): void {
    this.close();
  }
}

function isDevice(on: DmaPoolOwner | DmaPoolSpace): on is DmaPoolOwner {
  return typeof (on as DmaPoolOwner).own === 'function' && (on as DmaPoolOwner).iommu !== undefined;
}
