// Width-exact access to native memory (device mmaps and DMA buffers), with no native call per
// access. Mapping and DmaBuffer share it; only their error wording and close steps differ.
//
// Exactness (measured, see the notes): a typed-array element load or store is one access of
// exactly that width in every V8 tier; DataView, Buffer accessors and TypedArray.set are not.
// Loads go through Atomics.load, which compiles to a plain load that TurboFan never removes, so a
// read meant to flush posted writes still happens when its value is unused. Stores are plain
// element stores: Atomics.store is a locked xchg, which is not a plain write on uncached MMIO.
import { closedError, invalidArgument } from './errors';
import { MemHandle, Mapped } from './native';

const U32_MIN_SIGNED = -0x80000000;
const U64_MIN_SIGNED = -(1n << 63n);
const U64_LIMIT = 1n << 64n;

/** How a subclass names itself in errors: 'Mapping', 'the BAR0 mapping', 'mapping', '0000:00:03.0'. */
export interface MemoryLabel {
  readonly prefix: string;
  readonly what: string;
  readonly noun: string;
  readonly device?: string;
}

export abstract class WidthExactMemory {
  /** Accessible length in bytes (accessors check against it). */
  readonly length: number;

  protected readonly v8: Uint8Array;
  protected readonly v16: Uint16Array;
  protected readonly v32: Uint32Array;
  protected readonly v64: BigUint64Array;
  /** The native mapping; undefined once closed. */
  protected handle: MemHandle | undefined;

  /** `mapped.buffer` may be longer than `length` (mappings are whole pages). */
  protected constructor(mapped: Mapped, length: number) {
    this.length = length;
    this.handle = mapped.handle;
    this.v8 = new Uint8Array(mapped.buffer, 0, length);
    this.v16 = new Uint16Array(mapped.buffer, 0, length >>> 1);
    this.v32 = new Uint32Array(mapped.buffer, 0, length >>> 2);
    this.v64 = new BigUint64Array(mapped.buffer, 0, Math.floor(length / 8));
  }

  /** Only called on the error path, so it may build strings. */
  protected abstract label(): MemoryLabel;

  get closed(): boolean {
    return this.handle === undefined;
  }

  /** Throws the closed error when the memory was released. */
  protected live(op: string): MemHandle {
    if (this.handle === undefined) {
      const l = this.label();
      throw closedError(`${l.prefix}.${op}`, l.what, l.device);
    }
    return this.handle;
  }

  private at(off: number, width: number, op: string): void {
    if (this.handle === undefined) this.live(op);
    if (!Number.isInteger(off) || off < 0 || off + width > this.length) {
      const l = this.label();
      throw invalidArgument(`${l.prefix}.${op}`, `offset ${off} is outside the ${this.length}-byte ${l.noun}`, { code: 'ERANGE', device: l.device });
    }
    if ((off & (width - 1)) !== 0) {
      const l = this.label();
      throw invalidArgument(`${l.prefix}.${op}`, `offset 0x${off.toString(16)} is not ${width}-byte aligned`, { device: l.device });
    }
  }

  private value(v: number, bits: number, op: string): void {
    const max = 2 ** bits;
    if (!Number.isInteger(v) || v >= max || v < (bits === 32 ? U32_MIN_SIGNED : -(max / 2))) {
      const l = this.label();
      throw invalidArgument(`${l.prefix}.${op}`, `value ${v} does not fit in ${bits} bits`, { device: l.device });
    }
  }

  read8(off: number): number { this.at(off, 1, 'read8'); return Atomics.load(this.v8, off); }
  read16(off: number): number { this.at(off, 2, 'read16'); return Atomics.load(this.v16, off >>> 1); }
  read32(off: number): number { this.at(off, 4, 'read32'); return Atomics.load(this.v32, off >>> 2); }
  read64(off: number): bigint { this.at(off, 8, 'read64'); return Atomics.load(this.v64, off >>> 3); }

  write8(off: number, v: number): void { this.at(off, 1, 'write8'); this.value(v, 8, 'write8'); this.v8[off] = v; }
  write16(off: number, v: number): void { this.at(off, 2, 'write16'); this.value(v, 16, 'write16'); this.v16[off >>> 1] = v; }
  write32(off: number, v: number): void { this.at(off, 4, 'write32'); this.value(v, 32, 'write32'); this.v32[off >>> 2] = v; }
  write64(off: number, v: bigint): void {
    this.at(off, 8, 'write64');
    if (typeof v !== 'bigint' || v < U64_MIN_SIGNED || v >= U64_LIMIT) {
      const l = this.label();
      throw invalidArgument(`${l.prefix}.write64`, `value ${String(v)} is not a 64-bit bigint`, { device: l.device });
    }
    this.v64[off >>> 3] = v;
  }

  private span(off: number, n: number, op: string): void {
    this.at(off, 1, op);
    if (!Number.isInteger(n) || n < 0 || off + n > this.length) {
      const l = this.label();
      throw invalidArgument(`${l.prefix}.${op}`, `${n} bytes at ${off} run past the ${this.length}-byte ${l.noun}`, { code: 'ERANGE', device: l.device });
    }
  }

  /**
   * Bulk copy in. Not width-exact (it is a memmove): for memory-like BARs, write-combining
   * apertures and DMA buffers, never for registers.
   */
  copyIn(off: number, bytes: Uint8Array): void {
    this.span(off, bytes.length, 'copyIn');
    this.v8.set(bytes, off);
  }

  /** Bulk copy out into a new buffer (not width-exact, see copyIn). */
  copyOut(off: number, n: number): Uint8Array {
    this.span(off, n, 'copyOut');
    return this.v8.slice(off, off + n);
  }
}
