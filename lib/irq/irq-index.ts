// One IRQ index of a device (INTx, MSI, MSI-X, ERR, REQ for vfio-pci): which of its vectors are
// live and in which Irq, and the SET_IRQS calls that lib/irq/plan.ts works out. The rules
// between indexes are control.ts's; everything device-specific comes through IrqBackend
// (backend.ts), so the same code runs against the kernel and against a test double.
import {
  VFIO_IRQ_SET_ACTION_MASK,
  VFIO_IRQ_SET_ACTION_UNMASK,
  VFIO_IRQ_SET_DATA_NONE,
  VFIO_PCI_INTX_IRQ_INDEX,
  VFIO_PCI_MSIX_IRQ_INDEX,
  VFIO_PCI_MSI_IRQ_INDEX,
  VFIO_PCI_REQ_IRQ_INDEX,
} from '../abi';
import { BusyError, VfioError, errnoError, errnoName, invalidArgument, notSupported } from '../errors';
import { describeValue, optionsArg } from '../errors/args';
import type { DeviceIrqInfo, IrqBackend } from './backend';
import { Irq, IrqOptions, IrqOwner, IrqTap } from './irq';
import { setIrqsHint, vectorConflictHint, vectorRangeHint } from './hints';
import {
  EMPTY_STATE,
  IndexShape,
  IndexState,
  Plan,
  SetIrqsCall,
  planAdd,
  planRemove,
  requestedVectors,
  triggerCall,
} from './plan';

export type { DeviceIrqInfo, IrqBackend } from './backend';

/**
 * Options of {@link IrqIndex.enable}: which vectors (0..count-1 of the index) and how the
 * resulting {@link Irq} delivers them. Vectors outside the index, or already enabled, throw
 * {@link InvalidArgumentError}.
 */
export interface EnableOptions extends IrqOptions {
  /** The vectors to enable, any order, may be sparse. */
  vectors?: readonly number[];
  /** Or: this many vectors from 0. Default (neither given): vector 0. */
  count?: number;
  /**
   * MSI / MSI-X: allocate at least this many vectors at enable time, so that adding vectors below
   * it later needs no disable/re-enable (which can lose interrupts) on non-resizable indexes.
   */
  reserve?: number;
}

/** @internal What an index needs from the device's set of indexes (IrqControl, control.ts). */
export interface IndexSet {
  readonly backend: IrqBackend;
  /** Throws if enabling target would break a rule between indexes. */
  checkExclusive(target: IrqIndex): void;
  warnBusMaster(name: string): void;
  /** An explicit REQ enable replaces the one a listener enabled. */
  dropAutoReq(): void;
}

/**
 * One IRQ index of a device (`dev.irq('MSIX')`): enables vectors into {@link Irq}s, and masks,
 * unmasks or triggers the index through VFIO_DEVICE_SET_IRQS. After the device closes, every
 * method throws {@link ClosedError}; a kernel refusal is a {@link VfioError} with its errno.
 */
export class IrqIndex implements IrqOwner {
  /** 'INTX', 'MSI', 'MSIX', 'ERR' or 'REQ' on vfio-pci (`irq<N>` otherwise). */
  readonly name: string;
  /** The VFIO IRQ index (0..4 on vfio-pci). */
  readonly index: number;
  /** VFIO_DEVICE_GET_IRQ_INFO as read at open: flags and vector count. */
  readonly info: DeviceIrqInfo;
  private readonly control: IndexSet;
  private state: IndexState = EMPTY_STATE;
  private readonly owners = new Map<number, Irq>();

  /** @internal */
  /** @internal Created by the device (`dev.irq(name)`). */
  constructor(control: IndexSet, info: DeviceIrqInfo) {
    this.control = control;
    this.info = info;
    this.name = info.name;
    this.index = info.index;
  }

  /** The device's label (its BDF). */
  get device(): string {
    return this.control.backend.device;
  }
  /** Whether the kernel accepts mask() and unmask() for this index (INTx: yes; MSI/MSI-X: usually not). */
  get maskable(): boolean {
    return this.info.flags.maskable;
  }
  /** Whether the kernel masks the line itself on each interrupt (INTx), so it must be unmasked after handling. */
  get automasked(): boolean {
    return this.info.flags.automasked;
  }
  /** Vectors this index has on the device. */
  get count(): number {
    return this.info.count;
  }
  /** Whether any vector of the index is enabled now. */
  get enabled(): boolean {
    return this.state.active.size > 0;
  }
  /** Live vectors, ascending. */
  get vectors(): number[] {
    return [...this.state.active.keys()].sort((a, b) => a - b);
  }
  /** Vectors the kernel allocated (MSI/MSI-X): additions below this need no re-enable. */
  get allocated(): number {
    return this.state.allocated;
  }
  /** The live Irq objects on this index. */
  get irqs(): Irq[] {
    return [...new Set(this.owners.values())];
  }

