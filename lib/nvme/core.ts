// The NVMe controller's life cycle: bring-up (disable, admin queues, enable within CAP.TO),
// admin commands (Identify, Set Features, queue creation and deletion, Abort), recovery from a
// timeout or a device reset (disable, fail what was in flight, bring up again with the same
// queues), and orderly shutdown (CC.SHN). controller.ts adds the I/O commands on top.
import { ClosedError, Device, DmaPool, Irq, Mapping, VfioError } from '../index';
import { refuse } from './args';
import { NvmeAbortReason, NvmeAbortedError } from './errors';
import {
  IDENTIFY_BYTES,
  IdentifyController,
  IdentifyNamespace,
  decodeIdentifyController,
  decodeIdentifyNamespace,
  decodeNamespaceList,
} from './identify';
import { NvmeQueue } from './queue';
import { CreateQueueOptions, NvmeOpenOptions, checkOpenOptions, checkQueueOptions } from './options';
import { disableController, enableController, shutdownController } from './bringup';
import {
  ADMIN_QID,
  CNS_ACTIVE_NAMESPACES,
  CNS_CONTROLLER,
  CNS_NAMESPACE,
  abortCommand,
  createCqCommand,
  createSqCommand,
  deleteCqCommand,
  deleteSqCommand,
  grantedQueuePairs,
  identifyCommand,
  setNumberOfQueuesCommand,
} from './admin';
import { NvmeCap, REG_CAP, REG_VS, SQE_BYTES, decodeCap, decodeVersion } from './registers';

export type { CreateQueueOptions, NvmeOpenOptions };

export class NvmeCore {
  /** The vfio Device of the controller (closed with it when open() opened it). */
  readonly device: Device;
  /** BAR0 mapped: the controller's registers and doorbells. */
  readonly bar: Mapping;
  /** The Capabilities register (CAP), decoded. */
  readonly cap: NvmeCap;
  /** VS, "major.minor.tertiary". */
  readonly version: string;
  /** The memory page size the controller runs with (CC.MPS): CAP.MPSMIN ≤ it ≤ CAP.MPSMAX. */
  readonly pageSize: number;
  /** Bytes between two doorbells (4 << CAP.DSTRD). */
  readonly doorbellStride: number;
  /** The device's address, for messages. */
  readonly label: string;
  /** Identify Controller, read at open. */
  identity!: IdentifyController;
  private transferLimit: number | undefined;
  /** Identify Namespace of every active namespace, read at open. */
  readonly namespaces = new Map<number, IdentifyNamespace>();
  /** I/O queue pairs the controller granted (Set Features, Number of Queues). */
  grantedQueues = 0;
  /** Controller resets the driver did to recover (a timeout, or a reset of the device under it). */
  recoveries = 0;
  /** The options in force, defaults filled in. */
  readonly options: Required<NvmeOpenOptions>;
  protected readonly admin: NvmeQueue;
  protected readonly ioQueues = new Map<number, NvmeQueue>();
  private readonly creating = new Set<number>();
  private readonly deleting = new Map<NvmeQueue, Promise<void>>();
  protected readonly queuePool: DmaPool;
  protected readonly dataPool: DmaPool;
  private readonly ownsDevice: boolean;
  private readonly irqs = new Map<number, Irq>();
  private recovering: Promise<void> | undefined;
  private abortsInFlight = 0;
  private closing: Promise<void> | undefined;
  private readonly onDeviceReset: () => void;

