// A model of vfio-pci's interrupt code (drivers/vfio/pci/vfio_pci_intrs.c, and the argument
// checks of vfio_set_irqs_validate_and_prepare) with fake eventfds delivered on the event loop,
// so the IRQ layer can be driven on any machine through its IrqBackend. It follows the kernel
// where a wrong call would fail there: exclusive INTx/MSI/MSI-X, the enable-time allocation
// (start + count vectors), dynamic MSI-X, automasked INTx, ERR/REQ single triggers.
import * as os from 'os';
import * as abi from '../../lib/abi';
import { DeviceIrqInfo } from '../../lib/device/device';
import { Irq, IrqTap } from '../../lib/irq/irq';
import type { IrqBackend } from '../../lib/irq/backend';
import { IrqControl } from '../../lib/irq/control';
import { SetIrqsCall } from '../../lib/irq/plan';
import { must } from '../support/must';

const E = os.constants.errno;
const INTX = abi.VFIO_PCI_INTX_IRQ_INDEX;
const MSI = abi.VFIO_PCI_MSI_IRQ_INDEX;
const MSIX = abi.VFIO_PCI_MSIX_IRQ_INDEX;
const ERR = abi.VFIO_PCI_ERR_IRQ_INDEX;
const REQ = abi.VFIO_PCI_REQ_IRQ_INDEX;

/** Where the model's eventfds come from: fakes here, real ones in irq-native.test.ts. */
export interface EventfdLayer {
  tap(vector: number, onCount: (count: number) => void): IrqTap;
  /** eventfd_signal(): adds 1 to the counter. */
  signal(fd: number): void;
  isOpen(fd: number): boolean;
}

/** Eventfds without a kernel: a counter per fd, read on a later turn of the event loop. */
export class FakeEventfds implements EventfdLayer {
  private nextFd = 100;
  readonly open = new Map<number, { counter: number; scheduled: boolean; cb: (n: number) => void; refd: boolean }>();

  tap(vector: number, onCount: (count: number) => void): IrqTap {
    const fd = this.nextFd++;
    const entry = { counter: 0, scheduled: false, cb: onCount, refd: false };
    this.open.set(fd, entry);
    return {
      vector,
      fd,
      ref: (on) => {
        entry.refd = on;
      },
      close: () => {
        this.open.delete(fd);
      },
    };
  }

  isOpen(fd: number): boolean {
    return this.open.has(fd);
  }

  /** The reader sees the sum of everything signalled before it ran. */
  signal(fd: number): void {
    const e = this.open.get(fd);
    if (!e) return;
    e.counter++;
    if (e.scheduled) return;
    e.scheduled = true;
    setImmediate(() => {
      e.scheduled = false;
      if (!this.open.has(fd) || e.counter === 0) return;
      const n = e.counter;
      e.counter = 0;
      e.cb(n);
    });
  }

  refd(fd: number): boolean {
    return this.open.get(fd)?.refd ?? false;
  }
}

export interface ModelOptions {
  intx?: boolean;
  msi?: number;
  msix?: number;
  /** MSI-X vectors can be allocated after enable (VFIO_IRQ_INFO_NORESIZE clear). */
  dynMsix?: boolean;
  pcie?: boolean;
  /** Vectors the system can allocate at enable; fewer than asked returns the count (> 0). */
  maxAlloc?: number;
}

export class VfioPciModel<F extends EventfdLayer = FakeEventfds> {
  readonly fds: F;
  readonly calls: SetIrqsCall[] = [];
  irqType: number | undefined;
  /** Live MSI/MSI-X vectors → eventfd, and the vectors that have a Linux IRQ allocated. */
  readonly ctx = new Map<number, number>();
  readonly allocated = new Set<number>();
  intxTrigger: number | undefined;
  intxMasked = false;
  /** The virtual PCI_COMMAND.INTX_DISABLE bit. */
  virqDisabled = false;
  /** The device holds its INTx line asserted (level-triggered). */
  lineAsserted = false;
  errTrigger: number | undefined;
  reqTrigger: number | undefined;
  readonly released: number[] = [];
  busMaster = true;
  private readonly o: Required<ModelOptions>;

  constructor(o: ModelOptions = {}, fds?: F) {
    this.fds = fds ?? (new FakeEventfds() as EventfdLayer as F);
    this.o = { intx: true, msi: 1, msix: 0, dynMsix: false, pcie: false, maxAlloc: 1 << 20, ...o };
  }

