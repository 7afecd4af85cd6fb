// One client's session with a device model: every command a PCI device needs, answered in the
// order they arrived (a handler that returns a promise holds the next command back), while
// replies to the server's own DMA_READ/DMA_WRITE are taken at once.
import {
  VFIO_DEVICE_FLAGS_PCI,
  VFIO_DEVICE_FLAGS_RESET,
  VFIO_PCI_CONFIG_REGION_INDEX,
  VFIO_PCI_NUM_IRQS,
  VFIO_PCI_NUM_REGIONS,
  VFIO_REGION_INFO_FLAG_READ,
  VFIO_REGION_INFO_FLAG_WRITE,
} from '../abi';
import { native } from '../addon';
import { VfioError } from '../errors';
import { ConfigSpace } from './config';
import type { Connection, Message } from './connection';
import { DmaWindows, dmaError } from './dma';
import { Irqs } from './irqs';
import type { AccessSize, DeviceBehaviour, DeviceContext, DeviceModel, RegisterValue } from './model';
import * as P from './protocol';

const EINVAL = 22;
const ENOSYS = 38;
const EOPNOTSUPP = 95;
const EIO = 5;
/** How many descriptors one message may bring (the client splits a larger MSI-X SET_IRQS); QEMU's client refuses larger announcements (docs/device-models.md). */
export const MAX_MSG_FDS = 16;

export interface SessionOptions {
  /** How long a DMA_READ/DMA_WRITE may wait for the client's reply. */
  dmaTimeoutMs: number;
}

/** One client's connection state: config space, DMA windows, interrupts, the model's behaviour. @internal */
export class Session {
  private negotiated = false;
  private clientMaxXfer = P.DEFAULT_MAX_DATA_XFER;
  private queue: Promise<void> = Promise.resolve();
  private nextId = 1;
  private readonly waiting = new Map<number, { resolve: (m: Message) => void; reject: (e: Error) => void }>();
  private inAccess = false;
  private ended = false;
  config: ConfigSpace;
  readonly irqs: Irqs;
  readonly dma: DmaWindows;
  readonly behaviour: DeviceBehaviour;

  constructor(
    private readonly conn: Connection,
    private readonly model: DeviceModel,
    private readonly opts: SessionOptions,
  ) {
    this.config = new ConfigSpace(model.description);
    this.irqs = new Irqs(model.description);
    this.dma = new DmaWindows({
      read: (iova, length) => this.dmaMessages(iova, length, undefined),
      write: async (iova, data) => void (await this.dmaMessages(iova, data.length, data)),
    });
    const ctx = {
      irq: (vector = 0) => this.irqs.raise(vector),
      dma: {
        read: (iova: bigint | number, length: number) =>
          this.guarded('dma.read', () => this.dma.read(BigInt(iova), length)),
        write: (iova: bigint | number, data: Uint8Array) =>
          this.guarded('dma.write', () => this.dma.write(BigInt(iova), data)),
      },
    } as DeviceContext;
    Object.defineProperty(ctx, 'busMaster', { get: () => this.config.busMaster, enumerable: true });
    this.behaviour = model.create(ctx);
  }

  /** A DMA started inside a register access would wait for the client, which waits for the access. */
  private guarded<T>(op: string, run: () => Promise<T>): Promise<T> {
    if (this.ended) return Promise.reject(clientGone(op));
    if (this.inAccess) {
      return Promise.reject(
        dmaError(op, 'called inside a register access, whose reply the client waits for', 'EDEADLK'),
      );
    }
    return run();
  }

  onMessage(m: Message): void {
    if (P.isReply(m.header)) return this.onReply(m);
    this.queue = this.queue.then(() => this.handle(m)).catch(() => undefined);
  }

  /** The client went away: release everything it gave, fail what waits on it, reset the model. */
  end(): void {
    this.ended = true;
    for (const w of this.waiting.values()) w.reject(clientGone('dma'));
    this.waiting.clear();
    this.irqs.releaseAll();
    this.dma.clear();
    void Promise.resolve()
      .then(() => this.behaviour.reset?.())
      .catch(() => undefined);
  }

  private onReply(m: Message): void {
    for (const fd of m.fds) native().close(fd);
    const w = this.waiting.get(m.header.id);
    if (!w) return;
    this.waiting.delete(m.header.id);
    w.resolve(m);
  }

  private reply(h: P.Header, payload?: Uint8Array, errno = 0): void {
    if (P.wantsReply(h) || errno !== 0) this.conn.send(P.encodeReply(h, payload, errno));
  }

  private async handle(m: Message): Promise<void> {
    const h = m.header;
    try {
      const expectsFds = h.command === P.Command.DMA_MAP || h.command === P.Command.DEVICE_SET_IRQS;
      if (m.fds.length && !expectsFds) throw new P.ProtocolError(EINVAL, 'descriptors where none belong');
      if (!this.negotiated && h.command !== P.Command.VERSION)
        throw new P.ProtocolError(EINVAL, 'VERSION must come first');
      const payload = await this.dispatch(m);
      this.reply(h, payload);
    } catch (e) {
      for (const fd of m.fds) native().close(fd);
      const errno = e instanceof P.ProtocolError ? e.errno : EIO;
      this.reply(h, undefined, errno);
    }
  }

