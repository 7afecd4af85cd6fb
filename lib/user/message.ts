// A vfio-user message (QEMU's docs/interop/vfio-user.rst): the command numbers, the 16-byte
// header and its flags, whole messages and replies, and the error a payload that does not decode
// raises. The payload codecs (protocol.ts) build on it. Pure: nothing here touches a socket.
/** Command numbers. */
export const Command = {
  /** Negotiates the protocol version and capabilities; the first message of a connection. */
  VERSION: 1,
  /** The client adds a DMA window (guest memory at an IOVA range), with an fd to map or none. */
  DMA_MAP: 2,
  /** The client removes a DMA window, or all of them with DMA_UNMAP_ALL. */
  DMA_UNMAP: 3,
  /** The client asks for the device flags and its number of regions and IRQ indexes. */
  DEVICE_GET_INFO: 4,
  /** The client asks for one region's size, flags and offset. */
  DEVICE_GET_REGION_INFO: 5,
  /** The client asks for ioeventfd/ioregionfd fds of a region (not offered by this server). */
  DEVICE_GET_REGION_IO_FDS: 6,
  /** The client asks for one IRQ index's flags and vector count. */
  DEVICE_GET_IRQ_INFO: 7,
  /** The client arms, disarms or triggers interrupts (eventfds passed with the message). */
  DEVICE_SET_IRQS: 8,
  /** The client reads bytes from a region (config space or a BAR). */
  REGION_READ: 9,
  /** The client writes bytes to a region (config space or a BAR). */
  REGION_WRITE: 10,
  /** The server reads guest memory through the client (windows mapped without an fd). */
  DMA_READ: 11,
  /** The server writes guest memory through the client (windows mapped without an fd). */
  DMA_WRITE: 12,
  /** The client resets the device. */
  DEVICE_RESET: 13,
  /** The client batches several region writes in one message (not offered by this server). */
  REGION_WRITE_MULTI: 15,
  /** The client gets or sets a device feature (migration and the like; not offered by this server). */
  DEVICE_FEATURE: 16,
  /** The client reads migration data (not offered by this server). */
  MIG_DATA_READ: 17,
  /** The client writes migration data (not offered by this server). */
  MIG_DATA_WRITE: 18,
} as const;

/** Bytes in a message header (id, command, size, flags, error); the payload follows. */
export const HEADER_SIZE = 16;
/** Flags word: bits 0-3 the type, bit 4 No_reply, bit 5 Error. Type 0 is a command. */
export const TYPE_COMMAND = 0;
/** Message type (flags bits 0-3) of a reply. */
export const TYPE_REPLY = 1;
/** Flags bit 4: the sender wants no reply to this command. */
export const FLAG_NO_REPLY = 1 << 4;
/** Flags bit 5: the reply reports a failure; the header's error field holds the errno. */
export const FLAG_ERROR = 1 << 5;

/** A decoded message header. */
export interface Header {
  /** Message id (16 bits), chosen by the sender; a reply carries the id of its command. */
  id: number;
  /** The command number (16 bits), one of {@link Command}. */
  command: number;
  /** The whole message's size, header included. */
  size: number;
  /** The flags word: type in bits 0-3, {@link FLAG_NO_REPLY}, {@link FLAG_ERROR}. */
  flags: number;
  /** An errno (positive) in an error reply, else 0. */
  error: number;
}

/** The message type: flags bits 0-3 ({@link TYPE_COMMAND} or {@link TYPE_REPLY}). */
export const messageType = (h: Header): number => h.flags & 0xf;
/** True when the message is a reply (type {@link TYPE_REPLY}). */
export const isReply = (h: Header): boolean => messageType(h) === TYPE_REPLY;
/** True unless the sender set {@link FLAG_NO_REPLY}. */
export const wantsReply = (h: Header): boolean => (h.flags & FLAG_NO_REPLY) === 0;

/** @internal A DataView over exactly `b`'s bytes. */
export const view = (b: Uint8Array): DataView => new DataView(b.buffer, b.byteOffset, b.byteLength);

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
    /** The errno (positive, EINVAL for a malformed payload) the error reply carries. */
    readonly errno: number,
    message: string,
  ) {
    super(message);
    this.name = 'ProtocolError';
  }
}

/** @internal The errno of a payload that does not decode. */
export const EINVAL = 22;
/** @internal A view of `p`, or a ProtocolError when it is shorter than `size` (or, `exact`, not `size`). */
export function need(p: Uint8Array, size: number, what: string, exact = false): DataView {
  if (p.length < size || (exact && p.length !== size)) {
    throw new ProtocolError(
      EINVAL,
      `${what}: payload of ${p.length} bytes, ${exact ? '' : 'at least '}${size} expected`,
    );
  }
  return view(p);
}
