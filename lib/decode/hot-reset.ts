// struct vfio_pci_hot_reset_info (VFIO_DEVICE_GET_PCI_HOT_RESET_INFO): the devices a bus or slot
// reset would also hit. The kernel fails with ENOSPC when the buffer is short but still writes
// `count`, so the caller sizes the second call from hotResetInfoRequiredSize().
import {
  SIZEOF,
  VFIO_PCI_DEVID_OWNED,
  VFIO_PCI_HOT_RESET_FLAG_DEV_ID,
  VFIO_PCI_HOT_RESET_FLAG_DEV_ID_OWNED,
} from '../abi';
import { i32, u16, u32, u8 } from './bytes';
import { DecodeError } from './errors';
import { formatBdf } from './sysfs';

/** sizeof(struct vfio_pci_hot_reset_info) without its devices[]. */
export const HOT_RESET_INFO_SIZE = SIZEOF.vfio_pci_hot_reset_info;
/** sizeof(struct vfio_pci_dependent_device). */
export const DEPENDENT_DEVICE_SIZE = SIZEOF.vfio_pci_dependent_device;
const OP = 'vfio_pci_hot_reset_info';

/** One device a hot reset would also reset (struct vfio_pci_dependent_device). */
export interface DependentDevice {
  /** 'ssss:bb:dd.f'. */
  readonly bdf: string;
  /** PCI segment (domain). */
  readonly segment: number;
  /** Bus number. */
  readonly bus: number;
  /** Device and function, as one byte (slot << 3 | function). */
  readonly devfn: number;
  /** Device (slot) number, 0-31. */
  readonly slot: number;
  /** Function number, 0-7. */
  readonly func: number;
  /** IOMMU group id; set when the device was opened through a group (no DEV_ID flag). */
  readonly groupId: number | null;
  /**
   * iommufd device id; set when opened as a cdev (DEV_ID flag). VFIO_PCI_DEVID_OWNED (0): owned
   * implicitly through the same IOMMU group; VFIO_PCI_DEVID_NOT_OWNED (-1): blocks the reset.
   */
  readonly devid: number | null;
  /** For the cdev form: whether this device counts as owned by the caller. */
  readonly owned: boolean | null;
}

/** struct vfio_pci_hot_reset_info (VFIO_DEVICE_GET_PCI_HOT_RESET_INFO), decoded. */
export interface HotResetInfo {
  /** Bytes the kernel needs for every entry. */
  readonly argsz: number;
  /** The flags word as the kernel wrote it. */
  readonly rawFlags: number;
  /** True when entries carry devids (cdev) rather than group ids. */
  readonly devIdForm: boolean;
  /** cdev form only: every affected device is owned, so the reset needs no group fds. */
  readonly allOwned: boolean;
  /** Number of affected devices (entries may be fewer when the buffer was too small). */
  readonly count: number;
  /** The affected devices, this one included. */
  readonly devices: readonly DependentDevice[];
}

/** Bytes a buffer needs to hold `count` dependent devices. */
export function hotResetInfoSize(count: number): number {
  return HOT_RESET_INFO_SIZE + count * DEPENDENT_DEVICE_SIZE;
}

/** The size the kernel's answer needs, from the `count` it wrote even when it failed with ENOSPC. */
export function hotResetInfoRequiredSize(buf: Uint8Array): number {
  return hotResetInfoSize(u32(buf, 8, OP));
}

function dependentDevice(buf: Uint8Array, at: number, devIdForm: boolean): DependentDevice {
  const segment = u16(buf, at + 4, OP);
  const bus = u8(buf, at + 6, OP);
  const devfn = u8(buf, at + 7, OP);
  const slot = devfn >> 3;
  const func = devfn & 7;
  const devid = devIdForm ? i32(buf, at, OP) : null;
  return {
    bdf: formatBdf(segment, bus, slot, func),
    segment,
    bus,
    devfn,
    slot,
    func,
    groupId: devIdForm ? null : u32(buf, at, OP),
    devid,
    // A positive devid is owned through the caller's iommufd, OWNED (0) through the group;
    // NOT_OWNED (-1) and any other negative value block the reset.
    owned: devid === null ? null : devid >= VFIO_PCI_DEVID_OWNED,
  };
}

/** Decodes a complete answer; throws DecodeError if the buffer cannot hold `count` entries. */
export function decodeHotResetInfo(buf: Uint8Array): HotResetInfo {
  if (buf.length < HOT_RESET_INFO_SIZE) {
    throw new DecodeError(
      OP,
      0,
      `buffer of ${buf.length} bytes is shorter than the ${HOT_RESET_INFO_SIZE}-byte struct`,
    );
  }
  const rawFlags = u32(buf, 4, OP);
  const count = u32(buf, 8, OP);
  if (hotResetInfoSize(count) > buf.length) {
    throw new DecodeError(
      OP,
      HOT_RESET_INFO_SIZE,
      `${count} devices need ${hotResetInfoSize(count)} bytes, the buffer has ${buf.length}`,
    );
  }
  const devIdForm = (rawFlags & VFIO_PCI_HOT_RESET_FLAG_DEV_ID) !== 0;
  const devices: DependentDevice[] = [];
  for (let i = 0; i < count; i++) {
    devices.push(dependentDevice(buf, HOT_RESET_INFO_SIZE + i * DEPENDENT_DEVICE_SIZE, devIdForm));
  }
  return {
    argsz: u32(buf, 0, OP),
    rawFlags,
    devIdForm,
    allOwned: devIdForm && (rawFlags & VFIO_PCI_HOT_RESET_FLAG_DEV_ID_OWNED) !== 0,
    count,
    devices,
  };
}
