// Little-endian field access on Uint8Arrays, bounds-checked. Every kernel struct this package
// reads is little-endian on the platforms VFIO runs on that Node supports (x86-64, arm64 LE).
// Reads go byte by byte rather than through a DataView so a subarray's byteOffset needs no care.
import { invalidArgument } from '../errors';
import { describeValue } from '../errors/args';
import { DecodeError } from './errors';

function check(buf: Uint8Array, offset: number, width: number, op: string): void {
  if (!Number.isInteger(offset) || offset < 0 || offset + width > buf.length) {
    throw new DecodeError(op, offset, `${width}-byte read past the end of a ${buf.length}-byte buffer`);
  }
}

/** The unsigned byte at `offset`; {@link DecodeError} (naming `op`) when it lies outside `buf`. */
export function u8(buf: Uint8Array, offset: number, op = 'read'): number {
  check(buf, offset, 1, op);
  return buf[offset];
}

/** The little-endian u16 at `offset`; {@link DecodeError} when it does not fit in `buf`. */
export function u16(buf: Uint8Array, offset: number, op = 'read'): number {
  check(buf, offset, 2, op);
  return buf[offset] | (buf[offset + 1] << 8);
}

/** The little-endian u32 at `offset` (0..2^32-1); {@link DecodeError} when it does not fit in `buf`. */
export function u32(buf: Uint8Array, offset: number, op = 'read'): number {
  check(buf, offset, 4, op);
  // >>> 0 keeps bit 31 from turning the value negative.
  return (buf[offset] | (buf[offset + 1] << 8) | (buf[offset + 2] << 16) | (buf[offset + 3] << 24)) >>> 0;
}

/** The little-endian s32 at `offset`; {@link DecodeError} when it does not fit in `buf`. */
export function i32(buf: Uint8Array, offset: number, op = 'read'): number {
  return u32(buf, offset, op) | 0;
}

/** The little-endian u64 at `offset`, as a bigint; {@link DecodeError} when it does not fit in `buf`. */
export function u64(buf: Uint8Array, offset: number, op = 'read'): bigint {
  check(buf, offset, 8, op);
  const lo = u32(buf, offset, op);
  const hi = u32(buf, offset + 4, op);
  // Each BigInt operation allocates (a runtime call, slow in the emulated host); most u64 fields
  // are zero or fit in 32 bits.
  if (hi === 0) return lo === 0 ? 0n : BigInt(lo);
  return (BigInt(hi) << 32n) | BigInt(lo);
}

/** A copy of [start, end): decoded objects must not alias a buffer the caller may reuse. */
export function copyBytes(buf: Uint8Array, start: number, end: number, op = 'read'): Uint8Array {
  check(buf, start, end - start, op);
  return new Uint8Array(buf.subarray(start, end));
}

// Writers, for the few payloads this package builds (feature SET data). Callers size the buffer.

/** Writes `value` (taken modulo 2^32) little-endian at `offset`; {@link DecodeError} when it does not fit. */
export function putU32(buf: Uint8Array, offset: number, value: number, op = 'write'): void {
  check(buf, offset, 4, op);
  const v = value >>> 0;
  buf[offset] = v & 0xff;
  buf[offset + 1] = (v >>> 8) & 0xff;
  buf[offset + 2] = (v >>> 16) & 0xff;
  buf[offset + 3] = v >>> 24;
}

/** Writes `value` (taken modulo 2^64) little-endian at `offset`; {@link DecodeError} when it does not fit. */
export function putU64(buf: Uint8Array, offset: number, value: bigint, op = 'write'): void {
  check(buf, offset, 8, op);
  const v = BigInt.asUintN(64, value);
  putU32(buf, offset, Number(v & 0xffffffffn), op);
  putU32(buf, offset + 4, Number(v >> 32n), op);
}

/** 2^64 - 1, the largest u64. */
export const U64_MAX = (1n << 64n) - 1n;

/** Bytes a caller may hand in: any typed array, a DataView, an ArrayBuffer or SharedArrayBuffer. */
export type ByteSource = ArrayBufferView | ArrayBufferLike;

/**
 * The bytes of `src` as a Uint8Array view (no copy). A Uint16Array or a DataView over the same
 * memory must read the same bits as a Uint8Array, never as "nothing": `length` of a wider view
 * counts elements, not bytes. Anything else is an InvalidArgumentError.
 */
export function asBytes(src: ByteSource, op: string): Uint8Array {
  if (src instanceof Uint8Array) return src;
  if (ArrayBuffer.isView(src)) return new Uint8Array(src.buffer, src.byteOffset, src.byteLength);
  if (src instanceof ArrayBuffer || (typeof SharedArrayBuffer !== 'undefined' && src instanceof SharedArrayBuffer)) {
    return new Uint8Array(src);
  }
  throw invalidArgument(op, `expected a typed array, DataView or ArrayBuffer, got ${describeValue(src)}`);
}
