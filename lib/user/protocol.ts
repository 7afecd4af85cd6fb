/**
 * The vfio-user wire format: message header, command numbers and payload encoders and decoders.
 * Decoders throw {@link ProtocolError} on a payload that does not decode.
 * @module
 */
// The vfio-user wire format (QEMU's docs/interop/vfio-user.rst): a 16-byte header, then a
// command-specific payload, host-endian (little-endian on every platform this package builds
// for). Pure: bytes in, typed values out, and back. Nothing here touches a socket. This file
// holds the payload codecs; the header and whole messages are message.ts's, re-exported here so
// the `protocol` namespace stays the one public face of the format.
import {
  VFIO_IRQ_SET_ACTION_TYPE_MASK,
  VFIO_IRQ_SET_DATA_BOOL,
  VFIO_IRQ_SET_DATA_EVENTFD,
  VFIO_IRQ_SET_DATA_NONE,
  VFIO_IRQ_SET_DATA_TYPE_MASK,
} from '../abi';

export {
  Command,
  HEADER_SIZE,
  TYPE_COMMAND,
  TYPE_REPLY,
  FLAG_NO_REPLY,
  FLAG_ERROR,
  messageType,
  isReply,
  wantsReply,
  decodeHeader,
  encodeMessage,
  encodeReply,
  ProtocolError,
} from './message';
export type { Header } from './message';
import { EINVAL, ProtocolError, need, view } from './message';

/** DMA_MAP flag: the device may read the window. */
export const DMA_READABLE = 1 << 0;
/** DMA_MAP flag: the device may write the window. */
export const DMA_WRITEABLE = 1 << 1;
/** DMA_UNMAP flag (the kernel's VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP value): return a dirty bitmap. */
export const DMA_UNMAP_GET_DIRTY_BITMAP = 1 << 0;
/** DMA_UNMAP flag (the kernel's VFIO_DMA_UNMAP_FLAG_ALL value): remove every window; address and size must be 0. */
export const DMA_UNMAP_ALL = 1 << 1;

/** The protocol version this server speaks (the reply never proposes more than the client). */
export const VERSION_MAJOR = 0;
/** The minor protocol version this server speaks (with {@link VERSION_MAJOR}). */
export const VERSION_MINOR = 0;
/** Data per REGION/DMA READ/WRITE when the peer names none (the spec's default). */
export const DEFAULT_MAX_DATA_XFER = 1 << 20;

// ---- VERSION ----
/** A VERSION payload: the version numbers and the JSON capabilities that follow them. */
export interface Version {
  /** Major protocol version (16 bits). */
  major: number;
  /** Minor protocol version (16 bits). */
  minor: number;
  /** The JSON capabilities object, {} when absent. */
  capabilities: Record<string, unknown>;
}

/**
 * Decodes a VERSION payload: two u16 (major, minor), then optional NUL-terminated JSON.
 * @throws {@link ProtocolError} (EINVAL) when shorter than 4 bytes, the text is not JSON, or its
 * `capabilities` is not an object.
 */
export function decodeVersion(p: Uint8Array): Version {
  const v = need(p, 4, 'VERSION');
  let capabilities: Record<string, unknown> = {};
  if (p.length > 4) {
    let text = new TextDecoder('utf-8', { fatal: false }).decode(p.subarray(4));
    const nul = text.indexOf('\0');
    if (nul >= 0) text = text.slice(0, nul);
    if (text.trim() !== '') {
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch {
        throw new ProtocolError(EINVAL, 'VERSION: the version data is not JSON');
      }
      const caps = (parsed as { capabilities?: unknown } | null)?.capabilities;
      if (caps !== undefined && (typeof caps !== 'object' || caps === null)) {
        throw new ProtocolError(EINVAL, 'VERSION: capabilities is not an object');
      }
      capabilities = (caps as Record<string, unknown> | undefined) ?? {};
    }
  }
  return { major: v.getUint16(0, true), minor: v.getUint16(2, true), capabilities };
}