  protected constructor(device: Device, ownsDevice: boolean, o: NvmeOpenOptions) {
    this.device = device;
    this.ownsDevice = ownsDevice;
    this.label = device.bdf;
    const msix = device.irqs.find((i) => i.name === 'MSIX')?.count ?? 0;
    const checked = checkOpenOptions(o, this.label);
    this.options = { ...checked, interrupts: checked.interrupts && msix > 0 };
    device.config.busMaster = true;
    this.bar = device.bar(0).map();
    this.cap = decodeCap(this.bar.read32(REG_CAP), this.bar.read32(REG_CAP + 4));
    this.version = decodeVersion(this.bar.read32(REG_VS));
    this.doorbellStride = this.cap.doorbellStride;
    if ((this.cap.commandSets & 1) === 0) {
      throw new VfioError({
        code: 'EOPNOTSUPP',
        op: 'NvmeController.open',
        device: this.label,
        message: `NvmeController.open: ${this.label} does not support the NVM command set (CAP.CSS 0x${this.cap.commandSets.toString(16)})`,
      });
    }
    const hostPage = 4096;
    this.pageSize = Math.min(Math.max(hostPage, this.cap.pageSizeMin), this.cap.pageSizeMax);
    // Without an IOMMU the device sees physical pages, contiguous only by luck: a queue must fit
    // in one page then (CAP.CQR asks for contiguous queues).
    const maxDepth = device.iommu.unsafe
      ? this.pageSize / SQE_BYTES
      : Math.max(this.options.queueDepth, this.options.adminDepth);
    const queueBytes =
      Math.ceil((Math.min(maxDepth, this.cap.maxQueueEntries) * SQE_BYTES) / this.pageSize) * this.pageSize;
    this.queuePool = DmaPool.create(device, { blockSize: queueBytes, blocks: 2 * (this.options.ioQueues + 1) });
    this.dataPool = DmaPool.create(device, { blockSize: this.pageSize, blocks: this.options.dataPages });
    const adminIrq = this.options.interrupts ? this.vectorIrq(0) : undefined;
    this.admin = new NvmeQueue(this, this.queuePool, {
      qid: ADMIN_QID,
      depth: Math.min(this.options.adminDepth, 4096, this.queuePool.blockSize / SQE_BYTES),
      irq: adminIrq,
      vector: adminIrq ? 0 : undefined,
      timeoutMs: this.options.timeoutMs,
    });
    this.onDeviceReset = () => {
      void this.recover('reset', 'the device was reset').catch(() => undefined);
    };
  }

  /** Brings the controller up and reads what it is. */
  protected async start(): Promise<void> {
    await this.enable();
    this.identity = decodeIdentifyController(await this.identifyNow(CNS_CONTROLLER, 0));
    // Fixed from here on; every transfer checks against it.
    this.transferLimit = this.transferLimitNow();
    for (const nsid of decodeNamespaceList(await this.identifyNow(CNS_ACTIVE_NAMESPACES, 0))) {
      this.namespaces.set(nsid, decodeIdentifyNamespace(await this.identifyNow(CNS_NAMESPACE, nsid)));
    }
    this.grantedQueues = Math.min(await this.requestQueues(this.options.ioQueues), this.options.ioQueues);
    this.device.on('reset', this.onDeviceReset);
  }

  /** The largest transfer one command may carry: MDTS (in units of CAP.MPSMIN), the data pool, 65,536 blocks. */
  get maxTransferBytes(): number {
    return this.transferLimit ?? this.transferLimitNow();
  }

  private transferLimitNow(): number {
    const mdts = this.identity?.mdts ? 2 ** this.identity.mdts * this.cap.pageSizeMin : Infinity;
    return Math.min(mdts, Math.floor(this.options.dataPages / 2) * this.pageSize);
  }

  /** The Irq of an MSI-X vector, enabled on first use (with room for every queue's vector). */
  private vectorIrq(vector: number): Irq {
    let irq = this.irqs.get(vector);
    if (!irq) {
      irq = this.device.irq('MSIX').enable({ vectors: [vector], reserve: this.options.ioQueues + 1 });
      this.irqs.set(vector, irq);
    }
    return irq;
  }

  /** CC.EN = 0 and CSTS.RDY = 0: the controller stops touching memory. */
  protected async disable(): Promise<void> {
    await disableController(this.bar, this.cap);
  }

  /** Disables, points the controller at the admin queues, and enables it (CSTS.RDY within CAP.TO). */
  protected async enable(): Promise<void> {
    await this.disable();
    this.admin.clear();
    await enableController(this.bar, this.cap, this.admin, this.pageSize, this.label);
  }

  /** Identify without waiting for a recovery (bring-up runs it; NvmeController.identify checks and waits). */
  protected async identifyNow(cns: number, nsid: number): Promise<Uint8Array> {
    const page = this.dataPool.alloc();
    const out = new Uint8Array(IDENTIFY_BYTES);
    // Copied while the page is still the command's (submit frees it after onSuccess).
    await this.admin.submit(identifyCommand(cns, nsid, page.iova), [page], () => {
      out.set(page.u8.subarray(0, IDENTIFY_BYTES));
    });
    return out;
  }

