// One NVMe queue pair (a submission and a completion queue) in DMA memory, and the command life
// cycle on it: a free command id, the 64-byte entry, the doorbell, the completion (on an
// interrupt or by polling), the promise settled, the data pages given back. The controller
// (controller.ts) creates queues and decides what a timeout or a reset does to them.
import { DmaBlock, DmaPool, Irq } from '../index';
import {
  NvmeAbortReason,
  NvmeAbortedError,
  NvmeCommandInfo,
  NvmeError,
  NvmeQueueFullError,
  opcodeName,
} from './errors';
import { CQE_BYTES, SQE_BYTES, doorbell } from './registers';
import { NvmeCommand, writeEntry } from './command';
import { Slot } from './slot';
import { checkTimeout } from './args';

/** Pages of a command the queue did not take, back to their pool. */
function giveBack(pages: DmaBlock[] | undefined): void {
  if (pages) for (const b of pages) b.free();
}

/** What a queue needs from its controller. */
export interface QueueHost {
  /** Where the doorbells are: BAR0's mapping (a width-exact memory in host tests). */
  readonly bar: { write32(off: number, v: number): void; writeRelease32(off: number, v: number): void };
  readonly doorbellStride: number;
  readonly label: string;
  /** A command ran out of time; the controller aborts it, and resets if that fails. */
  onTimeout(queue: NvmeQueue, commandId: number): void;
}

export interface QueueOptions {
  qid: number;
  depth: number;
  /** The MSI-X vector, with its Irq; undefined for a polled queue. */
  irq?: Irq;
  vector?: number;
  timeoutMs: number;
}

/**
 * One submission/completion queue pair (qid 0 is the admin queue), made by the controller. Its
 * counters are for monitoring; after the controller closes, submissions reject.
 */
export class NvmeQueue {
  /** Queue ID (0 admin, 1… I/O). */
  readonly qid: number;
  /** Entries per queue; at most depth - 1 commands are outstanding. */
  readonly depth: number;
  /** The MSI-X vector, undefined when polled. */
  readonly vector: number | undefined;
  /** @internal The submission queue's memory (a block of the controller's queue pool). */
  readonly sq: DmaBlock;
  /** @internal The completion queue's memory. */
  readonly cq: DmaBlock;
  /** Interrupts counted on this queue's vector (the eventfd counts). */
  interrupts = 0;
  /** Completions seen, and how many of them were reaped in an interrupt handler. */
  completions = 0;
  /** Completions reaped in the interrupt handler (the rest were found by polling). */
  completionsInInterrupt = 0;
  /** Submission queue tail doorbell writes (several commands submitted together share one). */
  doorbells = 0;
  /** Completions that named no command in flight (a controller bug, or a late one after a reset). */
  strays = 0;
  private timeout: number;

  private readonly host: QueueHost;
  private readonly pool: DmaPool;
  private readonly irq: Irq | undefined;
  private readonly sqDoorbell: number;
  private readonly cqDoorbell: number;
  private sqTail = 0;
  /** The tail the controller was last told: entries from here to sqTail wait for the doorbell. */
  private rungTail = 0;
  /** Command ids written since the last doorbell, in submission order. */
  private readonly unrung: number[] = [];
  private ringScheduled = false;
  private readonly ring: () => void;
  private cqHead = 0;
  private phase = 1;
  private readonly slots: Slot[] = [];
  private readonly freeIds: number[] = [];
  private outstanding = 0;
  private pollScheduled = false;
  private readonly onInterrupt: (count: number) => void;
  private readonly pollTick: () => void;
  private readonly scan: () => void;
  private scanTimer: NodeJS.Timeout | undefined;
  private submissions = 0;
  private closed = false;

