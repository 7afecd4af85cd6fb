// Width-exact access to native memory (device mmaps and DMA buffers), with no native call per
// access. Mapping and DmaBuffer share it; only their error wording and close steps differ.
//
// Exactness (measured, see the notes): a typed-array element load or store is one access of
// exactly that width in every V8 tier; DataView, Buffer accessors and TypedArray.set are not.
// Stores are plain element stores: Atomics.store is a locked xchg, not a plain write on uncached
// MMIO. Loads are plain element loads whose value is also stored in a field: TurboFan deletes a
// typed-array load whose value is unused, and a read meant to flush posted writes is exactly
// that; the field store makes the value used. (Atomics.load would also do, but it is not inlined
// for non-shared buffers and costs many plain loads: docs/measurements.md.)
//
// The fast path is one combined test per access, against limits computed once; everything that
// builds an error message lives in fail(), off the hot path.
import { closedError, invalidArgument } from '../errors';
import { describeValue } from '../errors/args';
import { MemoryLabel, accessError } from './access-errors';

export type { MemoryLabel };
import { MemHandle, MemId, Mapped } from '../addon/native';
import { acquireFence, releaseFence } from './ordering';
import { Pollable, WaitForOptions, waitFor } from './poll';

const U64_MIN_SIGNED = -(1n << 63n);
const U64_LIMIT = 1n << 64n;

/**
 * The accessors' bounds for `n` accessible bytes: the highest offset each width may read, then
 * each may write (-1: none; n = 0 shuts every fast path).
 */
function limitsFor(n: number, writable: boolean): readonly number[] {
  const r = [n - 1, n - 2, n - 4, n - 8];
  const w = writable && n > 0;
  return [...r, ...r.map((x) => (w ? x : -1))];
}

export abstract class WidthExactMemory implements Pollable {
  /** Accessible length in bytes (accessors check against it); unchanged after close. */
  readonly length: number;
  /** Whether the memory takes writes (a region without the WRITE flag is mapped read-only). */
  readonly writable: boolean;

  protected readonly v8: Uint8Array;
  protected readonly v16: Uint16Array;
  protected readonly v32: Uint32Array;
  protected readonly v64: BigUint64Array;
  /** The native mapping; undefined once closed. */
  protected handle: MemHandle | undefined;
  /** The mapping's id, which the DMA map functions take (meaningless once closed). */
  protected readonly id: MemId;

  /**
   * `mapped.buffer` may be longer than `length` (mappings are whole pages). `writable` false:
   * the memory is mapped without PROT_WRITE, and every write accessor throws instead of faulting.
   */
  protected constructor(mapped: Mapped, length: number, writable = true) {
    this.length = length;
    this.writable = writable;
    this.handle = mapped.handle;
    this.id = mapped.id;
    this.v8 = new Uint8Array(mapped.buffer, 0, length);
    this.v16 = new Uint16Array(mapped.buffer, 0, length >>> 1);
    this.v32 = new Uint32Array(mapped.buffer, 0, length >>> 2);
    this.v64 = new BigUint64Array(mapped.buffer, 0, Math.floor(length / 8));
    // Each limit is written once here (assignLimits() adds the fields), never first to a
    // placeholder and then again: V8 tracks a field written once during construction as
    // constant, and the accessors' fast path is several times slower without that
    // (docs/measurements.md).
    this.assignLimits(length);
  }

  /**
   * Opens (`on`) or shuts every accessor's fast path: shut, each access takes the cold path,
   * where live() names the reason. Subclasses shut it while the memory must not be touched.
   */
  protected setLimits(on: boolean): void {
    this.assignLimits(on && this.handle !== undefined ? this.length : 0);
  }

  /** Sets every accessor's bounds for `n` accessible bytes (the constructor's one write, and setLimits()). */
  private assignLimits(n: number): void {
    const l = limitsFor(n, this.writable);
    this.lim8 = l[0];
    this.lim16 = l[1];
    this.lim32 = l[2];
    this.lim64 = l[3];
    this.wlim8 = l[4];
    this.wlim16 = l[5];
    this.wlim32 = l[6];
    this.wlim64 = l[7];
  }

  /** Only called on the error path, so it may build strings. */
  protected abstract label(): MemoryLabel;

  /** True once the memory was released (`close()` of this object or of its device); every accessor then throws {@link ClosedError}. */
  get closed(): boolean {
    return this.handle === undefined;
  }

  /** Subclasses call this when they give the memory back, before unmapping it. */
  protected release(): MemHandle | undefined {
    const h = this.handle;
    this.handle = undefined;
    this.setLimits(false);
    return h;
  }

