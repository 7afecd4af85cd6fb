// The IRQ indexes of one device and the rules between them (vfio-pci runs one of INTx, MSI and
// MSI-X at a time; MSI needs bus mastering; a release-request listener enables REQ).
import {
  VFIO_PCI_INTX_IRQ_INDEX,
  VFIO_PCI_MSIX_IRQ_INDEX,
  VFIO_PCI_MSI_IRQ_INDEX,
  VFIO_PCI_REQ_IRQ_INDEX,
} from '../abi';
import { BusyError, invalidArgument } from '../errors';
import { describeValue } from '../errors/args';
import type { IrqBackend } from './backend';
import type { Irq } from './irq';
import { IrqIndex } from './irq-index';

const EXCLUSIVE = [VFIO_PCI_INTX_IRQ_INDEX, VFIO_PCI_MSI_IRQ_INDEX, VFIO_PCI_MSIX_IRQ_INDEX];

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
