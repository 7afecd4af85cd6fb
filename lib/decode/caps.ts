// The capability chain shared by vfio_device_info, vfio_region_info and vfio_iommu_type1_info:
// each cap starts with struct vfio_info_cap_header { u16 id; u16 version; u32 next; }, offsets
// count from the start of the info struct, and 0 ends the chain. The kernel builds the chain, but
// a kernel bug, a canned test buffer or a foreign driver must still never hang or mis-read us.
import { u16, u32 } from './bytes';
import { DecodeError } from './errors';

export const CAP_HEADER_SIZE = 8;

/** One raw capability: its header and its bytes (header included). */
export interface RawCap {
  readonly id: number;
  readonly version: number;
  /** Offset of the cap within the info struct. */
  readonly offset: number;
  /** The header's `next` field as found. */
  readonly next: number;
  /** A copy of the cap's bytes, header included, up to the next cap (or the end of the data). */
  readonly bytes: Uint8Array;
}

/** A cap preserved as found because this package does not know its id. */
export interface UnknownCap {
  readonly type: 'unknown';
  readonly id: number;
  readonly version: number;
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

function headerAt(buf: Uint8Array, offset: number, fixedSize: number, limit: number, op: string) {
  if (offset < fixedSize) {
    throw new DecodeError(op, offset, `capability offset points into the ${fixedSize}-byte fixed part`);
  }
  if (offset + CAP_HEADER_SIZE > limit) {
    throw new DecodeError(op, offset, `capability header does not fit in the ${limit} bytes of data`);
  }
  return { id: u16(buf, offset, op), version: u16(buf, offset + 2, op), next: u32(buf, offset + 4, op) };
}

/** The end of the cap at `offset`: the nearest later cap start, else the end of the data. */
function capEnd(offset: number, starts: readonly number[], limit: number): number {
  let end = limit;
  for (let i = 0; i < starts.length; i++) if (starts[i] > offset && starts[i] < end) end = starts[i];
  return end;
}

/**
 * Walks the chain starting at `first` (0 = no caps). `fixedSize` is sizeof the info struct (no
 * cap may start inside it); `limit` is how many bytes of `buf` are valid. Throws DecodeError on a
 * loop, an offset outside the data, inside the fixed part, or a truncated header.
 * Written with plain loops: it runs on every info query, and object spreads and a Set per call
 * cost more than the ioctl itself.
 */
export function walkCapChain(buf: Uint8Array, first: number, fixedSize: number, limit: number,
  op: string): RawCap[] {
  const starts: number[] = [];
  const ids: number[] = [];
  const versions: number[] = [];
  const nexts: number[] = [];
  for (let offset = first; offset !== 0;) {
    // Every valid offset is distinct and in range, so a revisit is the only way to loop.
    if (starts.indexOf(offset) !== -1) throw new DecodeError(op, offset, 'capability chain loops back on itself');
    const h = headerAt(buf, offset, fixedSize, limit, op);
    starts.push(offset);
    ids.push(h.id);
    versions.push(h.version);
    nexts.push(h.next);
    offset = h.next;
  }
  // Cap lengths are implicit: a cap runs up to whichever cap starts next in memory. The bytes
  // are a view of the caller's buffer (info buffers are fresh per query); unknownCap() copies
  // what it keeps.
  const caps: RawCap[] = new Array(starts.length);
  for (let i = 0; i < starts.length; i++) {
    caps[i] = { id: ids[i], version: versions[i], offset: starts[i], next: nexts[i], bytes: buf.subarray(starts[i], capEnd(starts[i], starts, limit)) };
  }
  return caps;
}

/** Throws unless a cap's bytes hold at least `size` bytes (its fixed struct). */
export function requireCapSize(cap: RawCap, size: number, op: string, name: string): void {
  if (cap.bytes.length < size) {
    throw new DecodeError(op, cap.offset, `${name} capability is truncated: ${cap.bytes.length} of ${size} bytes`);
  }
}

export function unknownCap(cap: RawCap): UnknownCap {
  return { type: 'unknown', id: cap.id, version: cap.version, bytes: cap.bytes.slice() };
}