  /** Throws the closed error when the memory was released. */
  protected live(op: string): MemHandle {
    if (this.handle === undefined) {
      const l = this.label();
      throw closedError(`${l.prefix}.${op}`, l.what, l.device);
    }
    return this.handle;
  }

  /**
   * Largest valid offset for each width (negative when the memory is shorter than the width).
   * release() sets them to -1, so the one bounds test also catches use after close.
   */
  private lim8!: number;
  private lim16!: number;
  private lim32!: number;
  private lim64!: number;
  /** The same for writes: -1 for read-only memory, so the one test also refuses those. */
  private wlim8!: number;
  private wlim16!: number;
  private wlim32!: number;
  private wlim64!: number;
  /**
   * Every load's value lands here, so no load is ever dead code (see the header comment). Written,
   * never read: protected rather than private, so the compiler's unused check leaves it alone.
   */
  protected sink = 0;

  /** The cold path: live() throws for closed memory; else the typed error of the failed check. */
  private fail(op: string, off: unknown, width: number, v?: unknown, write = false): never {
    this.live(op);
    throw accessError(this.label(), { length: this.length, writable: this.writable }, op, off, width, v, write);
  }

  // The checks are written in the forms TurboFan compiles to a few integer compares; forms such
  // as `(off >>> 0) !== off`, `(off & 3) !== 0` and `(v >>> 0) !== v` mix uint32 and int32 and go
  // through doubles, which is slower (docs/measurements.md).
  // Offsets: `i * 4 === off` with i = off >>> 2 holds exactly for the aligned integers 0 … 2^32-4
  // (fractions, negatives, NaN, strings and misaligned offsets all differ); mappings are at most
  // 4 GiB. Values: an integer that fits the width, signed or unsigned; Math.trunc rejects
  // fractions, NaN and non-numbers (strict inequality), the range test the rest.
  /**
   * Reads 8 bits at byte offset `off` in one CPU load of exactly that width, never split,
   * merged or removed (even when the value is unused). Returns an unsigned number (0 … 2^8-1), little-endian as the CPU
   * reads it.
   * @param off byte offset from the start of the memory: an integer, with
   *   `off + 1 <= length`.
   * @throws {@link InvalidArgumentError} `ERANGE` when `off + 1` passes `length` or `off` is not a
   *   non-negative integer.
   * @throws {@link ClosedError} after `close()` (of this object or of its device): never a fault.
   */
  read8(off: number): number {
    if (typeof off !== 'number') this.fail('read8', off, 1);
    if (off >>> 0 !== off || off > this.lim8) this.fail('read8', off, 1);
    return (this.sink = this.v8[off]);
  }
  /**
   * Reads 16 bits at byte offset `off` in one CPU load of exactly that width, never split,
   * merged or removed (even when the value is unused). Returns an unsigned number (0 … 2^16-1), little-endian as the CPU
   * reads it.
   * @param off byte offset from the start of the memory: an integer, a multiple of 2, with
   *   `off + 2 <= length`.
   * @throws {@link InvalidArgumentError} `ERANGE` when `off + 2` passes `length` or `off` is not a
   *   non-negative integer, `EINVAL` when it is not 2-byte aligned.
   * @throws {@link ClosedError} after `close()` (of this object or of its device): never a fault.
   */
  read16(off: number): number {
    if (typeof off !== 'number') this.fail('read16', off, 2);
    const i = off >>> 1;
    if (i * 2 !== off || off > this.lim16) this.fail('read16', off, 2);
    return (this.sink = this.v16[i]);
  }
  /**
   * Reads 32 bits at byte offset `off` in one CPU load of exactly that width, never split,
   * merged or removed (even when the value is unused). Returns an unsigned number (0 … 2^32-1), little-endian as the CPU
   * reads it.
   * @param off byte offset from the start of the memory: an integer, a multiple of 4, with
   *   `off + 4 <= length`.
   * @throws {@link InvalidArgumentError} `ERANGE` when `off + 4` passes `length` or `off` is not a
   *   non-negative integer, `EINVAL` when it is not 4-byte aligned.
   * @throws {@link ClosedError} after `close()` (of this object or of its device): never a fault.
   */
  read32(off: number): number {
    if (typeof off !== 'number') this.fail('read32', off, 4);
    const i = off >>> 2;
    if (i * 4 !== off || off > this.lim32) this.fail('read32', off, 4);
    // The sink takes the value as an int32: a uint32 above 2^31-1 is not a small integer, and
    // storing it as is would be checked and boxed on every read (docs/measurements.md).
    const v = this.v32[i];
    this.sink = v | 0;
    return v;
  }
  /**
   * Reads 64 bits at byte offset `off` in one CPU load of exactly that width, never split,
   * merged or removed (even when the value is unused). Returns an unsigned bigint (0 … 2^64-1), little-endian as the CPU
   * reads it.
   * @param off byte offset from the start of the memory: an integer, a multiple of 8, with
   *   `off + 8 <= length`.
   * @throws {@link InvalidArgumentError} `ERANGE` when `off + 8` passes `length` or `off` is not a
   *   non-negative integer, `EINVAL` when it is not 8-byte aligned.
   * @throws {@link ClosedError} after `close()` (of this object or of its device): never a fault.
   */
  read64(off: number): bigint {
    if (typeof off !== 'number') this.fail('read64', off, 8);
    const i = off >>> 3;
    if (i * 8 !== off || off > this.lim64) this.fail('read64', off, 8);
    const v = this.v64[i];
    this.sink = Number(v & 0xffn);
    return v;
  }