  private async dispatch(m: Message): Promise<Uint8Array | undefined> {
    const { header: h, payload: p } = m;
    switch (h.command) {
      case P.Command.VERSION:
        return this.version(p);
      case P.Command.DMA_MAP: {
        if (m.fds.length > 1) throw new P.ProtocolError(EINVAL, 'DMA_MAP with more than one descriptor');
        const errno = this.dma.map(P.decodeDmaMap(p), m.fds[0]);
        m.fds.length = 0; // taken
        if (errno) throw new P.ProtocolError(errno, 'DMA_MAP over an existing window');
        return undefined;
      }
      case P.Command.DMA_UNMAP: {
        const u = P.decodeDmaUnmap(p);
        if (u.flags & ~P.DMA_UNMAP_ALL)
          throw new P.ProtocolError(EOPNOTSUPP, 'DMA_UNMAP: dirty bitmaps are not offered');
        this.dma.unmap(u.address, u.size, (u.flags & P.DMA_UNMAP_ALL) !== 0);
        return p;
      }
      case P.Command.DEVICE_GET_INFO:
        P.decodeArgsz(p, 16, 'DEVICE_GET_INFO');
        return P.encodeDeviceInfo(
          VFIO_DEVICE_FLAGS_PCI | VFIO_DEVICE_FLAGS_RESET,
          VFIO_PCI_NUM_REGIONS,
          VFIO_PCI_NUM_IRQS,
        );
      case P.Command.DEVICE_GET_REGION_INFO: {
        const { index } = P.decodeArgsz(p, 32, 'DEVICE_GET_REGION_INFO');
        if (index >= VFIO_PCI_NUM_REGIONS) throw new P.ProtocolError(EINVAL, 'no such region');
        const size = this.regionSize(index);
        const flags = size > 0 ? VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE : 0;
        return P.encodeRegionInfo({ index, flags, size: BigInt(size), offset: 0n });
      }
      case P.Command.DEVICE_GET_IRQ_INFO: {
        const { index } = P.decodeArgsz(p, 16, 'DEVICE_GET_IRQ_INFO');
        if (index >= VFIO_PCI_NUM_IRQS) throw new P.ProtocolError(EINVAL, 'no such interrupt index');
        return P.encodeIrqInfo(index, this.irqs.infoFlags(index), this.irqs.counts[index]);
      }
      case P.Command.DEVICE_SET_IRQS: {
        const s = P.decodeSetIrqs(p);
        const fds = m.fds.splice(0);
        const errno = this.irqs.set(s, fds);
        if (errno) throw new P.ProtocolError(errno, 'DEVICE_SET_IRQS refused');
        return undefined;
      }
      case P.Command.REGION_READ: {
        const a = P.decodeRegionAccess(p, false);
        const data = await this.regionRead(a.region, a.offset, a.count);
        return P.encodeRegionAccess({ ...a, data });
      }
      case P.Command.REGION_WRITE: {
        const a = P.decodeRegionAccess(p, true);
        await this.regionWrite(a.region, a.offset, a.data as Uint8Array);
        return P.encodeRegionAccess({ offset: a.offset, region: a.region, count: a.count });
      }
      case P.Command.DEVICE_RESET:
        if (p.length) throw new P.ProtocolError(EINVAL, 'DEVICE_RESET has no payload');
        this.config = new ConfigSpace(this.model.description);
        this.irqs.releaseAll();
        await this.behaviour.reset?.();
        return undefined;
      case P.Command.DEVICE_GET_REGION_IO_FDS:
      case P.Command.REGION_WRITE_MULTI:
      case P.Command.DEVICE_FEATURE:
      case P.Command.MIG_DATA_READ:
      case P.Command.MIG_DATA_WRITE:
        throw new P.ProtocolError(EOPNOTSUPP, 'not offered by this server');
      default:
        throw new P.ProtocolError(ENOSYS, `unknown command ${h.command}`);
    }
  }

  private version(p: Uint8Array): Uint8Array {
    if (this.negotiated) throw new P.ProtocolError(EINVAL, 'VERSION again');
    const v = P.decodeVersion(p);
    if (v.major !== P.VERSION_MAJOR) throw new P.ProtocolError(EINVAL, `major version ${v.major}`);
    const xfer = v.capabilities.max_data_xfer_size;
    if (typeof xfer === 'number' && Number.isInteger(xfer) && xfer > 0) this.clientMaxXfer = Math.min(xfer, 1 << 24);
    this.negotiated = true;
    return P.encodeVersion({
      major: P.VERSION_MAJOR,
      minor: Math.min(v.minor, P.VERSION_MINOR),
      capabilities: { max_msg_fds: MAX_MSG_FDS, max_data_xfer_size: P.DEFAULT_MAX_DATA_XFER, pgsizes: 4096 },
    });
  }

  private regionSize(index: number): number {
    if (index === VFIO_PCI_CONFIG_REGION_INDEX) return this.config.bytes.length;
    return this.model.description.bars?.find((b) => b.index === index)?.size ?? 0;
  }

