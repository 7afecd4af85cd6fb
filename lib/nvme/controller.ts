// NvmeController: the public face of the driver. open() brings a controller up (core.ts); the
// I/O commands here copy data through pages of the controller's DMA pool or point the device at
// the caller's DMA block (data.ts), describe the memory with PRPs (prp.ts), and resolve when
// the completion arrives on the queue (queue.ts).
import { Device, DeviceOpenOptions, DmaBlock } from '../index';
import { checkBlockCount, checkIoOptions, checkLba, checkNsid, checkTransferSize, refuse } from './args';
import { CreateQueueOptions, NvmeCore, NvmeOpenOptions } from './core';
import { checkOpenOptions } from './options';
import { checkDirectBlock, copyFromPages, copyToPages } from './data';
import { IdentifyNamespace } from './identify';
import { blockPrps, buildPrps } from './prp';
import { NvmeQueue } from './queue';

const OPC_FLUSH = 0x00;
const OPC_WRITE = 0x01;
const OPC_READ = 0x02;
const OPC_WRITE_ZEROES = 0x08;
const OPC_DSM = 0x09;
/** Dataset Management attribute: deallocate the ranges. */
const DSM_DEALLOCATE = 1 << 2;
const MAX_DSM_RANGES = 256;

/** Options of {@link NvmeController.open}: the controller's queues and limits, and how to open its device. */
export interface NvmeControllerOptions extends NvmeOpenOptions {
  /** How to open the device when open() is given an address. */
  device?: DeviceOpenOptions;
}

/** Options of one read or write. */
export interface IoOptions {
  /** The I/O queue to submit on. Default: the controller's first queue (created on first use). */
  queue?: NvmeQueue;
}

/** Options of {@link NvmeController.read}. */
export interface ReadOptions extends IoOptions {
  /**
   * Where the bytes go, at its start: a Uint8Array of at least blocks × the block size bytes,
   * reused from read to read so that no data buffer is allocated per command (the bytes are
   * copied in from the controller's pages); or a DmaBlock of a pool created on the controller's
   * device, which the controller writes in place, without a copy (the block stays pinned in its
   * pool until the read is over: see DmaPool.pin). read() resolves to a view of exactly the bytes
   * read. Default: a new Uint8Array per read.
   */
  into?: Uint8Array | DmaBlock;
}

/** Options of {@link NvmeController.write}. */
export interface WriteOptions extends IoOptions {
  /**
   * Logical blocks to write from the start of `data`. Default: all of `data`, which must then be
   * whole blocks. Lets one DmaBlock (or a larger array) carry writes of any size.
   */
  blocks?: number;
}

/** A range of logical blocks. */
export interface LbaRange {
  /** The first logical block address (a safe integer). */
  lba: number;
  /** Number of logical blocks, at least 1. */
  blocks: number;
}

/**
 * An NVMe controller driven from JavaScript through vfio-pci: {@link NvmeController.open} brings
 * it up, then identify data, I/O queues, reads and writes. A failed command rejects with an
 * {@link NvmeError}, one the driver gave up on with an {@link NvmeAbortedError}; after close()
 * every method rejects with a `ClosedError`.
 */
export class NvmeController extends NvmeCore implements AsyncDisposable {
  private defaultQueue: Promise<NvmeQueue> | undefined;
  /** The default queue once created. */
  private defaultQueueReady: NvmeQueue | undefined;

  /**
   * Opens the controller at a PCI address (the device is then opened here and closed with the
   * controller) or on an open Device, and brings it up: disabled, admin queues set, enabled
   * within CAP.TO, identified, I/O queues requested.
   */
  static async open(target: string | Device, o: NvmeControllerOptions = {}): Promise<NvmeController> {
    const owns = typeof target === 'string';
    if (!owns && !(target instanceof Device))
      throw refuse('NvmeController.open', String(target), 'the target must be a PCI address or an open Device');
    // Checked before a device is opened for nothing.
    checkOpenOptions(o, owns ? target : target.bdf);
    const dev = owns ? await Device.open(target, o.device) : target;
    let c: NvmeController | undefined;
    try {
      c = new NvmeController(dev, owns, o);
      await c.start();
      return c;
    } catch (e) {
      if (c) await c.close().catch(() => undefined);
      else if (owns) dev.close();
      throw e;
    }
  }