  /**
   * Writes 8 bits at byte offset `off` in one CPU store of exactly that width, never split or
   * merged (on an uncached mapping the device sees one 8-bit write).
   * @param off byte offset: an integer, with `off + 1 <= length`.
   * @param v an integer in -2^7 … 2^8-1 (negative values are stored as their two's complement).
   * @throws {@link InvalidArgumentError} `ERANGE` when `off + 1` passes `length`; `EINVAL` when
   *   `v` is out of range or not an integer, or the memory is read-only
   *   (`writable` false).
   * @throws {@link ClosedError} after `close()` (of this object or of its device): never a fault,
   *   never a silently dropped write.
   */
  write8(off: number, v: number): void {
    if (typeof off !== 'number') this.fail('write8', off, 1, v, true);
    if (off >>> 0 !== off || off > this.wlim8 || typeof v !== 'number' || Math.trunc(v) !== v || v < -0x80 || v > 0xff)
      this.fail('write8', off, 1, v, true);
    this.v8[off] = v;
  }
  /**
   * Writes 16 bits at byte offset `off` in one CPU store of exactly that width, never split or
   * merged (on an uncached mapping the device sees one 16-bit write).
   * @param off byte offset: an integer, a multiple of 2, with `off + 2 <= length`.
   * @param v an integer in -2^15 … 2^16-1 (negative values are stored as their two's complement).
   * @throws {@link InvalidArgumentError} `ERANGE` when `off + 2` passes `length`; `EINVAL` when
   *   `off` is misaligned, `v` is out of range or not an integer, or the memory is read-only
   *   (`writable` false).
   * @throws {@link ClosedError} after `close()` (of this object or of its device): never a fault,
   *   never a silently dropped write.
   */
  write16(off: number, v: number): void {
    if (typeof off !== 'number') this.fail('write16', off, 2, v, true);
    const i = off >>> 1;
    if (i * 2 !== off || off > this.wlim16 || typeof v !== 'number' || Math.trunc(v) !== v || v < -0x8000 || v > 0xffff)
      this.fail('write16', off, 2, v, true);
    this.v16[i] = v;
  }
  /**
   * Writes 32 bits at byte offset `off` in one CPU store of exactly that width, never split or
   * merged (on an uncached mapping the device sees one 32-bit write).
   * @param off byte offset: an integer, a multiple of 4, with `off + 4 <= length`.
   * @param v an integer in -2^31 … 2^32-1 (negative values are stored as their two's complement).
   * @throws {@link InvalidArgumentError} `ERANGE` when `off + 4` passes `length`; `EINVAL` when
   *   `off` is misaligned, `v` is out of range or not an integer, or the memory is read-only
   *   (`writable` false).
   * @throws {@link ClosedError} after `close()` (of this object or of its device): never a fault,
   *   never a silently dropped write.
   */
  write32(off: number, v: number): void {
    if (typeof off !== 'number') this.fail('write32', off, 4, v, true);
    const i = off >>> 2;
    if (
      i * 4 !== off ||
      off > this.wlim32 ||
      typeof v !== 'number' ||
      Math.trunc(v) !== v ||
      v < -0x80000000 ||
      v > 0xffffffff
    )
      this.fail('write32', off, 4, v, true);
    this.v32[i] = v;
  }
  /**
   * Writes 64 bits at byte offset `off` in one CPU store of exactly that width, never split or
   * merged (on an uncached mapping the device sees one 64-bit write).
   * @param off byte offset: an integer, a multiple of 8, with `off + 8 <= length`.
   * @param v a bigint in -2^63 … 2^64-1 (negative values are stored as their two's complement).
   * @throws {@link InvalidArgumentError} `ERANGE` when `off + 8` passes `length`; `EINVAL` when
   *   `off` is misaligned, `v` is out of range or not a bigint, or the memory is read-only
   *   (`writable` false).
   * @throws {@link ClosedError} after `close()` (of this object or of its device): never a fault,
   *   never a silently dropped write.
   */
  write64(off: number, v: bigint): void {
    if (typeof off !== 'number') this.fail('write64', off, 8, v, true);
    const i = off >>> 3;
    if (i * 8 !== off || off > this.wlim64 || typeof v !== 'bigint' || v < U64_MIN_SIGNED || v >= U64_LIMIT)
      this.fail('write64', off, 8, v, true);
    this.v64[i] = v;
  }

