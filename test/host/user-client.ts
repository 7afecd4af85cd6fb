// A vfio-user client for host tests: speaks the protocol to a server over one end of a
// socketpair, answers the server's DMA_READ/DMA_WRITE from a plain byte array (the "guest
// memory"), and hands each reply to the test.
import * as fs from 'fs';
import { native } from '../../lib/addon';
import { Connection, type Message } from '../../lib/user/connection';
import * as P from '../../lib/user/protocol';

export class TestClient {
  readonly conn: Connection;
  private nextId = 100;
  private readonly replies = new Map<number, (m: Message) => void>();
  readonly unsolicited: Message[] = [];
  closed: Promise<number>;
  /** Guest memory by IOVA, for DMA by messages: base and bytes. */
  memory = { base: 0n, bytes: new Uint8Array(0) };
  dmaRequests = 0;

  constructor(fd: number) {
    let onClosed: (e: number) => void = () => undefined;
    this.closed = new Promise((resolve) => (onClosed = resolve));
    this.conn = new Connection(
      fd,
      {
        message: (m) => this.onMessage(m),
        malformed: () => undefined,
        closed: (e) => onClosed(e),
      },
      { maxMessage: 1 << 21, maxFds: 8 },
    );
  }

  private onMessage(m: Message): void {
    if (P.isReply(m.header)) {
      const r = this.replies.get(m.header.id);
      this.replies.delete(m.header.id);
      if (r) r(m);
      else this.unsolicited.push(m);
      return;
    }
    this.dmaRequests++;
    const v = new DataView(m.payload.buffer, m.payload.byteOffset, m.payload.byteLength);
    const address = v.getBigUint64(0, true);
    const count = Number(v.getBigUint64(8, true));
    const at = Number(address - this.memory.base);
    if (at < 0 || at + count > this.memory.bytes.length) {
      this.conn.send(P.encodeReply(m.header, undefined, 14));
      return;
    }
    if (m.header.command === P.Command.DMA_READ) {
      this.conn.send(P.encodeReply(m.header, P.encodeDmaWrite(address, this.memory.bytes.slice(at, at + count))));
    } else {
      this.memory.bytes.set(m.payload.subarray(16, 16 + count), at);
      this.conn.send(P.encodeReply(m.header, P.encodeDmaRead(address, count)));
    }
  }

  /** Sends a command; resolves to its reply (never, for No_reply: use `post`). */
  call(command: number, payload: Uint8Array = new Uint8Array(0), fds: number[] = [], flags = 0): Promise<Message> {
    const id = this.nextId++;
    return new Promise((resolve) => {
      this.replies.set(id, resolve);
      this.conn.send(P.encodeMessage({ id, command, flags: P.TYPE_COMMAND | flags, error: 0 }, payload), fds);
    });
  }

  /** Sends raw bytes (a malformed message) with an id the reply will carry. */
  raw(bytes: Uint8Array, id: number, fds: number[] = []): Promise<Message> {
    return new Promise((resolve) => {
      this.replies.set(id, resolve);
      this.conn.send(bytes, fds);
    });
  }

  async version(): Promise<Message> {
    const caps = { capabilities: { max_msg_fds: 8, max_data_xfer_size: 4096 } };
    return this.call(P.Command.VERSION, P.encodeVersion({ major: 0, minor: 0, capabilities: caps.capabilities }));
  }

  async read(region: number, offset: number, count: number): Promise<Uint8Array> {
    const r = await this.call(P.Command.REGION_READ, P.encodeRegionAccess({ offset: BigInt(offset), region, count }));
    if (r.header.flags & P.FLAG_ERROR) throw new Error(`REGION_READ error ${r.header.error}`);
    return r.payload.subarray(16);
  }

  async read32(region: number, offset: number): Promise<number> {
    const b = await this.read(region, offset, 4);
    return new DataView(b.buffer, b.byteOffset).getUint32(0, true);
  }

  write(region: number, offset: number, data: Uint8Array, flags = 0): Promise<Message> {
    return this.call(
      P.Command.REGION_WRITE,
      P.encodeRegionAccess({ offset: BigInt(offset), region, count: data.length, data }),
      [],
      flags,
    );
  }

  write32(region: number, offset: number, value: number): Promise<Message> {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setUint32(0, value >>> 0, true);
    return this.write(region, offset, b);
  }

  close(): void {
    this.conn.close(0);
  }
}

export function socketPair(): [number, number] {
  const out = new Int32Array(2);
  if (native().socketpair(native().constants.SOCK_STREAM, out) !== 0) throw new Error('socketpair');
  return [out[0], out[1]];
}

export function dmaMap(
  address: bigint,
  size: bigint,
  offset = 0n,
  flags = P.DMA_READABLE | P.DMA_WRITEABLE,
): Uint8Array {
  const b = new Uint8Array(32);
  const v = new DataView(b.buffer);
  v.setUint32(0, 32, true);
  v.setUint32(4, flags, true);
  v.setBigUint64(8, offset, true);
  v.setBigUint64(16, address, true);
  v.setBigUint64(24, size, true);
  return b;
}

export function setIrqs(flags: number, index: number, start: number, count: number): Uint8Array {
  const b = new Uint8Array(20);
  const v = new DataView(b.buffer);
  v.setUint32(0, 20, true);
  v.setUint32(4, flags, true);
  v.setUint32(8, index, true);
  v.setUint32(12, start, true);
  v.setUint32(16, count, true);
  return b;
}

/** Open descriptors of this process. */
export function openFds(): number {
  return fs.readdirSync('/proc/self/fd').length;
}
