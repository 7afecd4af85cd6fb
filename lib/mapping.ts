// Width-exact access to mapped device memory, with no native call per access.
//
// Exactness (measured, see the notes): a typed-array element load or store is one access of
// exactly that width in every V8 tier; DataView, Buffer accessors and TypedArray.set are not.
// Loads go through Atomics.load, which compiles to a plain load that TurboFan never removes, so a
// read meant to flush posted writes still happens when its value is unused. Stores are plain
// element stores: Atomics.store is a locked xchg, which is not a plain write on uncached MMIO.
import { closedError, invalidArgument } from './errors';
import { MemHandle, Mapped, native } from './native';
import { check } from './errors';

export type MemAttr = 'uc' | 'uc-' | 'wc' | 'wt' | 'wb' | 'wp';
export type EffectiveMemAttr = MemAttr | 'mixed' | 'unknown';

/** Who a mapping belongs to: used for error messages and to unregister on close. */
export interface MappingOwner {
  readonly label: string;                 // device BDF or path
  readonly regionName: string;
  release(m: Mapping): void;
}

const U32_MIN_SIGNED = -0x80000000;
const U64_MIN_SIGNED = -(1n << 63n);
const U64_LIMIT = 1n << 64n;

export class Mapping implements Disposable {
  /** Offset of the first mapped byte within its region. */
  readonly offset: bigint;
  /** Mapped length in bytes (accessors check against it). */
  readonly length: number;
  /** The memory attribute the kernel's page tables actually use, when known (cookies set it). */
  effective: EffectiveMemAttr = 'unknown';

  private readonly u8: Uint8Array;
  private readonly u16: Uint16Array;
  private readonly u32: Uint32Array;
  private readonly u64: BigUint64Array;
  private handle: MemHandle | undefined;
  private readonly owner: MappingOwner;

  /** @internal Created by Region.map() and cookies; `mapped.buffer` may be longer than `length`. */
  constructor(mapped: Mapped, offset: bigint, length: number, owner: MappingOwner) {
    this.offset = offset;
    this.length = length;
    this.owner = owner;
    this.handle = mapped.handle;
    this.u8 = new Uint8Array(mapped.buffer, 0, length);
    this.u16 = new Uint16Array(mapped.buffer, 0, length >>> 1);
    this.u32 = new Uint32Array(mapped.buffer, 0, length >>> 2);
    this.u64 = new BigUint64Array(mapped.buffer, 0, Math.floor(length / 8));
  }

  get closed(): boolean {
    return this.handle === undefined;
  }

  private at(off: number, width: number, op: string): void {
    if (this.handle === undefined) throw closedError(`Mapping.${op}`, `the ${this.owner.regionName} mapping`, this.owner.label);
    if (!Number.isInteger(off) || off < 0 || off + width > this.length) {
      throw invalidArgument(`Mapping.${op}`, `offset ${off} is outside the ${this.length}-byte mapping`, { code: 'ERANGE', device: this.owner.label });
    }
    if ((off & (width - 1)) !== 0) {
      throw invalidArgument(`Mapping.${op}`, `offset 0x${off.toString(16)} is not ${width}-byte aligned`, { device: this.owner.label });
    }
  }

  private value(v: number, bits: number, op: string): void {
    const max = 2 ** bits;
    if (!Number.isInteger(v) || v >= max || v < (bits === 32 ? U32_MIN_SIGNED : -(max / 2))) {
      throw invalidArgument(`Mapping.${op}`, `value ${v} does not fit in ${bits} bits`, { device: this.owner.label });
    }
  }

  read8(off: number): number { this.at(off, 1, 'read8'); return Atomics.load(this.u8, off); }
  read16(off: number): number { this.at(off, 2, 'read16'); return Atomics.load(this.u16, off >>> 1); }
  read32(off: number): number { this.at(off, 4, 'read32'); return Atomics.load(this.u32, off >>> 2); }
  read64(off: number): bigint { this.at(off, 8, 'read64'); return Atomics.load(this.u64, off >>> 3); }

  write8(off: number, v: number): void { this.at(off, 1, 'write8'); this.value(v, 8, 'write8'); this.u8[off] = v; }
  write16(off: number, v: number): void { this.at(off, 2, 'write16'); this.value(v, 16, 'write16'); this.u16[off >>> 1] = v; }
  write32(off: number, v: number): void { this.at(off, 4, 'write32'); this.value(v, 32, 'write32'); this.u32[off >>> 2] = v; }
  write64(off: number, v: bigint): void {
    this.at(off, 8, 'write64');
    if (typeof v !== 'bigint' || v < U64_MIN_SIGNED || v >= U64_LIMIT) {
      throw invalidArgument('Mapping.write64', `value ${String(v)} is not a 64-bit bigint`, { device: this.owner.label });
    }
    this.u64[off >>> 3] = v;
  }

  /**
   * Bulk copy into the mapping. Not width-exact (it is a memmove): meant for write-combining
   * apertures and memory-like BARs, never for registers. Call flush() before ringing a doorbell.
   */
  copyIn(off: number, bytes: Uint8Array): void {
    this.at(off, 1, 'copyIn');
    if (off + bytes.length > this.length) {
      throw invalidArgument('Mapping.copyIn', `${bytes.length} bytes at ${off} run past the ${this.length}-byte mapping`, { code: 'ERANGE', device: this.owner.label });
    }
    this.u8.set(bytes, off);
  }

  /** Bulk copy out of the mapping into a new buffer (not width-exact, see copyIn). */
  copyOut(off: number, n: number): Uint8Array {
    this.at(off, 1, 'copyOut');
    if (!Number.isInteger(n) || n < 0 || off + n > this.length) {
      throw invalidArgument('Mapping.copyOut', `${n} bytes at ${off} run past the ${this.length}-byte mapping`, { code: 'ERANGE', device: this.owner.label });
    }
    return this.u8.slice(off, off + n);
  }

  /** Store fence: orders earlier (write-combined) stores before later ones, e.g. a doorbell. */
  flush(): void {
    if (this.handle === undefined) throw closedError('Mapping.flush', `the ${this.owner.regionName} mapping`, this.owner.label);
    native().store_fence();
  }

  /** Detaches every view, then unmaps. Idempotent. */
  close(): void {
    const h = this.handle;
    if (h === undefined) return;
    this.handle = undefined;
    this.owner.release(this);
    check(native().munmap(h), 'munmap', { device: this.owner.label });
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