  irqInfo(): DeviceIrqInfo[] {
    const info = (index: number, count: number, flags: number): DeviceIrqInfo => ({
      argsz: 16,
      rawFlags: flags,
      index,
      count,
      name: abi.pciIrqIndexName(index),
      flags: {
        eventfd: (flags & abi.VFIO_IRQ_INFO_EVENTFD) !== 0,
        maskable: (flags & abi.VFIO_IRQ_INFO_MASKABLE) !== 0,
        automasked: (flags & abi.VFIO_IRQ_INFO_AUTOMASKED) !== 0,
        noresize: (flags & abi.VFIO_IRQ_INFO_NORESIZE) !== 0,
      },
    });
    const EV = abi.VFIO_IRQ_INFO_EVENTFD;
    const NORESIZE = abi.VFIO_IRQ_INFO_NORESIZE;
    return [
      info(INTX, this.o.intx ? 1 : 0, EV | abi.VFIO_IRQ_INFO_MASKABLE | abi.VFIO_IRQ_INFO_AUTOMASKED),
      info(MSI, this.o.msi, EV | NORESIZE),
      info(MSIX, this.o.msix, EV | (this.o.dynMsix ? 0 : NORESIZE)),
      info(ERR, this.o.pcie ? 1 : 0, EV | NORESIZE),
      info(REQ, 1, EV | NORESIZE),
    ];
  }

  backend(device = '0000:00:04.0'): IrqBackend & { closed: boolean } {
    const b = {
      device,
      pci: true,
      irqs: this.irqInfo(),
      closed: false,
      live: (op: string) => {
        if (b.closed) throw new Error(`${op}: closed`);
      },
      setIrqs: (c: SetIrqsCall) => this.setIrqs(c),
      openTap: (v: number, cb: (n: number) => void) => this.fds.tap(v, cb),
      own: () => undefined,
      disown: () => undefined,
      allowIntx: () => {
        this.virqDisabled = false;
      },
      busMaster: () => this.busMaster,
      emitReleaseRequest: (n: number) => {
        this.released.push(n);
      },
    };
    return b;
  }

  private count(index: number): number {
    return this.irqInfo()[index]?.count ?? 0;
  }

  setIrqs(c: SetIrqsCall): number {
    this.calls.push(c);
    const n = this.count(c.index);
    if (c.index > REQ || c.start >= n || c.start + c.count > n) return -E.EINVAL;
    if (c.fds && c.fds.length !== c.count) return -E.EINVAL;
    const action = c.flags & abi.VFIO_IRQ_SET_ACTION_TYPE_MASK;
    const none = (c.flags & abi.VFIO_IRQ_SET_DATA_NONE) !== 0;
    const eventfd = (c.flags & abi.VFIO_IRQ_SET_DATA_EVENTFD) !== 0;
    for (const fd of c.fds ?? []) if (fd >= 0 && !this.fds.isOpen(fd)) return -E.EBADF;
    switch (c.index) {
      case INTX:
        return this.intx(action, c, none, eventfd);
      case MSI:
      case MSIX:
        return action === abi.VFIO_IRQ_SET_ACTION_TRIGGER ? this.msi(c, none, eventfd) : -E.ENOTTY;
      case ERR:
      case REQ: {
        if (c.index === ERR && !this.o.pcie) return -E.ENOTTY;
        if (action !== abi.VFIO_IRQ_SET_ACTION_TRIGGER) return -E.ENOTTY;
        if (c.start !== 0 || c.count > 1) return -E.EINVAL;
        const key = c.index === ERR ? 'errTrigger' : 'reqTrigger';
        const cur = this[key];
        if (none) {
          if (cur === undefined) return -E.EINVAL;
          if (c.count) this.fds.signal(cur);
          else this[key] = undefined;
          return 0;
        }
        if (!eventfd || c.count === 0) return -E.EINVAL;
        const fd = must(c.fds, 'the eventfd list of an eventfd trigger')[0];
        this[key] = fd >= 0 ? fd : undefined;
        return 0;
      }
    }
    return -E.EINVAL;
  }

