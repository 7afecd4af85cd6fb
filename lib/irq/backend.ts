// What the IRQ code needs from a device: the contract a device (lib/device/device.ts) or a test
// double implements, so that lib/irq/ runs the same code against either.
import type { IrqInfo } from '../decode';
import type { Irq, IrqTap } from './irq';
import type { SetIrqsCall } from './plan';

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
