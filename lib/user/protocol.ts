// The vfio-user wire format (QEMU's docs/interop/vfio-user.rst): a 16-byte header, then a
// command-specific payload, host-endian (little-endian on every platform this package builds
// for). Pure: bytes in, typed values out, and back. Nothing here touches a socket.
import {
  VFIO_IRQ_SET_ACTION_TYPE_MASK,
  VFIO_IRQ_SET_DATA_BOOL,
  VFIO_IRQ_SET_DATA_EVENTFD,
  VFIO_IRQ_SET_DATA_NONE,
  VFIO_IRQ_SET_DATA_TYPE_MASK,
} from '../abi';

/** Command numbers. */
export const Command = {
  VERSION: 1,
  DMA_MAP: 2,
  DMA_UNMAP: 3,
  DEVICE_GET_INFO: 4,
  DEVICE_GET_REGION_INFO: 5,
  DEVICE_GET_REGION_IO_FDS: 6,
  DEVICE_GET_IRQ_INFO: 7,
  DEVICE_SET_IRQS: 8,
  REGION_READ: 9,
  REGION_WRITE: 10,
  DMA_READ: 11,
  DMA_WRITE: 12,
  DEVICE_RESET: 13,
  REGION_WRITE_MULTI: 15,
  DEVICE_FEATURE: 16,
  MIG_DATA_READ: 17,
  MIG_DATA_WRITE: 18,
} as const;

export const HEADER_SIZE = 16;
/** Flags word: bits 0-3 the type, bit 4 No_reply, bit 5 Error. */
export const TYPE_COMMAND = 0;
export const TYPE_REPLY = 1;
export const FLAG_NO_REPLY = 1 << 4;
export const FLAG_ERROR = 1 << 5;
/** DMA_MAP flags. */
export const DMA_READABLE = 1 << 0;
export const DMA_WRITEABLE = 1 << 1;
/** DMA_UNMAP flags (the kernel's VFIO_DMA_UNMAP_FLAG_* values). */
export const DMA_UNMAP_GET_DIRTY_BITMAP = 1 << 0;
export const DMA_UNMAP_ALL = 1 << 1;

/** The protocol version this server speaks (the reply never proposes more than the client). */
export const VERSION_MAJOR = 0;
export const VERSION_MINOR = 0;
/** Data per REGION/DMA READ/WRITE when the peer names none (the spec's default). */
export const DEFAULT_MAX_DATA_XFER = 1 << 20;

export interface Header {
  id: number;
  command: number;
  /** The whole message's size, header included. */
  size: number;
  flags: number;
  error: number;
}

export const messageType = (h: Header): number => h.flags & 0xf;
export const isReply = (h: Header): boolean => messageType(h) === TYPE_REPLY;
export const wantsReply = (h: Header): boolean => (h.flags & FLAG_NO_REPLY) === 0;

const view = (b: Uint8Array): DataView => new DataView(b.buffer, b.byteOffset, b.byteLength);

/** The header at the start of bytes (which must hold at least HEADER_SIZE of them). */
export function decodeHeader(bytes: Uint8Array): Header {
  const v = view(bytes);
  return {
    id: v.getUint16(0, true),
    command: v.getUint16(2, true),
    size: v.getUint32(4, true),
    flags: v.getUint32(8, true),
    error: v.getUint32(12, true),
  };
}

/** A whole message: the header (its size computed) followed by payload. */
export function encodeMessage(h: Omit<Header, 'size'>, payload: Uint8Array = new Uint8Array(0)): Uint8Array {
  const out = new Uint8Array(HEADER_SIZE + payload.length);
  const v = view(out);
  v.setUint16(0, h.id, true);
  v.setUint16(2, h.command, true);
  v.setUint32(4, out.length, true);
  v.setUint32(8, h.flags >>> 0, true);
  v.setUint32(12, h.error >>> 0, true);
  out.set(payload, HEADER_SIZE);
  return out;
}

/** A reply to `to`: the Reply type, or Error with errno and no payload. */
export function encodeReply(to: Pick<Header, 'id' | 'command'>, payload?: Uint8Array, errno = 0): Uint8Array {
  if (errno !== 0)
    return encodeMessage({ id: to.id, command: to.command, flags: TYPE_REPLY | FLAG_ERROR, error: errno });
  return encodeMessage({ id: to.id, command: to.command, flags: TYPE_REPLY, error: 0 }, payload);
}

/** A payload that does not decode: the errno the error reply carries and why. */
export class ProtocolError extends Error {
  constructor(
    readonly errno: number,
    message: string,
  ) {
    super(message);
    this.name = 'ProtocolError';
  }
}

const EINVAL = 22;
function need(p: Uint8Array, size: number, what: string, exact = false): DataView {
  if (p.length < size || (exact && p.length !== size)) {
    throw new ProtocolError(
      EINVAL,
      `${what}: payload of ${p.length} bytes, ${exact ? '' : 'at least '}${size} expected`,
    );
  }
  return view(p);
}

// ---- VERSION ----
export interface Version {
  major: number;
  minor: number;
  /** The JSON capabilities object, {} when absent. */
  capabilities: Record<string, unknown>;
}

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
export interface DmaMap {
  flags: number;
  offset: bigint;
  address: bigint;
  size: bigint;
}

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

export interface DmaUnmap {
  argsz: number;
  flags: number;
  address: bigint;
  size: bigint;
}

export function decodeDmaUnmap(p: Uint8Array): DmaUnmap {
  const v = need(p, 24, 'DMA_UNMAP', true);
  return {
    argsz: v.getUint32(0, true),
    flags: v.getUint32(4, true),
    address: v.getBigUint64(8, true),
    size: v.getBigUint64(16, true),
  };
}

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
/** The request's argsz: how much reply payload the client takes. */
export function decodeArgsz(p: Uint8Array, size: number, what: string): { argsz: number; index: number } {
  const v = need(p, size, what);
  return { argsz: v.getUint32(0, true), index: size >= 12 ? v.getUint32(8, true) : 0 };
}

export function encodeDeviceInfo(flags: number, numRegions: number, numIrqs: number): Uint8Array {
  const out = new Uint8Array(16);
  const v = view(out);
  v.setUint32(0, 16, true);
  v.setUint32(4, flags, true);
  v.setUint32(8, numRegions, true);
  v.setUint32(12, numIrqs, true);
  return out;
}

export interface RegionInfo {
  index: number;
  flags: number;
  size: bigint;
  offset: bigint;
}

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
export interface SetIrqs {
  flags: number;
  index: number;
  start: number;
  count: number;
  /** DATA_BOOL: one byte per vector. */
  bools?: Uint8Array;
  data: 'none' | 'bool' | 'eventfd';
  action: number;
}

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
export interface RegionAccess {
  offset: bigint;
  region: number;
  count: number;
  /** REGION_WRITE: the bytes to write. */
  data?: Uint8Array;
}

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
export function encodeDmaRead(address: bigint, count: number): Uint8Array {
  const out = new Uint8Array(16);
  const v = view(out);
  v.setBigUint64(0, address, true);
  v.setBigUint64(8, BigInt(count), true);
  return out;
}

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
