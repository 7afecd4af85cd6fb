// The device's side of the IRQ code: what IrqControl needs of an open device (its fd, its
// resource list, which closes interrupts first, its config space and its events), built from the
// device's public face so the IRQ layer never reaches into Device itself.
import { DeviceIrqInfo, IrqBackend } from '../irq/irq-index';
import { Tap } from '../irq/irq';
import { native } from '../addon/native';
import { ConfigSpace } from './config-space';
import { Closable, ResourcePhase } from './resources';

/** The parts of a Device its IRQ backend uses. */
export interface IrqBackendSource {
  readonly bdf: string;
  readonly info: { readonly flags: { readonly pci: boolean } };
  readonly irqs: readonly DeviceIrqInfo[];
  readonly config: ConfigSpace;
  fd(op: string): number;
  own(res: Closable, phase: ResourcePhase): void;
  disown(res: Closable, phase: ResourcePhase): void;
  emit(event: 'release-request', count: number): boolean;
}

/** The IRQ backend of an open device. */
export function deviceIrqBackend(dev: IrqBackendSource): IrqBackend {
  return {
    device: dev.bdf,
    pci: dev.info.flags.pci,
    irqs: dev.irqs,
    live: (op) => {
      dev.fd(op);
    },
    setIrqs: (c) =>
      native().VFIO_DEVICE_SET_IRQS(
        dev.fd('VFIO_DEVICE_SET_IRQS'),
        c.flags,
        c.index,
        c.start,
        c.count,
        c.fds ? Int32Array.from(c.fds) : null,
      ),
    openTap: (vector, onCount) => Tap.open(vector, onCount, dev.bdf),
    own: (irq) => dev.own(irq, 'irq'),
    disown: (irq) => dev.disown(irq, 'irq'),
    allowIntx: () => {
      // vfio-pci keeps a virtual DisINTx bit: while it is set the kernel masks INTx.
      if (dev.config.intxDisabled) dev.config.intxDisabled = false;
    },
    busMaster: () => dev.config.busMaster,
    emitReleaseRequest: (count) => {
      dev.emit('release-request', count);
    },
  };
}
