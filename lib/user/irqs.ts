// The device's interrupts as the client set them up with DEVICE_SET_IRQS: one eventfd per
// vector and index (INTx, MSI, MSI-X), which the server signals to interrupt the guest.
import {
  VFIO_IRQ_INFO_AUTOMASKED,
  VFIO_IRQ_INFO_EVENTFD,
  VFIO_IRQ_INFO_MASKABLE,
  VFIO_IRQ_INFO_NORESIZE,
  VFIO_IRQ_SET_ACTION_MASK,
  VFIO_IRQ_SET_ACTION_TRIGGER,
  VFIO_IRQ_SET_ACTION_UNMASK,
  VFIO_PCI_INTX_IRQ_INDEX,
  VFIO_PCI_MSIX_IRQ_INDEX,
  VFIO_PCI_MSI_IRQ_INDEX,
  VFIO_PCI_NUM_IRQS,
} from '../abi';
import { native } from '../addon';
import type { DeviceDescription } from './model';
import type { SetIrqs } from './protocol';

const EINVAL = 22;
const ONE = new Uint8Array(new BigUint64Array([1n]).buffer);

export class Irqs {
  /** fds[index][vector]: the eventfd, or -1. */
  private readonly fds: number[][];
  private intxMasked = false;
  readonly counts: number[];

  constructor(desc: DeviceDescription) {
    this.counts = new Array<number>(VFIO_PCI_NUM_IRQS).fill(0);
    this.counts[VFIO_PCI_INTX_IRQ_INDEX] = desc.interruptPin ? 1 : 0;
    for (const cap of desc.capabilities ?? []) {
      if (cap.type === 'msi') this.counts[VFIO_PCI_MSI_IRQ_INDEX] = cap.vectors;
      if (cap.type === 'msix') this.counts[VFIO_PCI_MSIX_IRQ_INDEX] = cap.vectors;
    }
    this.fds = this.counts.map((n) => new Array<number>(n).fill(-1));
  }

  /** GET_IRQ_INFO flags of an index. */
  infoFlags(index: number): number {
    if (index === VFIO_PCI_INTX_IRQ_INDEX)
      return VFIO_IRQ_INFO_EVENTFD | VFIO_IRQ_INFO_MASKABLE | VFIO_IRQ_INFO_AUTOMASKED;
    if (index === VFIO_PCI_MSI_IRQ_INDEX) return VFIO_IRQ_INFO_EVENTFD | VFIO_IRQ_INFO_NORESIZE;
    return VFIO_IRQ_INFO_EVENTFD;
  }

  /** Applies a SET_IRQS; takes ownership of fds. Returns 0 or the errno for the reply. */
  set(s: SetIrqs, fds: number[]): number {
    const reject = (errno: number): number => {
      for (const fd of fds) native().close(fd);
      return errno;
    };
    if (s.index >= VFIO_PCI_NUM_IRQS) return reject(EINVAL);
    const count = this.counts[s.index];
    if (s.data !== 'eventfd' && fds.length) return reject(EINVAL);
    // count 0 with DATA_NONE|TRIGGER: every vector of the index off.
    if (s.data === 'none' && s.action === VFIO_IRQ_SET_ACTION_TRIGGER && s.count === 0) {
      if (s.start !== 0) return EINVAL;
      this.release(s.index);
      return 0;
    }
    // A de-assign (no descriptors) of vectors past the count frees what exists.
    if (s.data === 'eventfd' && fds.length === 0 && s.start <= count)
      s = { ...s, count: Math.min(s.count, count - s.start) };
    if (s.start + s.count > count) return reject(EINVAL);
    if (s.data === 'eventfd') {
      // No descriptors: de-assign the vectors; else one per vector.
      if (fds.length !== 0 && fds.length !== s.count) return reject(EINVAL);
      if (s.action !== VFIO_IRQ_SET_ACTION_TRIGGER) return reject(EINVAL); // mask/unmask notifiers: not offered
      for (let i = 0; i < s.count; i++) {
        const v = s.start + i;
        if (this.fds[s.index][v] >= 0) native().close(this.fds[s.index][v]);
        this.fds[s.index][v] = fds.length ? fds[i] : -1;
      }
      if (s.index === VFIO_PCI_INTX_IRQ_INDEX) this.intxMasked = false;
      return 0;
    }
    for (let i = 0; i < s.count; i++) {
      if (s.data === 'bool' && !s.bools?.[i]) continue;
      const v = s.start + i;
      if (s.action === VFIO_IRQ_SET_ACTION_TRIGGER) this.signal(s.index, v);
      else if (s.index === VFIO_PCI_INTX_IRQ_INDEX) this.intxMasked = s.action === VFIO_IRQ_SET_ACTION_MASK;
      else if (s.action !== VFIO_IRQ_SET_ACTION_MASK && s.action !== VFIO_IRQ_SET_ACTION_UNMASK) return EINVAL;
    }
    return 0;
  }

  private signal(index: number, vector: number): boolean {
    const fd = this.fds[index]?.[vector] ?? -1;
    if (fd < 0) return false;
    if (index === VFIO_PCI_INTX_IRQ_INDEX) {
      if (this.intxMasked) return false;
      this.intxMasked = true; // automasked: the client unmasks after its handler ran
    }
    return native().write(fd, ONE) === 8;
  }

  /** Signals `vector` on MSI-X if armed, else MSI, else INTx (vector 0). */
  raise(vector: number): boolean {
    for (const index of [VFIO_PCI_MSIX_IRQ_INDEX, VFIO_PCI_MSI_IRQ_INDEX]) {
      if (this.fds[index].some((fd) => fd >= 0)) return this.signal(index, vector);
    }
    return vector === 0 && this.signal(VFIO_PCI_INTX_IRQ_INDEX, 0);
  }

  /** Which vectors of an index have an eventfd (for tests and diagnostics). */
  armed(index: number): number[] {
    return (this.fds[index] ?? []).flatMap((fd, v) => (fd >= 0 ? [v] : []));
  }

  private release(index: number): void {
    const list = this.fds[index];
    for (let v = 0; v < list.length; v++) {
      if (list[v] >= 0) native().close(list[v]);
      list[v] = -1;
    }
  }

  releaseAll(): void {
    for (let i = 0; i < this.fds.length; i++) this.release(i);
    this.intxMasked = false;
  }
}