  /** Set Features, Number of Queues, without waiting for a recovery (bring-up and recovery run it). */
  protected async requestQueues(n: number): Promise<number> {
    return grantedQueuePairs(await this.admin.submit(setNumberOfQueuesCommand(n)));
  }

  /** I/O queues live now, by queue id. */
  get queues(): NvmeQueue[] {
    return [...this.ioQueues.values()];
  }

  /**
   * Creates an I/O queue pair: completion queue (with its own MSI-X vector, the queue id, unless
   * polled), then submission queue.
   */
  async createQueue(o: CreateQueueOptions = {}): Promise<NvmeQueue> {
    const opts = checkQueueOptions(o, this.label);
    await this.ready();
    let qid = 1;
    // Taken from the moment it is chosen: queues created at the same time get different ids.
    while (this.ioQueues.has(qid) || this.creating.has(qid)) qid++;
    if (qid > this.grantedQueues) {
      throw new VfioError({
        code: 'ENOSPC',
        op: 'NvmeController.createQueue',
        device: this.label,
        message: `NvmeController.createQueue: all ${this.grantedQueues} I/O queue pairs the controller granted are in use`,
        hint: 'open with a larger ioQueues, or delete a queue first',
      });
    }
    const depth = Math.min(
      opts.depth ?? this.options.queueDepth,
      this.cap.maxQueueEntries,
      this.queuePool.blockSize / SQE_BYTES,
    );
    const irq = opts.polled || !this.options.interrupts ? undefined : this.vectorIrq(qid);
    const q = new NvmeQueue(this, this.queuePool, {
      qid,
      depth,
      irq,
      vector: irq ? qid : undefined,
      timeoutMs: this.options.timeoutMs,
    });
    this.creating.add(qid);
    try {
      await this.createOnController(q);
    } catch (e) {
      this.dropQueue(q);
      throw e;
    } finally {
      this.creating.delete(qid);
    }
    this.ioQueues.set(qid, q);
    return q;
  }

  private async createOnController(q: NvmeQueue): Promise<void> {
    await this.admin.submit(createCqCommand(q));
    await this.admin.submit(createSqCommand(q));
  }

  /**
   * Deletes an I/O queue pair (commands still in it complete as aborted by the deletion). A queue
   * already deleted resolves at once; one being deleted resolves with that deletion.
   */
  deleteQueue(q: NvmeQueue): Promise<void> {
    if (!(q instanceof NvmeQueue))
      return Promise.reject(refuse('NvmeController.deleteQueue', this.label, 'not an NvmeQueue'));
    let p = this.deleting.get(q);
    if (!p) {
      p = this.deleteNow(q).finally(() => this.deleting.delete(q));
      this.deleting.set(q, p);
    }
    return p;
  }

  private async deleteNow(q: NvmeQueue): Promise<void> {
    await this.ready();
    if (this.ioQueues.get(q.qid) !== q) return;
    this.forgetQueue(q);
    try {
      await this.admin.submit(deleteSqCommand(q.qid));
      await this.admin.submit(deleteCqCommand(q.qid));
      q.reap();
    } finally {
      this.ioQueues.delete(q.qid);
      this.dropQueue(q);
    }
  }

  /** A queue is being deleted: nothing may pick it as a default any more (the controller overrides this). */
  protected forgetQueue(_q: NvmeQueue): void {}

  private dropQueue(q: NvmeQueue): void {
    q.close();
    this.queuePool.free(q.sq);
    this.queuePool.free(q.cq);
    if (q.vector !== undefined) {
      this.irqs.get(q.vector)?.disable();
      this.irqs.delete(q.vector);
    }
  }

  /** True while a recovery runs or once the controller is closing: I/O must go through ready(). */
  protected get waitBeforeIo(): boolean {
    return this.recovering !== undefined || this.closing !== undefined;
  }

  /** Waits while a recovery runs; throws once the controller is closed. */
  protected async ready(): Promise<void> {
    if (this.recovering) await this.recovering;
    if (this.closing) throw this.closedError();
  }

  protected closedError(): ClosedError {
    return new ClosedError({
      code: 'ECLOSED',
      op: 'NvmeController',
      device: this.label,
      message: `NvmeController: ${this.label} is closed`,
      hint: 'open the controller again',
    });
  }