  private get shape(): IndexShape {
    const msi =
      this.control.backend.pci && (this.index === VFIO_PCI_MSI_IRQ_INDEX || this.index === VFIO_PCI_MSIX_IRQ_INDEX);
    return {
      index: this.index,
      kind: msi ? 'msi' : 'single',
      count: this.info.count,
      resizable: msi && this.index === VFIO_PCI_MSIX_IRQ_INDEX && !this.info.flags.noresize,
    };
  }

  /** Enables vectors, each with its own eventfd, and returns them as one Irq. */
  enable(o: EnableOptions = {}): Irq {
    const op = `${this.name}.enable`;
    this.control.backend.live(op);
    const opts = optionsArg(op, o);
    if (opts.vectors !== undefined && opts.count !== undefined)
      throw invalidArgument(op, 'give vectors or count, not both', { device: this.device });
    this.requireImplemented(op);
    const vectors = requestedVectors(opts, op, this.info.count);
    if (this.control.backend.pci && this.index === VFIO_PCI_REQ_IRQ_INDEX) this.control.dropAutoReq();
    this.checkVectors(op, vectors);
    this.control.checkExclusive(this);
    if (this.control.backend.pci && this.index === VFIO_PCI_INTX_IRQ_INDEX) this.control.backend.allowIntx();
    if (this.shape.kind === 'msi' && !this.control.backend.busMaster()) this.control.warnBusMaster(this.name);
    const sink =
      this.control.backend.pci && this.index === VFIO_PCI_REQ_IRQ_INDEX
        ? (count: number) => this.control.backend.emitReleaseRequest(count)
        : undefined;
    const irq = new Irq(this, { ...opts, sink: opts.sink ?? sink });
    this.attachVectors(irq, vectors, opts.reserve ?? 0);
    this.control.backend.own(irq);
    return irq;
  }

  /** Disables every Irq on this index. */
  disable(): void {
    for (const irq of this.irqs) irq.disable();
  }

  private requireImplemented(op: string): void {
    const others = this.control.backend.irqs
      .filter((i) => i.count > 0 && i.flags.eventfd)
      .map((i) => `${i.name} (${i.count})`);
    const hint = `this device has: ${others.join(', ') || 'no eventfd interrupts'}`;
    if (this.info.count === 0)
      throw notSupported(op, `${this.device} has no ${this.name} interrupt (the kernel reports 0 vectors)`, {
        device: this.device,
        hint,
      });
    if (!this.info.flags.eventfd)
      throw notSupported(op, `${this.name} cannot signal an eventfd`, { device: this.device, hint });
  }

  private checkVectors(op: string, vectors: readonly number[]): void {
    const ctx = { device: this.device };
    if (vectors.length === 0) throw invalidArgument(op, 'no vectors given', ctx);
    for (const v of vectors) {
      if (!Number.isInteger(v) || v < 0 || v >= this.info.count) {
        throw invalidArgument(
          op,
          `vector ${describeValue(v)} is out of range: ${this.name} has ${this.info.count} vector(s) (0–${this.info.count - 1})`,
          { ...ctx, code: 'ERANGE', hint: vectorRangeHint(this.name, this.info.count) },
        );
      }
    }
    const dup = vectors.find((v, i) => vectors.indexOf(v) !== i);
    if (dup !== undefined) throw invalidArgument(op, `vector ${dup} is given twice`, ctx);
    const live = vectors.filter((v) => this.state.active.has(v));
    if (live.length) {
      throw new BusyError({
        code: 'EBUSY',
        op,
        device: this.device,
        message: `${op}: ${this.name} vector(s) ${live.join(', ')} are already enabled`,
        hint: vectorConflictHint(this.name),
      });
    }
  }

  /** @internal Opens a tap per vector and attaches them in the kernel; nothing is left on failure. */
  private attachVectors(irq: Irq, vectors: readonly number[], reserve: number): void {
    const taps: IrqTap[] = [];
    try {
      for (const v of vectors) taps.push(this.control.backend.openTap(v, (count) => irq.deliver(v, count)));
      this.run(planAdd(this.shape, this.state, new Map(taps.map((t) => [t.vector, t.fd])), reserve));
    } catch (e) {
      for (const t of taps) {
        try {
          t.close();
        } catch {
          // The failure that brought us here is the one to report; the tap is closed regardless.
        }
      }
      throw e;
    }
    for (const t of taps) {
      irq.attach(t);
      this.owners.set(t.vector, irq);
    }
  }

