// struct vfio_irq_info (VFIO_DEVICE_GET_IRQ_INFO).
import {
  SIZEOF,
  VFIO_IRQ_INFO_AUTOMASKED,
  VFIO_IRQ_INFO_EVENTFD,
  VFIO_IRQ_INFO_MASKABLE,
  VFIO_IRQ_INFO_NORESIZE,
} from '../abi';
import { u32 } from './bytes';
import { DecodeError } from './errors';

/** sizeof(struct vfio_irq_info). */
export const IRQ_INFO_SIZE = SIZEOF.vfio_irq_info;

/** VFIO_IRQ_INFO_* flags, decoded. */
export interface IrqFlags {
  /** Interrupts are signalled through eventfds. */
  readonly eventfd: boolean;
  /** The index can be masked and unmasked. */
  readonly maskable: boolean;
  /** The kernel masks the line on each interrupt (INTx): unmask after handling. */
  readonly automasked: boolean;
  /** Vectors cannot be added while enabled: enabling more needs a disable first. */
  readonly noresize: boolean;
}

/** struct vfio_irq_info (VFIO_DEVICE_GET_IRQ_INFO), decoded. */
export interface IrqInfo {
  /** Bytes of the struct as the kernel reported them. */
  readonly argsz: number;
  /** The flags word as the kernel wrote it. */
  readonly rawFlags: number;
  /** The flags, decoded. */
  readonly flags: IrqFlags;
  /** The IRQ index (0 INTx, 1 MSI, 2 MSI-X, 3 ERR, 4 REQ on vfio-pci). */
  readonly index: number;
  /** Vectors in this index; 0 means the interrupt type is not implemented. */
  readonly count: number;
}

/** Decodes a buffer filled by VFIO_DEVICE_GET_IRQ_INFO. */
export function decodeIrqInfo(buf: Uint8Array): IrqInfo {
  const op = 'vfio_irq_info';
  if (buf.length < IRQ_INFO_SIZE) {
    throw new DecodeError(op, 0, `buffer of ${buf.length} bytes is shorter than the ${IRQ_INFO_SIZE}-byte struct`);
  }
  const rawFlags = u32(buf, 4, op);
  return {
    argsz: u32(buf, 0, op),
    rawFlags,
    flags: {
      eventfd: (rawFlags & VFIO_IRQ_INFO_EVENTFD) !== 0,
      maskable: (rawFlags & VFIO_IRQ_INFO_MASKABLE) !== 0,
      automasked: (rawFlags & VFIO_IRQ_INFO_AUTOMASKED) !== 0,
      noresize: (rawFlags & VFIO_IRQ_INFO_NORESIZE) !== 0,
    },
    index: u32(buf, 8, op),
    count: u32(buf, 12, op),
  };
}