  /** @internal The controller creates its queues. */
  constructor(host: QueueHost, pool: DmaPool, o: QueueOptions) {
    this.host = host;
    this.pool = pool;
    this.qid = o.qid;
    this.depth = o.depth;
    this.vector = o.vector;
    this.irq = o.irq;
    this.timeout = o.timeoutMs;
    this.sq = pool.alloc();
    this.cq = pool.alloc();
    this.sqDoorbell = doorbell(o.qid, false, host.doorbellStride);
    this.cqDoorbell = doorbell(o.qid, true, host.doorbellStride);
    // Command ids are slot numbers; at most depth - 1 are in flight (a full ring is an empty one).
    for (let i = o.depth - 2; i >= 0; i--) this.freeIds.push(i);
    for (let i = 0; i < o.depth - 1; i++) this.slots.push(new Slot());
    this.clear();
    this.onInterrupt = (count: number) => {
      this.interrupts += count;
      this.completionsInInterrupt += this.reap();
    };
    this.pollTick = () => {
      this.pollScheduled = false;
      if (this.closed) return;
      this.reap();
      if (this.outstanding > 0) this.schedulePoll();
    };
    this.scan = () => this.checkDeadlines();
    this.ring = () => {
      this.ringScheduled = false;
      this.ringDoorbell();
    };
    this.irq?.on('interrupt', this.onInterrupt);
  }

  /** Reports each command past its deadline to the host, once; stops when nothing is in flight. */
  private checkDeadlines(): void {
    if (this.outstanding === 0 || this.closed) {
      clearInterval(this.scanTimer);
      this.scanTimer = undefined;
      return;
    }
    const now = performance.now();
    this.slots.forEach((slot, cid) => {
      if (slot.resolve === undefined || slot.timedOut || slot.abandoned || now < slot.deadline) return;
      slot.timedOut = true;
      this.host.onTimeout(this, cid);
    });
  }

  /** Milliseconds a command may take before it is aborted: 1 to 2,147,483,647 (a timer's range). */
  get timeoutMs(): number {
    return this.timeout;
  }

  /** Sets the timeout of commands submitted from now on; anything else is an InvalidArgumentError. */
  set timeoutMs(ms: number) {
    this.timeout = checkTimeout('NvmeQueue.timeoutMs', ms, this.host.label);
  }

  /** True when the queue has no MSI-X vector and completions are found by polling. */
  get polled(): boolean {
    return this.irq === undefined;
  }

  /** Commands in flight (abandoned ones included: their pages are still the controller's). */
  get inFlight(): number {
    return this.outstanding;
  }

  /** @internal Empty rings: head, tail and phase as a newly created queue has them. */
  clear(): void {
    this.sq.u8.fill(0);
    this.cq.u8.fill(0);
    this.sqTail = 0;
    this.rungTail = 0;
    this.unrung.length = 0;
    this.cqHead = 0;
    this.phase = 1;
  }

