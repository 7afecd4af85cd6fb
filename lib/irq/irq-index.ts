// One IRQ index of a device (INTx, MSI, MSI-X, ERR, REQ for vfio-pci): which of its vectors are
// live and in which Irq, the device-wide rules between indexes, and the SET_IRQS calls that
// lib/irq/plan.ts works out. Everything device-specific comes through IrqBackend, so the same
// code runs against the kernel and against a test double.
import {
  VFIO_IRQ_SET_ACTION_MASK,
  VFIO_IRQ_SET_ACTION_UNMASK,
  VFIO_IRQ_SET_DATA_NONE,
  VFIO_PCI_INTX_IRQ_INDEX,
  VFIO_PCI_MSIX_IRQ_INDEX,
  VFIO_PCI_MSI_IRQ_INDEX,
  VFIO_PCI_REQ_IRQ_INDEX,
} from '../abi';
import type { IrqInfo } from '../decode';
import { BusyError, VfioError, errnoError, errnoName, invalidArgument, notSupported } from '../errors';
import { describeValue, optionsArg } from '../errors/args';
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

/** One IRQ index as a device reports it, named. */
export interface DeviceIrqInfo extends IrqInfo {
  /** 'INTX', 'MSI', 'MSIX', 'ERR', 'REQ' for vfio-pci, else `IRQ<n>`. */
  readonly name: string;
}

/** What the IRQ code needs from a device. */
export interface IrqBackend {
  readonly device: string;
  readonly pci: boolean;
  readonly irqs: readonly DeviceIrqInfo[];
  /** Throws the device's closed error once it is closed. */
  live(op: string): void;
  /** VFIO_DEVICE_SET_IRQS: the kernel's result (>= 0, or -errno). */
  setIrqs(call: SetIrqsCall): number;
  /** A watched eventfd for one vector, calling back with its counter on the event loop. */
  openTap(vector: number, onCount: (count: number) => void): IrqTap;
  own(irq: Irq): void;
  disown(irq: Irq): void;
  /** INTx is delivered only while PCI_COMMAND.INTX_DISABLE is clear in the (virtual) config space. */
  allowIntx(): void;
  /** Whether the device may master the bus: MSI and MSI-X messages are memory writes. */
  busMaster(): boolean;
  emitReleaseRequest(count: number): void;
}

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

const EXCLUSIVE = [VFIO_PCI_INTX_IRQ_INDEX, VFIO_PCI_MSI_IRQ_INDEX, VFIO_PCI_MSIX_IRQ_INDEX];

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
  private readonly control: IrqControl;
  private state: IndexState = EMPTY_STATE;
  private readonly owners = new Map<number, Irq>();

  /** @internal */
  /** @internal Created by the device (`dev.irq(name)`). */
  constructor(control: IrqControl, info: DeviceIrqInfo) {
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

/** The IRQ indexes of one device and the rules between them. */
export class IrqControl {
  readonly backend: IrqBackend;
  private readonly indexes = new Map<number, IrqIndex>();
  private autoReq: Irq | undefined;
  private warnedBusMaster = false;

  constructor(backend: IrqBackend) {
    this.backend = backend;
    for (const info of backend.irqs) this.indexes.set(info.index, new IrqIndex(this, info));
  }

  /** By name ('MSIX', 'MSI-X', 'msix', 'INTx', …) or by index number. */
  index(nameOrIndex: string | number): IrqIndex {
    const key =
      typeof nameOrIndex === 'number'
        ? nameOrIndex
        : typeof nameOrIndex === 'string'
          ? nameOrIndex.toUpperCase().replace(/[-_\s]/g, '')
          : undefined;
    for (const x of this.indexes.values()) {
      if (x.index === key || x.name.toUpperCase() === key) return x;
    }
    const names = [...this.indexes.values()].map((x) => `${x.name} (${x.index})`).join(', ');
    throw invalidArgument(
      'Device.irq',
      `${this.backend.device} has no IRQ index ${describeValue(nameOrIndex)}; it has ${names}`,
      { device: this.backend.device },
    );
  }

  /** MSI, MSI-X and INTx exclude each other in vfio-pci: only one of them is on at a time. */
  checkExclusive(target: IrqIndex): void {
    if (!this.backend.pci || !EXCLUSIVE.includes(target.index)) return;
    for (const other of this.indexes.values()) {
      if (other === target || !EXCLUSIVE.includes(other.index) || !other.enabled) continue;
      throw new BusyError({
        code: 'EBUSY',
        op: `${target.name}.enable`,
        device: this.backend.device,
        message: `${target.name}.enable: cannot enable ${target.name} while ${other.name} is enabled (vectors ${other.vectors.join(', ')})`,
        hint: `vfio-pci runs one of INTx, MSI and MSI-X at a time: disable ${other.name} first (dev.irq('${other.name}').disable())`,
      });
    }
  }

  /** Not an error (software triggers work, and bus mastering may come later), but a classic trap. */
  warnBusMaster(name: string): void {
    if (this.warnedBusMaster) return;
    this.warnedBusMaster = true;
    process.emitWarning(
      `${this.backend.device}: ${name} enabled while bus mastering is off: the device cannot send its ` +
        `interrupt messages until dev.config.busMaster = true`,
      { code: 'VFIO_MSI_NO_BUS_MASTER' },
    );
  }

  /**
   * A 'release-request' listener was added to the device: enable REQ if nobody has. The REQ
   * Irq does not hold the process open (a release request is not work to wait for).
   */
  watchRelease(): void {
    const req = this.indexes.get(VFIO_PCI_REQ_IRQ_INDEX);
    if (!this.backend.pci || !req || req.count === 0 || req.enabled) return;
    this.autoReq = req.enable();
  }

  /** @internal An explicit REQ enable replaces the one a listener enabled. */
  dropAutoReq(): void {
    const irq = this.autoReq;
    this.autoReq = undefined;
    irq?.disable();
  }
}