  /**
   * A 64-bit value below 2^53 (an IOVA, a byte count) without a bigint: two 32-bit stores, low
   * half first. Fine for DMA memory the device reads later, and for the 64-bit registers of
   * devices that accept halves (NVMe's ASQ/ACQ, edu's DMA registers); a register that must be
   * written in one access needs write64().
   */
  write64n(off: number, v: number): void {
    if (typeof off !== 'number') this.fail('write64n', off, 8, v, true);
    const i = off >>> 3;
    if (i * 8 !== off || off > this.wlim64 || !Number.isSafeInteger(v) || v < 0) this.fail('write64n', off, 8, v, true);
    const lo = v % 0x100000000;
    this.v32[i * 2] = lo;
    this.v32[i * 2 + 1] = (v - lo) / 0x100000000;
  }

  /** A 64-bit value as two 32-bit halves (two stores, low first; see write64n). */
  write64x2(off: number, low: number, high: number): void {
    if (typeof off !== 'number' || typeof low !== 'number' || typeof high !== 'number')
      this.fail('write64x2', off, 8, typeof low !== 'number' ? low : high, true);
    const i = off >>> 3;
    if (i * 8 !== off || off > this.wlim64 || low >>> 0 !== low || high >>> 0 !== high)
      this.fail('write64x2', off, 8, high >>> 0 !== high ? high : low, true);
    this.v32[i * 2] = low;
    this.v32[i * 2 + 1] = high;
  }

  /**
   * read32, then an acquire: the loads after it see what the device wrote before this word
   * (read a completion's phase tag with it, then the rest of the entry). docs/dma.md "Ordering".
   */
  readAcquire32(off: number): number {
    const v = this.read32(off);
    acquireFence();
    return v;
  }

  /**
   * A release, then write32: the device sees every earlier store to DMA memory before this one
   * (ring a doorbell with it after filling a submission entry). docs/dma.md "Ordering".
   */
  writeRelease32(off: number, v: number): void {
    releaseFence();
    this.write32(off, v);
  }

  /**
   * Polls until `(read(off) & mask) === value`, yielding to the event loop between reads;
   * resolves to the last value read, rejects with TimeoutError at the deadline (poll.ts).
   */
  waitFor(off: number, mask: number, value: number, o: WaitForOptions = {}): Promise<number> {
    const l = this.label();
    return waitFor(this, off, mask, value, o, { op: `${l.prefix}.waitFor`, device: l.device });
  }

  private span(off: number, n: number, op: string): void {
    if (typeof off !== 'number' || off >>> 0 !== off || off > this.lim8) this.fail(op, off, 1);
    if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || off + n > this.length) {
      const l = this.label();
      throw invalidArgument(
        `${l.prefix}.${op}`,
        `${describeValue(n)} bytes at ${off} run past the ${this.length}-byte ${l.noun} (a count from 0 to ${this.length - off})`,
        { code: 'ERANGE', device: l.device },
      );
    }
  }

  /**
   * Bulk copy in. Not width-exact (it is a memmove): for memory-like BARs, write-combining
   * apertures and DMA buffers, never for registers.
   */
  copyIn(off: number, bytes: ArrayBufferView): void {
    if (!this.writable) this.fail('copyIn', off, 1, undefined, true);
    if (!ArrayBuffer.isView(bytes)) {
      const l = this.label();
      throw invalidArgument(
        `${l.prefix}.copyIn`,
        `bytes is ${describeValue(bytes)}: it must be a Uint8Array (or another typed array, copied by bytes)`,
        { device: l.device },
      );
    }
    const src = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.span(off, src.length, 'copyIn');
    this.v8.set(src, off);
  }

  /** Bulk copy out into a new buffer (not width-exact, see copyIn). */
  copyOut(off: number, n: number): Uint8Array {
    this.span(off, n, 'copyOut');
    return this.v8.slice(off, off + n);
  }
}