  /**
   * @internal The controller's commands only: an entry's PRPs point the device at memory.
   * Puts a command on the submission queue; the doorbell follows once the current callback and
   * the promise continuations it started are done (see ringDoorbell). Resolves to the
   * completion's DW0, or to what `onSuccess` returns; rejects with NvmeError, or
   * NvmeAbortedError on a timeout or reset. `pages` go back to their pool once the controller is
   * done with them. Throws NvmeQueueFullError at once when depth - 1 commands are in flight.
   * `onSuccess` runs synchronously on a successful completion, while the pages are still the
   * command's. `pinned`, a block of the caller's that the command's PRPs point into, stays
   * pinned in its pool (DmaPool.pin) for as long as the controller may use it. `pages` are the
   * queue's from the call on: given back on every path, a throw or a rejection included.
   */
  submit(cmd: NvmeCommand, pages?: DmaBlock[]): Promise<number>;
  /** @internal */
  submit<T>(
    cmd: NvmeCommand,
    pages: DmaBlock[] | undefined,
    onSuccess: ((dw0: number) => T) | undefined,
    pinned?: DmaBlock,
  ): Promise<T>;
  /** @internal */
  submit(
    cmd: NvmeCommand,
    pages?: DmaBlock[],
    onSuccess?: (dw0: number) => unknown,
    pinned?: DmaBlock,
  ): Promise<unknown> {
    if (this.closed) {
      giveBack(pages);
      return Promise.reject(this.aborted('close', cmd, 0xffff));
    }
    const cid = this.freeIds.pop();
    if (cid === undefined) {
      giveBack(pages);
      throw new NvmeQueueFullError(this.qid, this.depth, this.host.label);
    }
    let unpin: (() => void) | undefined;
    try {
      if (pinned) unpin = pinned.pool.pin(pinned);
      writeEntry(this.pool.buffer.u32, (this.sq.offset + this.sqTail * SQE_BYTES) >>> 2, cmd, cid);
    } catch (e) {
      this.freeIds.push(cid);
      unpin?.();
      giveBack(pages);
      throw e;
    }
    const slot = this.slots[cid];
    slot.unpin = unpin;
    this.sqTail = this.sqTail + 1 === this.depth ? 0 : this.sqTail + 1;
    const p = new Promise<unknown>((resolve, reject) => {
      slot.resolve = resolve;
      slot.reject = reject;
    });
    slot.cmd = cmd;
    slot.pages = pages;
    slot.onSuccess = onSuccess;
    slot.abandoned = false;
    slot.timedOut = false;
    slot.deadline = performance.now() + this.timeoutMs;
    slot.seq = ++this.submissions;
    this.outstanding++;
    this.scanTimer ??= setInterval(this.scan, Math.max(5, Math.min(1000, this.timeoutMs / 4)));
    this.unrung.push(cid);
    if (!this.ringScheduled) {
      this.ringScheduled = true;
      process.nextTick(this.ring);
    }
    if (this.irq === undefined) this.schedulePoll();
    return p;
  }

  /**
   * Tells the controller about every entry written since the last doorbell: one MMIO write for
   * all the commands submitted in one turn of the event loop. submit() schedules it with
   * process.nextTick, which runs once the current callback and every promise continuation it
   * started are done: the callers woken by one batch of completions submit their next commands
   * in those continuations, and they share this write. A doorbell that cannot be written (the
   * BAR is gone) fails the commands it would have announced, with the store's error, and takes
   * their entries back.
   */
  private ringDoorbell(): void {
    if (this.closed || this.sqTail === this.rungTail) return;
    try {
      // Release: the entries are in memory before the controller hears of them.
      this.host.bar.writeRelease32(this.sqDoorbell, this.sqTail);
    } catch (e) {
      this.sqTail = this.rungTail;
      for (const cid of this.unrung.splice(0)) {
        const slot = this.slots[cid];
        const reject = slot.reject;
        this.release(cid, slot);
        reject?.(e as Error);
      }
      return;
    }
    this.rungTail = this.sqTail;
    this.unrung.length = 0;
    this.doorbells++;
  }

  private info(cmd: NvmeCommand, cid: number): NvmeCommandInfo {
    return {
      queue: this.qid,
      opcode: cmd.opcode,
      name: opcodeName(this.qid === 0, cmd.opcode),
      commandId: cid,
      nsid: cmd.nsid,
      lba: cmd.lba,
      blocks: cmd.blocks,
    };
  }

  private aborted(reason: NvmeAbortReason, cmd: NvmeCommand, cid: number): NvmeAbortedError {
    return new NvmeAbortedError(reason, this.info(cmd, cid), this.host.label);
  }

  private schedulePoll(): void {
    if (this.pollScheduled) return;
    this.pollScheduled = true;
    setImmediate(this.pollTick);
  }

  /** Processes every new completion entry; returns how many. */
  reap(): number {
    if (this.closed) return 0;
    if (this.pool.closed) {
      // The memory went away under us (the device closed): nothing can complete any more.
      this.close('close');
      return 0;
    }
    const buf = this.pool.buffer;
    const base = this.cq.offset;
    let n = 0;
    for (;;) {
      const e = base + this.cqHead * CQE_BYTES;
      // Acquire: the phase tag first, then the rest of the entry the controller wrote before it.
      const dw3 = buf.readAcquire32(e + 12);
      if (((dw3 >>> 16) & 1) !== this.phase) break;
      const dw0 = buf.read32(e);
      this.cqHead = this.cqHead + 1 === this.depth ? 0 : this.cqHead + 1;
      if (this.cqHead === 0) this.phase ^= 1;
      n++;
      this.complete(dw3 & 0xffff, (dw3 >>> 17) & 0x7fff, dw0);
    }
    if (n > 0) {
      this.completions += n;
      this.host.bar.write32(this.cqDoorbell, this.cqHead);
    }
    return n;
  }