  /** Identify with CNS `cns` (0 to 255) for namespace `nsid`: the 4 KiB data structure, raw (identify.ts decodes it). */
  async identify(cns: number, nsid: number): Promise<Uint8Array> {
    const op = 'NvmeController.identify';
    if (!Number.isInteger(cns) || cns < 0 || cns > 0xff)
      throw refuse(op, this.label, `CNS ${String(cns)} is not an integer from 0 to 255`);
    checkNsid(op, nsid, this.label);
    await this.ready();
    return this.identifyNow(cns, nsid);
  }

  /** Set Features, Number of Queues: asks for `n` (1 to 65,535) I/O queue pairs, resolves to the number granted. */
  async setNumberOfQueues(n: number): Promise<number> {
    if (!Number.isInteger(n) || n < 1 || n > 0xffff)
      throw refuse('NvmeController.setNumberOfQueues', this.label, `${String(n)} queue pairs (1 to 65535)`);
    await this.ready();
    return this.requestQueues(n);
  }

  /** Creates an I/O queue pair (own MSI-X vector, or polled). */
  override createQueue(o: CreateQueueOptions = {}): Promise<NvmeQueue> {
    return super.createQueue(o);
  }

  /** A queue being deleted is no longer the default: the next default I/O creates another. */
  protected override forgetQueue(q: NvmeQueue): void {
    if (q !== this.defaultQueueReady) return;
    this.defaultQueueReady = undefined;
    this.defaultQueue = undefined;
  }

  private queueFor(o: IoOptions): Promise<NvmeQueue> {
    if (o.queue) return Promise.resolve(o.queue);
    return (this.defaultQueue ??= this.createQueue().then(
      (q) => (this.defaultQueueReady = q),
      (e) => {
        this.defaultQueue = undefined;
        throw e;
      },
    ));
  }

  /** The namespace's Identify data; for an NSID that is not active, the first namespace's format (the controller then rejects the command). */
  private format(nsid: number): IdentifyNamespace | undefined {
    return this.namespaces.get(nsid) ?? this.namespaces.values().next().value;
  }

  /** Bytes per logical block of a namespace. */
  blockSize(nsid: number): number {
    return this.format(nsid)?.format.blockBytes ?? 512;
  }

  /** Refuses the call's options or NSID before anything reaches the controller. */
  private checkIo(op: string, o: IoOptions, nsid: number): void {
    // Closed first: a queue named in the options is no longer live either.
    if (this.closed) throw this.closedError();
    checkIoOptions(op, o, (q) => this.ioQueues.get(q?.qid) === q, this.label);
    checkNsid(op, nsid, this.label);
  }

  /** Data pages for `bytes`, or the pool's exhaustion error with nothing taken. */
  private pages(bytes: number): DmaBlock[] {
    const n = Math.ceil(bytes / this.pageSize);
    const out: DmaBlock[] = [];
    try {
      for (let i = 0; i < n; i++) out.push(this.dataPool.alloc());
    } catch (e) {
      for (const b of out) b.free();
      throw e;
    }
    return out;
  }

  /**
   * The queue to submit on without waiting: the one given, or the default queue once created,
   * while no recovery runs and the controller is open; undefined when the caller must wait.
   */
  private queueNow(o: IoOptions): NvmeQueue | undefined {
    if (this.waitBeforeIo) return undefined;
    return o.queue ?? this.defaultQueueReady;
  }

  // A write (data given) resolves to nothing, a read (data undefined) to the bytes read. The
  // caller has run checkIo; the other checks throw here, and the public methods turn that into a
  // rejection.
  private transfer(nsid: number, lba: number, blocks: number, data: Uint8Array | DmaBlock | undefined, o: ReadOptions) {
    const op = data !== undefined ? 'NvmeController.write' : 'NvmeController.read';
    checkLba(op, lba, this.label);
    checkBlockCount(op, blocks, this.label);
    const bytes = blocks * this.blockSize(nsid);
    checkTransferSize(op, bytes, this.maxTransferBytes, this.label);
    const target = data ?? o.into;
    if (target instanceof DmaBlock) {
      const write = data !== undefined;
      if (target.pool === this.dataPool || target.pool === this.queuePool)
        throw refuse(op, this.label, "the DmaBlock is the controller's own memory (its queues or data pages)");
      checkDirectBlock(op, target, bytes, !write, this.device.iommu, this.pageSize, this.label);
      const q = this.queueNow(o);
      if (q) return this.submitDirect(q, nsid, lba, blocks, bytes, target, write);
      return this.ready()
        .then(() => this.queueFor(o))
        .then((queue) => this.submitDirect(queue, nsid, lba, blocks, bytes, target, write));
    }
    const copied = data as Uint8Array | undefined;
    const out = copied ? undefined : this.readTarget(o.into as Uint8Array | undefined, bytes);
    // The common case goes straight to the queue: no promise, no turn of the event loop before
    // the command is in the submission queue.
    const q = this.queueNow(o);
    if (q) return this.submitTransfer(q, nsid, lba, blocks, bytes, copied, out);
    return this.ready()
      .then(() => this.queueFor(o))
      .then((queue) => this.submitTransfer(queue, nsid, lba, blocks, bytes, copied, out));
  }