/** Encodes a VERSION payload: major, minor, then `{"capabilities": ...}` as NUL-terminated JSON. */
export function encodeVersion(ver: Version): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify({ capabilities: ver.capabilities }) + '\0');
  const out = new Uint8Array(4 + json.length);
  const v = view(out);
  v.setUint16(0, ver.major, true);
  v.setUint16(2, ver.minor, true);
  out.set(json, 4);
  return out;
}

// ---- DMA_MAP / DMA_UNMAP ----
/** A DMA_MAP request: an IOVA window of guest memory. */
export interface DmaMap {
  /** {@link DMA_READABLE} and/or {@link DMA_WRITEABLE}. */
  flags: number;
  /** Offset into the fd passed with the message at which the window starts (bytes; unused without an fd). */
  offset: bigint;
  /** The window's first IOVA (bytes). */
  address: bigint;
  /** The window's length in bytes (non-zero; address + size does not pass 2^64). */
  size: bigint;
}

/**
 * Decodes a DMA_MAP payload (exactly 32 bytes, argsz 32).
 * @throws {@link ProtocolError} (EINVAL) on a wrong length or argsz, an empty or wrapping window,
 * or flags other than {@link DMA_READABLE} and {@link DMA_WRITEABLE}.
 */
export function decodeDmaMap(p: Uint8Array): DmaMap {
  const v = need(p, 32, 'DMA_MAP', true);
  const argsz = v.getUint32(0, true);
  if (argsz !== 32) throw new ProtocolError(EINVAL, `DMA_MAP: argsz ${argsz}, 32 expected`);
  const m = {
    flags: v.getUint32(4, true),
    offset: v.getBigUint64(8, true),
    address: v.getBigUint64(16, true),
    size: v.getBigUint64(24, true),
  };
  if (m.size === 0n || m.address + m.size > 1n << 64n)
    throw new ProtocolError(EINVAL, 'DMA_MAP: empty or wrapping window');
  if ((m.flags & ~(DMA_READABLE | DMA_WRITEABLE)) !== 0) throw new ProtocolError(EINVAL, 'DMA_MAP: unknown flags');
  return m;
}

/** A DMA_UNMAP request or reply. */
export interface DmaUnmap {
  /** The payload size the sender declares (24 without a dirty bitmap). */
  argsz: number;
  /** {@link DMA_UNMAP_ALL} and/or {@link DMA_UNMAP_GET_DIRTY_BITMAP}. */
  flags: number;
  /** The window's first IOVA (bytes). */
  address: bigint;
  /** The window's length in bytes. */
  size: bigint;
}

/**
 * Decodes a DMA_UNMAP payload (exactly 24 bytes; no dirty bitmap). Flags and range are not
 * checked here: the session decides what they mean.
 * @throws {@link ProtocolError} (EINVAL) on any other length.
 */
export function decodeDmaUnmap(p: Uint8Array): DmaUnmap {
  const v = need(p, 24, 'DMA_UNMAP', true);
  return {
    argsz: v.getUint32(0, true),
    flags: v.getUint32(4, true),
    address: v.getBigUint64(8, true),
    size: v.getBigUint64(16, true),
  };
}

/** Encodes a DMA_UNMAP payload (24 bytes, argsz 24), as its reply carries it. */
export function encodeDmaUnmap(u: Omit<DmaUnmap, 'argsz'>): Uint8Array {
  const out = new Uint8Array(24);
  const v = view(out);
  v.setUint32(0, 24, true);
  v.setUint32(4, u.flags, true);
  v.setBigUint64(8, u.address, true);
  v.setBigUint64(16, u.size, true);
  return out;
}

// ---- DEVICE_GET_INFO / GET_REGION_INFO / GET_IRQ_INFO ----
/**
 * The request's argsz: how much reply payload the client takes, and the index it asks about.
 * @throws {@link ProtocolError} (EINVAL; `what` names the command) when `p` is shorter than `size`.
 */