  private complete(cid: number, status: number, dw0: number): void {
    const slot = this.slots[cid];
    // A slot in flight has resolve, reject and cmd (submit sets them together, release clears them).
    if (slot?.resolve === undefined || slot.reject === undefined || slot.cmd === undefined) {
      this.strays++;
      return;
    }
    const { resolve, reject, cmd, abandoned, onSuccess } = slot;
    let error: Error | undefined;
    let value: unknown = dw0;
    if (status === 0 && !abandoned && onSuccess) {
      try {
        value = onSuccess(dw0);
      } catch (e) {
        error = e as Error;
      }
    }
    this.release(cid, slot);
    if (abandoned) return;
    if (status !== 0) reject(new NvmeError(status, this.info(cmd, cid), this.host.label));
    else if (error !== undefined) reject(error);
    else resolve(value);
  }

  private release(cid: number, slot: Slot): void {
    if (slot.pages) for (const b of slot.pages) b.free();
    slot.unpin?.();
    slot.resolve = slot.reject = undefined;
    slot.pages = undefined;
    slot.unpin = undefined;
    slot.onSuccess = undefined;
    slot.cmd = undefined;
    this.freeIds.push(cid);
    this.outstanding--;
  }

  /** The command's info while it is in flight. */
  command(cid: number): NvmeCommandInfo | undefined {
    const slot = this.slots[cid];
    return slot?.resolve === undefined || slot.cmd === undefined ? undefined : this.info(slot.cmd, cid);
  }

  /** @internal Which submission is in flight under this id (undefined: none): to tell whether a command is still the same one. */
  sequence(cid: number): number | undefined {
    const slot = this.slots[cid];
    return slot?.resolve === undefined ? undefined : slot.seq;
  }

  /**
   * @internal Tells the caller a command failed (timeout) while the controller may still complete it: its
   * id and pages stay reserved until the completion comes or failAll() runs after a reset.
   */
  abandon(cid: number, error: Error): void {
    const slot = this.slots[cid];
    if (slot?.reject === undefined || slot.abandoned) return;
    slot.abandoned = true;
    slot.reject(error);
  }

  /** Abandoned commands still in flight. */
  get abandoned(): number {
    return this.slots.filter((s) => s.resolve !== undefined && s.abandoned).length;
  }

  /**
   * @internal After the controller was disabled (it no longer touches the queue memory): every command in
   * flight fails with NvmeAbortedError, and its id and pages are free again.
   */
  failAll(reason: NvmeAbortReason, detail?: string): number {
    // Entries not announced yet are failed with the rest; clear() empties the rings before the
    // controller is enabled again.
    this.unrung.length = 0;
    this.rungTail = this.sqTail;
    let n = 0;
    this.slots.forEach((slot, cid) => {
      const { resolve, reject, cmd, abandoned } = slot;
      if (resolve === undefined || reject === undefined || cmd === undefined) return;
      this.release(cid, slot);
      if (!abandoned) {
        reject(new NvmeAbortedError(reason, this.info(cmd, cid), this.host.label, detail));
        n++;
      }
    });
    return n;
  }

  /** @internal Stops listening and polling; fails what is in flight. The memory goes with the pool. */
  close(reason: NvmeAbortReason = 'close'): void {
    if (this.closed) return;
    this.failAll(reason);
    this.closed = true;
    clearInterval(this.scanTimer);
    this.scanTimer = undefined;
    this.irq?.off('interrupt', this.onInterrupt);
  }
}
