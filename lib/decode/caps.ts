// The capability chain shared by vfio_device_info, vfio_region_info and vfio_iommu_type1_info:
// each cap starts with struct vfio_info_cap_header { u16 id; u16 version; u32 next; }, offsets
// count from the start of the info struct, and 0 ends the chain. The kernel builds the chain, but
// a kernel bug, a canned test buffer or a foreign driver must still never hang or mis-read us.
import { SIZEOF } from '../abi';
import { u16, u32, u64 } from './bytes';
import { DecodeError } from './errors';

/** Bytes of struct vfio_info_cap_header (id u16, version u16, next u32): 8. */
export const CAP_HEADER_SIZE = SIZEOF.vfio_info_cap_header;

/**
 * One raw capability: its header and where its bytes lie in the info buffer. A view, not a copy:
 * decoders read what they need from it at once and copy what they keep (unknownCap()).
 */
export class RawCap {
  constructor(
    /** The info buffer the cap lives in. */
    readonly buf: Uint8Array,
    /** The capability id (its meaning depends on the info struct the chain belongs to). */
    readonly id: number,
    /** The capability's version. */
    readonly version: number,
    /** Offset of the cap within the info struct. */
    readonly offset: number,
    /** The header's `next` field as found. */
    readonly next: number,
    /** Where the cap ends: the next cap in memory, or the end of the data. */
    readonly end: number,
  ) {}

  /** The cap's bytes, header included, as a view of the info buffer. */
  get bytes(): Uint8Array {
    return this.buf.subarray(this.offset, this.end);
  }

  /** The cap's length in bytes, header included. */
  get length(): number {
    return this.end - this.offset;
  }

  /** The u32 `at` bytes into the cap; the caller has checked the cap's size (requireCapSize). */
  u32(at: number, op: string): number {
    return u32(this.buf, this.offset + at, op);
  }

  /** The u64 `at` bytes into the cap; the caller has checked the cap's size. */
  u64(at: number, op: string): bigint {
    return u64(this.buf, this.offset + at, op);
  }
}

/** A cap preserved as found because this package does not know its id. */
export interface UnknownCap {
  /** Discriminant of the cap unions: not one this package decodes. */
  readonly type: 'unknown';
  /** The capability id. */
  readonly id: number;
  /** The capability's version. */
  readonly version: number;
  /** A copy of the cap's bytes, header included. */
  readonly bytes: Uint8Array;
}

/**
 * How many bytes of `buf` hold kernel data: the argsz the kernel reported, bounded by the buffer.
 * When argsz is larger, the kernel wanted a bigger buffer and wrote no caps.
 */
export function dataLimit(buf: Uint8Array, argsz: number): number {
  return Math.min(buf.length, argsz);
}

/**
 * True when the kernel asked for a bigger buffer: for every info struct with caps it reports the
 * size it needs in argsz (and leaves cap_offset 0). Call again with a buffer of `argsz` bytes.
 */
export function needsLargerBuffer(buf: Uint8Array): boolean {
  return buf.length >= 4 && u32(buf, 0, 'argsz') > buf.length;
}

/** The argsz the kernel asked for (the first u32 of every VFIO info struct). */
export function requestedArgsz(buf: Uint8Array): number {
  return u32(buf, 0, 'argsz');
}

/**
 * Walks the chain starting at `first` (0 = no caps). `fixedSize` is sizeof the info struct (no
 * cap may start inside it); `limit` is how many bytes of `buf` are valid. Throws DecodeError on a
 * loop, an offset outside the data, inside the fixed part, or a truncated header. Each cap is
 * passed to `decode` (default: kept raw) and the results come back in chain order.
 * It runs on every info query and chains are short, while each allocation costs about as much
 * as an ioctl in the emulated host: so the common chain, laid out in ascending order, is walked
 * twice with no allocation beyond the result; any other order sorts the offsets once. Either
 * way the cost grows with the chain's length times its logarithm at most, never its square.
 */
export function walkCapChain(buf: Uint8Array, first: number, fixedSize: number, limit: number, op: string): RawCap[];
export function walkCapChain<T>(
  buf: Uint8Array,
  first: number,
  fixedSize: number,
  limit: number,
  op: string,
  decode: (cap: RawCap) => T,
): T[];
export function walkCapChain<T>(
  buf: Uint8Array,
  first: number,
  fixedSize: number,
  limit: number,
  op: string,
  decode?: (cap: RawCap) => T,
): (T | RawCap)[] {
  if (first === 0) return [];
  // Valid cap offsets are distinct values in [fixedSize, limit - header]: a chain with more hops
  // than there are such values must revisit one, i.e. loop.
  const maxHops = Math.max(0, limit - CAP_HEADER_SIZE - fixedSize + 1);
  let count = 0;
  let ascending = true;
  for (let offset = first; offset !== 0; count++) {
    if (count === maxHops || (count > 0 && offset === first)) {
      throw new DecodeError(op, offset, 'capability chain loops back on itself');
    }
    if (offset < fixedSize) {
      throw new DecodeError(op, offset, `capability offset points into the ${fixedSize}-byte fixed part`);
    }
    if (offset + CAP_HEADER_SIZE > limit) {
      throw new DecodeError(op, offset, `capability header does not fit in the ${limit} bytes of data`);
    }
    const next = u32(buf, offset + 4, op);
    if (next !== 0 && next <= offset) ascending = false;
    offset = next;
  }
  // Cap lengths are implicit: a cap runs up to whichever cap starts next in memory. In an
  // ascending chain that is the next cap in the chain; otherwise look it up in the sorted offsets.
  let sorted: Float64Array | undefined;
  if (!ascending) {
    sorted = new Float64Array(count);
    for (let i = 0, at = first; i < count; i++, at = u32(buf, at + 4, op)) sorted[i] = at;
    sorted.sort();
  }
  const out: (T | RawCap)[] = new Array(count);
  for (let i = 0, at = first; i < count; i++) {
    const next = u32(buf, at + 4, op);
    const end = sorted ? nextAbove(sorted, at, limit) : next === 0 ? limit : next;
    const cap = new RawCap(buf, u16(buf, at, op), u16(buf, at + 2, op), at, next, end);
    out[i] = decode ? decode(cap) : cap;
    at = next;
  }
  return out;
}

/** The smallest value in `sorted` above `at`, or `limit` when there is none. */
function nextAbove(sorted: Float64Array, at: number, limit: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid] <= at) lo = mid + 1;
    else hi = mid;
  }
  return lo < sorted.length ? sorted[lo] : limit;
}

/** Throws unless a cap's bytes hold at least `size` bytes (its fixed struct). */
export function requireCapSize(cap: RawCap, size: number, op: string, name: string): void {
  if (cap.length < size) {
    throw new DecodeError(op, cap.offset, `${name} capability is truncated: ${cap.length} of ${size} bytes`);
  }
}

/** Keeps a cap this package does not decode: its id, version and a copy of its bytes. */
export function unknownCap(cap: RawCap): UnknownCap {
  return { type: 'unknown', id: cap.id, version: cap.version, bytes: cap.buf.slice(cap.offset, cap.end) };
}