  /** A read or write the device does in place, in the caller's block (checked by checkDirectBlock). */
  private submitDirect(
    q: NvmeQueue,
    nsid: number,
    lba: number,
    blocks: number,
    bytes: number,
    block: DmaBlock,
    write: boolean,
  ): Promise<Uint8Array | undefined> {
    const prps = blockPrps(block, bytes, this.pageSize, this.dataPool);
    return q.submit(
      this.ioCommand(write, nsid, lba, blocks, prps.prp1, prps.prp2),
      prps.lists.length ? prps.lists : undefined,
      write ? undefined : () => (bytes === block.size ? block.u8 : block.u8.subarray(0, bytes)),
      block,
    );
  }

  private ioCommand(write: boolean, nsid: number, lba: number, blocks: number, prp1: number, prp2: number) {
    return {
      opcode: write ? OPC_WRITE : OPC_READ,
      nsid,
      prp1,
      prp2,
      cdw10: lba % 0x100000000,
      cdw11: Math.floor(lba / 0x100000000),
      cdw12: blocks - 1,
      lba,
      blocks,
    };
  }

  /** The view a read fills: the start of `into`, or a new array. */
  private readTarget(into: Uint8Array | undefined, bytes: number): Uint8Array {
    if (into === undefined) return new Uint8Array(bytes);
    if (!(into instanceof Uint8Array) || into.length < bytes) {
      const what = into instanceof Uint8Array ? `${into.length} bytes` : typeof into;
      throw refuse(
        'NvmeController.read',
        this.label,
        `into must be a Uint8Array of at least ${bytes} bytes (got ${what})`,
      );
    }
    return into.length === bytes ? into : into.subarray(0, bytes);
  }

  private submitTransfer(
    q: NvmeQueue,
    nsid: number,
    lba: number,
    blocks: number,
    bytes: number,
    data: Uint8Array | undefined,
    out: Uint8Array | undefined,
  ): Promise<Uint8Array | undefined> {
    // A caller's buffer may have been transferred (detached) while the write waited.
    if (data && data.length !== bytes)
      throw refuse('NvmeController.write', this.label, 'the data was detached or shrunk before it was sent');
    const pages = this.pages(bytes);
    let prps;
    try {
      prps = buildPrps(pages, this.dataPool);
    } catch (e) {
      for (const b of pages) b.free();
      throw e;
    }
    if (data) copyToPages(data, pages);
    return q.submit(
      this.ioCommand(data !== undefined, nsid, lba, blocks, prps.prp1, prps.prp2),
      prps.lists.length ? [...pages, ...prps.lists] : pages,
      () => (out ? copyFromPages(pages, out, bytes, this.label) : undefined),
    );
  }

  /** Reads `blocks` logical blocks from `lba` of namespace `nsid` (into `o.into` when given). */
  read(nsid: number, lba: number, blocks: number, o: ReadOptions = {}): Promise<Uint8Array> {
    try {
      this.checkIo('NvmeController.read', o, nsid);
      return this.transfer(nsid, lba, blocks, undefined, o) as Promise<Uint8Array>;
    } catch (e) {
      return Promise.reject(e as Error);
    }
  }