  /** @internal A command ran out of time (NvmeQueue calls it: the controller is its QueueHost). */
  onTimeout(q: NvmeQueue, cid: number): void {
    const info = q.command(cid);
    if (!info) return;
    q.abandon(cid, new NvmeAbortedError('timeout', info, this.label, `${q.timeoutMs} ms`));
    if (q === this.admin) {
      void this.recover('timeout', `admin ${info.name} timed out`).catch(() => undefined);
      return;
    }
    const reset = (why: string) => {
      if (!this.closing) void this.recover('timeout', why).catch(() => undefined);
    };
    // Ask the controller to abort it (within its Abort limit, ACL + 1); if the command is still
    // there a grace period later, or no Abort can be sent, reset. Nothing here may throw: this
    // runs in a timer.
    if (this.abortsInFlight >= (this.identity?.abortLimit ?? 1)) {
      reset(`${info.name} on queue ${q.qid} timed out with ${this.abortsInFlight} Abort command(s) already pending`);
      return;
    }
    let abort: Promise<number>;
    try {
      abort = this.admin.submit(abortCommand(q.qid, cid));
    } catch {
      reset(`${info.name} on queue ${q.qid} timed out and the admin queue is full`);
      return;
    }
    this.abortsInFlight++;
    const seq = q.sequence(cid);
    const still = () => q.sequence(cid) === seq;
    abort
      .catch(() => undefined)
      .then(() => {
        this.abortsInFlight--;
        return new Promise((r) => setTimeout(r, Math.min(q.timeoutMs, 1000)));
      })
      .then(() => {
        if (still()) reset(`${info.name} on queue ${q.qid} could not be aborted`);
      });
  }

  /**
   * Disables the controller, fails every command in flight with NvmeAbortedError, and brings it
   * up again with the same admin and I/O queues (memory, vectors, ids). Runs once at a time.
   */
  recover(reason: NvmeAbortReason, detail?: string): Promise<void> {
    if (this.closing) return Promise.resolve();
    this.recovering ??= (async () => {
      try {
        await this.disable();
      } finally {
        // Disabled (or beyond help): nothing the controller does now can reach these pages.
        for (const q of [this.admin, ...this.ioQueues.values()]) q.failAll(reason, detail);
      }
      for (const q of this.ioQueues.values()) q.clear();
      await this.enable();
      await this.requestQueues(this.options.ioQueues);
      for (const q of this.ioQueues.values()) await this.createOnController(q);
      this.recoveries++;
    })().finally(() => {
      this.recovering = undefined;
    });
    return this.recovering;
  }

  /**
   * Orderly shutdown: the I/O queues are deleted, CC.SHN announces a normal shutdown and the
   * controller reports it complete (CSTS.SHST) within CAP.TO; then interrupts, memory and (when
   * open() opened it) the device are released. Commands still in flight fail with
   * NvmeAbortedError. Idempotent.
   */
  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    const errors: unknown[] = [];
    this.device.off('reset', this.onDeviceReset);
    if (this.recovering) await this.recovering.catch((e) => errors.push(e));
    if (!this.device.closed) {
      try {
        for (const q of [...this.ioQueues.values()]) {
          await this.admin.submit(deleteSqCommand(q.qid));
          await this.admin.submit(deleteCqCommand(q.qid));
        }
        await shutdownController(this.bar, this.cap);
      } catch (e) {
        errors.push(e);
      }
    }
    for (const q of [this.admin, ...this.ioQueues.values()]) q.close('shutdown');
    this.ioQueues.clear();
    // Each step runs whatever the ones before it threw.
    const attempt = (f: () => void) => {
      try {
        f();
      } catch (e) {
        errors.push(e);
      }
    };
    for (const irq of this.irqs.values()) attempt(() => irq.disable());
    this.irqs.clear();
    for (const p of [this.dataPool, this.queuePool]) attempt(() => p.close());
    attempt(() => this.bar.close());
    if (this.ownsDevice) attempt(() => this.device.close());
    if (errors.length === 1) throw errors[0];
    if (errors.length)
      throw new AggregateError(errors, `NvmeController.close(${this.label}): ${errors.length} step(s) failed`);
  }

  /** Whether close() was called. */
  get closed(): boolean {
    return this.closing !== undefined;
  }
}