  private intx(action: number, c: SetIrqsCall, none: boolean, eventfd: boolean): number {
    const isIntx = this.irqType === INTX;
    if (action === abi.VFIO_IRQ_SET_ACTION_MASK || action === abi.VFIO_IRQ_SET_ACTION_UNMASK) {
      if (!isIntx || c.start !== 0 || c.count !== 1 || !none) return -E.EINVAL;
      if (action === abi.VFIO_IRQ_SET_ACTION_MASK) this.intxMasked = true;
      else if (this.intxMasked && !this.virqDisabled) {
        // pci_check_and_unmask_intx(): a still-asserted line stays masked and is sent again.
        if (this.lineAsserted) this.signalIntx();
        else this.intxMasked = false;
      }
      return 0;
    }
    if (isIntx && c.count === 0 && none) {
      this.irqType = undefined;
      this.intxTrigger = undefined;
      return 0;
    }
    if (!(isIntx || this.irqType === undefined) || c.start !== 0 || c.count !== 1) return -E.EINVAL;
    if (eventfd) {
      const fd = must(c.fds, 'c.fds')[0];
      if (!isIntx) {
        this.irqType = INTX;
        this.intxMasked = this.virqDisabled;
      }
      this.intxTrigger = fd >= 0 ? fd : undefined;
      return 0;
    }
    if (!isIntx) return -E.EINVAL;
    this.signalIntx();
    return 0;
  }

  private signalIntx(): void {
    if (this.irqType === INTX && !this.virqDisabled && this.intxTrigger !== undefined)
      this.fds.signal(this.intxTrigger);
  }

  private msi(c: SetIrqsCall, none: boolean, eventfd: boolean): number {
    const msix = c.index === MSIX;
    if (this.irqType === c.index && c.count === 0 && none) {
      this.disableMsi();
      return 0;
    }
    if (!(this.irqType === c.index || this.irqType === undefined)) return -E.EINVAL;
    if (eventfd) {
      if (this.irqType === c.index) return this.setBlock(c, msix);
      const nvec = c.start + c.count;
      if (nvec > this.o.maxAlloc) return this.o.maxAlloc;
      this.irqType = c.index;
      for (let v = 0; v < nvec; v++) this.allocated.add(v);
      const r = this.setBlock(c, msix);
      if (r) this.disableMsi();
      return r;
    }
    if (this.irqType !== c.index) return -E.EINVAL;
    for (let v = c.start; v < c.start + c.count; v++) {
      const fd = this.ctx.get(v);
      if (fd !== undefined && none) this.fds.signal(fd);
    }
    return 0;
  }

  private setBlock(c: SetIrqsCall, msix: boolean): number {
    let j = c.start;
    let ret = 0;
    for (let i = 0; i < c.count && !ret; i++, j++) {
      this.ctx.delete(j);
      const fd = must(c.fds, 'c.fds')[i];
      if (fd < 0) continue;
      if (!this.allocated.has(j)) {
        if (!msix || !this.o.dynMsix) {
          ret = -E.EINVAL;
          break;
        }
        this.allocated.add(j);
      }
      this.ctx.set(j, fd);
    }
    if (ret) for (let v = c.start; v < j; v++) this.ctx.delete(v);
    return ret;
  }

  private disableMsi(): void {
    this.ctx.clear();
    this.allocated.clear();
    this.irqType = undefined;
  }

  // --- the device side ---

  /** The device asserts INTx (edu's raise register without MSI). */
  raiseIntx(): void {
    this.lineAsserted = true;
    if (this.irqType !== INTX || this.intxMasked || this.virqDisabled) return;
    this.intxMasked = true; // the kernel's handler masks before signalling (AUTOMASKED)
    this.signalIntx();
  }

  /** The driver acknowledged the device: the line drops. */
  lowerIntx(): void {
    this.lineAsserted = false;
  }

  /** The device writes an MSI/MSI-X message for a vector. */
  raiseMsi(vector: number): void {
    const fd = this.ctx.get(vector);
    if (fd !== undefined) this.fds.signal(fd);
  }
}

/** Resolves on the next turn of the event loop after everything already scheduled. */
export function settle(): Promise<void> {
  return new Promise((r) => setImmediate(() => setImmediate(r)));
}

const live: IrqControl[] = [];

/** A model and the IRQ layer driven through it; closeLiveIrqs() switches them off again. */
export function setupIrqs(o: ModelOptions = {}): { model: VfioPciModel; irqs: IrqControl } {
  const model = new VfioPciModel(o);
  const irqs = new IrqControl(model.backend());
  live.push(irqs);
  return { model, irqs };
}

/** Disables every index of the IRQ layers setupIrqs() made since the last call (for afterEach). */
export function closeLiveIrqs(): void {
  for (const irqs of live.splice(0))
    for (const name of ['INTX', 'MSI', 'MSIX', 'ERR', 'REQ']) irqs.index(name).disable();
}

/** Collects ('interrupt', count, vector) events. */
export function record(irq: Irq): [number, number][] {
  const seen: [number, number][] = [];
  irq.on('interrupt', (count: number, vector: number) => seen.push([vector, count]));
  return seen;
}