  /**
   * Writes `data` at `lba` of namespace `nsid`: all of it (whole logical blocks), or its first
   * `o.blocks` blocks. A Uint8Array is copied to the controller's pages; a DmaBlock of a pool
   * created on the controller's device is read by the controller in place (pinned in its pool
   * until the write is over).
   */
  async write(nsid: number, lba: number, data: Uint8Array | DmaBlock, o: WriteOptions = {}): Promise<void> {
    const op = 'NvmeController.write';
    this.checkIo(op, o, nsid);
    if (o.blocks !== undefined) checkBlockCount(op, o.blocks, this.label);
    const bs = this.blockSize(nsid);
    const length = data instanceof DmaBlock ? data.size : data instanceof Uint8Array ? data.length : NaN;
    if (Number.isNaN(length))
      throw refuse(op, this.label, `data must be a Uint8Array or a DmaBlock (got ${typeof data})`);
    if (o.blocks !== undefined) {
      if (o.blocks * bs > length)
        throw refuse(op, this.label, `${o.blocks} blocks need ${o.blocks * bs} bytes; data has ${length}`);
      await this.transfer(nsid, lba, o.blocks, data instanceof DmaBlock ? data : data.subarray(0, o.blocks * bs), o);
      return;
    }
    if (length === 0 || length % bs !== 0)
      throw refuse(op, this.label, `${length} bytes are not whole ${bs}-byte blocks`);
    await this.transfer(nsid, lba, length / bs, data, o);
  }

  /** Flush: what the namespace's volatile write cache holds reaches the media. */
  async flush(nsid: number, o: IoOptions = {}): Promise<void> {
    this.checkIo('NvmeController.flush', o, nsid);
    await this.ready();
    const q = await this.queueFor(o);
    await q.submit({ opcode: OPC_FLUSH, nsid, prp1: 0, prp2: 0, cdw10: 0, cdw11: 0, cdw12: 0 });
  }

  /** Write Zeroes: `blocks` blocks from `lba` read as zeroes afterwards, without a data transfer. */
  async writeZeroes(nsid: number, lba: number, blocks: number, o: IoOptions = {}): Promise<void> {
    const op = 'NvmeController.writeZeroes';
    this.checkIo(op, o, nsid);
    checkLba(op, lba, this.label);
    checkBlockCount(op, blocks, this.label);
    await this.ready();
    const q = await this.queueFor(o);
    await q.submit({
      opcode: OPC_WRITE_ZEROES,
      nsid,
      prp1: 0,
      prp2: 0,
      cdw10: lba % 0x100000000,
      cdw11: Math.floor(lba / 0x100000000),
      cdw12: blocks - 1,
      lba,
      blocks,
    });
  }

  /**
   * Dataset Management with the deallocate attribute: the controller may forget the ranges
   * (reads then return what Identify Namespace DLFEAT says, zeroes on QEMU). Up to 256 ranges.
   */
  async dsm(nsid: number, ranges: readonly LbaRange[], o: IoOptions = {}): Promise<void> {
    const op = 'NvmeController.dsm';
    this.checkIo(op, o, nsid);
    if (!Array.isArray(ranges)) throw refuse(op, this.label, `ranges must be an array (got ${typeof ranges})`);
    if (ranges.length < 1 || ranges.length > MAX_DSM_RANGES)
      throw refuse(op, this.label, `${ranges.length} ranges (1 to ${MAX_DSM_RANGES})`);
    // A copy: the caller's array may change while the call waits for the controller.
    const list = Array.from(ranges, (r) => {
      if (r === null || typeof r !== 'object') throw refuse(op, this.label, `a range must be { lba, blocks }`);
      const range = { lba: r.lba, blocks: r.blocks };
      checkLba(op, range.lba, this.label);
      if (!Number.isSafeInteger(range.blocks) || range.blocks < 1 || range.blocks > 0xffffffff)
        throw refuse(op, this.label, `a range of ${String(range.blocks)} blocks`);
      return range;
    });
    await this.ready();
    const q = await this.queueFor(o);
    const page = this.dataPool.alloc();
    const buf = this.dataPool.buffer;
    page.u8.fill(0, 0, list.length * 16);
    list.forEach((r, i) => {
      const e = page.offset + i * 16;
      buf.write32(e + 4, r.blocks);
      buf.write64n(e + 8, r.lba);
    });
    await q.submit(
      {
        opcode: OPC_DSM,
        nsid,
        prp1: page.iova,
        prp2: 0,
        cdw10: list.length - 1,
        cdw11: DSM_DEALLOCATE,
        cdw12: 0,
        lba: list[0].lba,
      },
      [page],
    );
  }

  /** `await using c = …`: the same as close(). */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