export function decodeArgsz(
  p: Uint8Array,
  size: number,
  what: string,
): {
  /** Reply payload size the client accepts (bytes). */
  argsz: number;
  /** The region or IRQ index (the u32 at byte 8), 0 when `size` is under 12. */
  index: number;
} {
  const v = need(p, size, what);
  return { argsz: v.getUint32(0, true), index: size >= 12 ? v.getUint32(8, true) : 0 };
}

/** Encodes a DEVICE_GET_INFO reply (16 bytes, argsz 16): VFIO_DEVICE_FLAGS_*, region and IRQ index counts. */
export function encodeDeviceInfo(flags: number, numRegions: number, numIrqs: number): Uint8Array {
  const out = new Uint8Array(16);
  const v = view(out);
  v.setUint32(0, 16, true);
  v.setUint32(4, flags, true);
  v.setUint32(8, numRegions, true);
  v.setUint32(12, numIrqs, true);
  return out;
}

/** A region as DEVICE_GET_REGION_INFO describes it. */
export interface RegionInfo {
  /** Region index (VFIO_PCI_*_REGION_INDEX: BARs 0-5, ROM 6, config 7). */
  index: number;
  /** VFIO_REGION_INFO_FLAG_* (read, write, mmap). */
  flags: number;
  /** Region size in bytes (0 for a region the device lacks). */
  size: bigint;
  /** Offset of the region in the fd returned with the reply, for mmap (bytes). */
  offset: bigint;
}

/** Encodes a DEVICE_GET_REGION_INFO reply (32 bytes, argsz 32, no capability chain). */
export function encodeRegionInfo(r: RegionInfo): Uint8Array {
  const out = new Uint8Array(32);
  const v = view(out);
  v.setUint32(0, 32, true);
  v.setUint32(4, r.flags, true);
  v.setUint32(8, r.index, true);
  v.setUint32(12, 0, true);
  v.setBigUint64(16, r.size, true);
  v.setBigUint64(24, r.offset, true);
  return out;
}

/** Encodes a DEVICE_GET_IRQ_INFO reply (16 bytes, argsz 16): IRQ index, VFIO_IRQ_INFO_* flags, vector count. */
export function encodeIrqInfo(index: number, flags: number, count: number): Uint8Array {
  const out = new Uint8Array(16);
  const v = view(out);
  v.setUint32(0, 16, true);
  v.setUint32(4, flags, true);
  v.setUint32(8, index, true);
  v.setUint32(12, count, true);
  return out;
}

// ---- DEVICE_SET_IRQS ----
/** A DEVICE_SET_IRQS request. */
export interface SetIrqs {
  /** The raw VFIO_IRQ_SET_* flags: one data type and one action. */
  flags: number;
  /** IRQ index (VFIO_PCI_INTX/MSI/MSIX/ERR/REQ_IRQ_INDEX). */
  index: number;
  /** First vector the request applies to. */
  start: number;
  /** Number of vectors from `start` (0 with DATA_NONE and ACTION_TRIGGER disarms the index). */
  count: number;
  /** DATA_BOOL: one byte per vector. */
  bools?: Uint8Array;
  /** The data type: none, one byte per vector, or one eventfd per vector (passed with the message). */
  data: 'none' | 'bool' | 'eventfd';
  /** The action bits of `flags` (VFIO_IRQ_SET_ACTION_MASK, UNMASK or TRIGGER). */
  action: number;
}

/**
 * Decodes a DEVICE_SET_IRQS payload (20 bytes, plus `count` bytes with DATA_BOOL).
 * @throws {@link ProtocolError} (EINVAL) when flags do not name exactly one data type and one
 * action or carry other bits, start + count passes 2^32 - 1, or the length is wrong.
 */