  private checkRange(region: number, offset: bigint, count: number): number {
    const size = region < VFIO_PCI_NUM_REGIONS ? this.regionSize(region) : 0;
    if (count === 0 || count > P.DEFAULT_MAX_DATA_XFER || offset + BigInt(count) > BigInt(size)) {
      throw new P.ProtocolError(EINVAL, `region ${region}: [${offset}, +${count}) is outside it`);
    }
    return Number(offset);
  }

  private async regionRead(region: number, offset: bigint, count: number): Promise<Uint8Array> {
    const at = this.checkRange(region, offset, count);
    if (region === VFIO_PCI_CONFIG_REGION_INDEX) return this.config.read(at, count);
    const out = new Uint8Array(count);
    for (const [o, size] of pieces(at, count)) {
      const value = await this.access(() => this.behaviour.read?.(region, o, size) ?? allOnes(size));
      store(out, o - at, size, value as RegisterValue);
    }
    return out;
  }

  private async regionWrite(region: number, offset: bigint, data: Uint8Array): Promise<void> {
    const at = this.checkRange(region, offset, data.length);
    if (region === VFIO_PCI_CONFIG_REGION_INDEX) return this.config.write(at, data);
    for (const [o, size] of pieces(at, data.length)) {
      const value = load(data, o - at, size);
      await this.access(() => this.behaviour.write?.(region, o, size, value));
    }
  }

  private async access<T>(run: () => T): Promise<Awaited<T>> {
    this.inAccess = true;
    let r: T;
    try {
      r = run();
    } catch {
      throw new P.ProtocolError(EIO, 'the model failed the access');
    } finally {
      this.inAccess = false;
    }
    try {
      return await r;
    } catch {
      throw new P.ProtocolError(EIO, 'the model failed the access');
    }
  }

  /** DMA_READ (data undefined) or DMA_WRITE through the socket, in chunks the client takes. */
  private async dmaMessages(iova: bigint, length: number, data: Uint8Array | undefined): Promise<Uint8Array> {
    const out = new Uint8Array(data ? 0 : length);
    for (let done = 0; done < length;) {
      const n = Math.min(this.clientMaxXfer, length - done);
      const address = iova + BigInt(done);
      const command = data ? P.Command.DMA_WRITE : P.Command.DMA_READ;
      const body = data ? P.encodeDmaWrite(address, data.subarray(done, done + n)) : P.encodeDmaRead(address, n);
      const reply = await this.request(command, body);
      if (reply.header.flags & P.FLAG_ERROR) {
        throw dmaError(
          data ? 'dma.write' : 'dma.read',
          `the client refused 0x${address.toString(16)} (errno ${reply.header.error})`,
        );
      }
      if (!data) out.set(P.decodeDmaReadReply(reply.payload, n), done);
      done += n;
    }
    return out;
  }

  private request(command: number, body: Uint8Array): Promise<Message> {
    const id = this.nextId;
    this.nextId = (this.nextId + 1) & 0xffff;
    return new Promise<Message>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        reject(
          new VfioError({
            code: 'ETIMEDOUT',
            op: 'dma',
            message: `dma: no reply from the client in ${this.opts.dmaTimeoutMs} ms`,
          }),
        );
      }, this.opts.dmaTimeoutMs);
      this.waiting.set(id, {
        resolve: (m) => (clearTimeout(timer), resolve(m)),
        reject: (e) => (clearTimeout(timer), reject(e)),
      });
      this.conn.send(P.encodeMessage({ id, command, flags: P.TYPE_COMMAND, error: 0 }, body));
    });
  }
}

/** A DMA the client can no longer answer: it went away (its guest stopped or was killed). */
function clientGone(op: string): VfioError {
  return new VfioError({
    code: 'ECONNRESET',
    op,
    message: `${op}: the client went away`,
    hint: 'the guest that owned the device is gone: end the transfer; the server serves the next client afresh',
  });
}

/** Splits an access into naturally sized pieces a register model understands. */
function pieces(offset: number, count: number): [number, AccessSize][] {
  if (count === 1 || count === 2 || count === 4 || count === 8) return [[offset, count]];
  const out: [number, AccessSize][] = [];
  for (let i = 0; i < count; i++) out.push([offset + i, 1]);
  return out;
}

function allOnes(size: AccessSize): RegisterValue {
  return size === 8 ? 0xffffffffffffffffn : 2 ** (8 * size) - 1;
}

function store(out: Uint8Array, at: number, size: AccessSize, value: RegisterValue): void {
  let v = BigInt.asUintN(64, typeof value === 'bigint' ? value : BigInt(Math.trunc(Number(value))));
  for (let i = 0; i < size; i++, v >>= 8n) out[at + i] = Number(v & 0xffn);
}

function load(data: Uint8Array, at: number, size: AccessSize): RegisterValue {
  let v = 0n;
  for (let i = size - 1; i >= 0; i--) v = (v << 8n) | BigInt(data[at + i]);
  return size === 8 ? v : Number(v);
}