  /**
   * Enables more vectors into an existing Irq of this index (MSI/MSI-X). Throws
   * {@link InvalidArgumentError} for a single-vector index or vectors that are out of range or taken.
   */
  add(irq: Irq, vectors: readonly number[]): void {
    const op = `${this.name}.add`;
    this.control.backend.live(op);
    if (this.shape.kind === 'single') {
      throw invalidArgument(op, `${this.name} has a single vector, already enabled`, { device: this.device });
    }
    this.checkVectors(op, vectors);
    this.attachVectors(irq, vectors, 0);
  }

  remove(irq: Irq, vectors: readonly number[]): void {
    const mine = vectors.filter((v) => this.owners.get(v) === irq);
    try {
      this.run(planRemove(this.shape, this.state, mine));
    } finally {
      for (const v of mine) this.owners.delete(v);
      if (![...this.owners.values()].includes(irq)) this.control.backend.disown(irq);
    }
  }

  /** Makes the kernel signal `vector`'s eventfd as if the device had interrupted (ACTION_TRIGGER, DATA_NONE). */
  trigger(vector: number): void {
    this.call('trigger', triggerCall(this.index, vector));
  }

  /**
   * Masks the whole index in the kernel (ACTION_MASK). vfio-pci masks only INTx: for MSI and
   * MSI-X it answers `ENOTTY`, thrown as a {@link NotSupportedError}.
   */
  mask(): void {
    this.call('mask', {
      flags: VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_MASK,
      index: this.index,
      start: 0,
      count: 1,
      fds: null,
    });
  }

  /** Unmasks the whole index (ACTION_UNMASK), e.g. after an automasked INTx was handled. */
  unmask(): void {
    this.call('unmask', {
      flags: VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_UNMASK,
      index: this.index,
      start: 0,
      count: 1,
      fds: null,
    });
  }

  private call(what: string, c: SetIrqsCall): void {
    const r = this.control.backend.setIrqs(c);
    if (r < 0) throw this.setIrqsError(-r, c, what);
  }

  private setIrqsError(errno: number, c: SetIrqsCall, what: string): VfioError {
    const range =
      c.count === 0
        ? 'all vectors'
        : c.count === 1
          ? `vector ${c.start}`
          : `vectors ${c.start}–${c.start + c.count - 1}`;
    const hint = setIrqsHint(errnoName(errno), this.name, what);
    return errnoError(errno, 'VFIO_DEVICE_SET_IRQS', {
      device: this.device,
      detail: `${this.name} ${what}, ${range}`,
      hint,
    });
  }

  /** Runs a plan's calls; on failure the index is put back as it was (or, failing that, off). */
  private run(plan: Plan): void {
    const done: SetIrqsCall[] = [];
    for (const c of plan.calls) {
      const r = this.control.backend.setIrqs(c);
      if (r === 0) {
        done.push(c);
        continue;
      }
      // A first MSI/MSI-X enable returns how many vectors the kernel could allocate, if fewer.
      const err =
        r < 0
          ? this.setIrqsError(-r, c, c.fds ? 'attach' : 'disable')
          : new VfioError({
              code: 'ENOSPC',
              op: 'VFIO_DEVICE_SET_IRQS',
              device: this.device,
              message: `VFIO_DEVICE_SET_IRQS: the kernel could allocate only ${r} ${this.name} vector(s) of the ${c.start + c.count} asked for`,
              hint: `enable fewer or lower-numbered vectors (the allocation covers 0 to the highest vector), or free interrupt vectors elsewhere`,
            });
      this.rollBack(plan, done);
      throw err;
    }
    this.state = plan.next;
  }

  private rollBack(plan: Plan, done: readonly SetIrqsCall[]): void {
    const be = this.control.backend;
    if (plan.reenable) {
      // The index went off with the first call: bring the old vectors back, or leave it off.
      const back = planAdd(this.shape, EMPTY_STATE, this.state.active, this.state.allocated);
      const ok = back.calls.every((c) => be.setIrqs(c) === 0);
      if (!ok) this.lose();
      return;
    }
    // Earlier calls of this plan attached new vectors only: detach them again (fd -1 each).
    for (const c of done) {
      if (c.fds) be.setIrqs({ ...c, fds: c.fds.map(() => -1) });
    }
  }

  /** The kernel dropped every vector and would not take them back: their Irqs end. */
  private lose(): void {
    this.state = EMPTY_STATE;
    const irqs = this.irqs;
    this.owners.clear();
    for (const irq of irqs) irq.disable();
  }
}