export function decodeSetIrqs(p: Uint8Array): SetIrqs {
  const v = need(p, 20, 'DEVICE_SET_IRQS');
  const flags = v.getUint32(4, true);
  const s: SetIrqs = {
    flags,
    index: v.getUint32(8, true),
    start: v.getUint32(12, true),
    count: v.getUint32(16, true),
    data: 'none',
    action: flags & VFIO_IRQ_SET_ACTION_TYPE_MASK,
  };
  const dataType = flags & VFIO_IRQ_SET_DATA_TYPE_MASK;
  const action = flags & VFIO_IRQ_SET_ACTION_TYPE_MASK;
  const one = (bits: number): boolean => bits !== 0 && (bits & (bits - 1)) === 0;
  if (!one(dataType) || !one(action) || flags & ~(VFIO_IRQ_SET_DATA_TYPE_MASK | VFIO_IRQ_SET_ACTION_TYPE_MASK)) {
    throw new ProtocolError(EINVAL, 'DEVICE_SET_IRQS: flags must name one data type and one action');
  }
  if (s.start + s.count > 0xffffffff) throw new ProtocolError(EINVAL, 'DEVICE_SET_IRQS: start + count wraps');
  if (dataType === VFIO_IRQ_SET_DATA_BOOL) {
    need(p, 20 + s.count, 'DEVICE_SET_IRQS (DATA_BOOL)', true);
    s.data = 'bool';
    s.bools = p.slice(20, 20 + s.count);
  } else {
    need(p, 20, 'DEVICE_SET_IRQS', true);
    s.data = dataType === VFIO_IRQ_SET_DATA_EVENTFD ? 'eventfd' : 'none';
  }
  void VFIO_IRQ_SET_DATA_NONE;
  return s;
}

// ---- REGION_READ / REGION_WRITE ----
/** A REGION_READ or REGION_WRITE request (or its reply). */
export interface RegionAccess {
  /** Byte offset into the region. */
  offset: bigint;
  /** Region index (as in {@link RegionInfo.index}). */
  region: number;
  /** Number of bytes read or written. */
  count: number;
  /** REGION_WRITE: the bytes to write. */
  data?: Uint8Array;
}

/**
 * Decodes a REGION_READ (`write` false: exactly 16 bytes) or REGION_WRITE (16 bytes then exactly
 * `count` data bytes) payload. Range checks against the region are the session's.
 * @throws {@link ProtocolError} (EINVAL) on a wrong length.
 */
export function decodeRegionAccess(p: Uint8Array, write: boolean): RegionAccess {
  const what = write ? 'REGION_WRITE' : 'REGION_READ';
  const v = need(p, 16, what, !write);
  const a: RegionAccess = {
    offset: v.getBigUint64(0, true),
    region: v.getUint32(8, true),
    count: v.getUint32(12, true),
  };
  if (write) {
    need(p, 16 + a.count, what, true);
    a.data = p.slice(16, 16 + a.count);
  }
  return a;
}

/** Encodes a region access: offset, region, count, then `data` if any (a REGION_READ reply carries it). */
export function encodeRegionAccess(a: RegionAccess): Uint8Array {
  const data = a.data ?? new Uint8Array(0);
  const out = new Uint8Array(16 + data.length);
  const v = view(out);
  v.setBigUint64(0, a.offset, true);
  v.setUint32(8, a.region, true);
  v.setUint32(12, a.count, true);
  out.set(data, 16);
  return out;
}

// ---- DMA_READ / DMA_WRITE (server -> client) ----
/** Encodes a DMA_READ request (16 bytes): `count` bytes of guest memory at IOVA `address`. */
export function encodeDmaRead(address: bigint, count: number): Uint8Array {
  const out = new Uint8Array(16);
  const v = view(out);
  v.setBigUint64(0, address, true);
  v.setBigUint64(8, BigInt(count), true);
  return out;
}

/** Encodes a DMA_WRITE request: IOVA `address`, the length of `data`, then `data`. */
export function encodeDmaWrite(address: bigint, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(16 + data.length);
  const v = view(out);
  v.setBigUint64(0, address, true);
  v.setBigUint64(8, BigInt(data.length), true);
  out.set(data, 16);
  return out;
}

/** A DMA_READ reply: the data, which must be the count asked for. */
export function decodeDmaReadReply(p: Uint8Array, count: number): Uint8Array {
  need(p, 16 + count, 'DMA_READ reply', true);
  return p.subarray(16);
}
