// What every IOMMU backend offers a device: a way to open it (the device fd) and one IOVA
// address space that DMA mappings go into. Type1Context (group + container) and IommufdContext
// (device cdev + IOAS, and the unsafe no-IOMMU mode) implement it; Device.open() picks one
// (backend.ts) or joins the one it is given, so several devices can share one set of mappings.
import type { DmaBuffer } from '../dma/buffer';
import type { DmaMapping } from '../dma/buffer';
import type { DmaMapOptions } from '../dma/map';
import type { DmaBuf } from '../dma/dmabuf';
import type { DmaBufMapOptions, IoasFileMapping } from './ioas-file';
import type { IovaRange } from '../dma/iova';

/**
 * How a device reaches the IOMMU:
 * - 'type1': the legacy container (/dev/vfio/vfio) and group (/dev/vfio/N) API, type1v2 IOMMU
 *   (or the original type1: `iommuType`);
 * - 'iommufd-compat': the same API with /dev/iommu standing in for the container;
 * - 'iommufd': the device cdev (/dev/vfio/devices/vfioN) bound to /dev/iommu, mappings in an IOAS;
 * - 'noiommu': no IOMMU at all (unsafe): the no-IOMMU cdev with an IOAS whose mappings are only
 *   pinned memory with physical addresses, or the no-IOMMU group without any DMA API.
 */
export type BackendName = 'type1' | 'iommufd-compat' | 'iommufd' | 'noiommu';
/** What Device.open() accepts: a backend, or 'auto' (see chooseBackend in backend.ts). */
export type BackendChoice = BackendName | 'auto';
/** The IOMMU model behind a context: the uAPI family, or none. */
export type IommuKind = 'type1' | 'iommufd' | 'noiommu';

/** A VFIO device as sysfs describes it (device-target.ts). */
export interface DeviceTarget {
  /** The name VFIO knows the device by: its PCI address, or an mdev's UUID. */
  readonly name: string;
  /** `'pci'` for a PCI function, `'mdev'` for a mediated device. */
  readonly bus: 'pci' | 'mdev';
  /** The device's directory in sysfs. */
  readonly sysfsPath: string;
  /** The bound driver's name, if any. */
  readonly driver: string | undefined;
  /** The IOMMU group number, when the device has a group. */
  readonly group: number | undefined;
  /**
   * The device is in VFIO's no-IOMMU mode: its VFIO group node is 'noiommu-N' or its cdev
   * 'noiommu-vfioN' (the IOMMU group's name 'vfio-noiommu' does not tell: mdev groups have it too).
   */
  readonly noIommu: boolean;
  /** The name of the device's VFIO cdev under /dev/vfio/devices ('vfio3', 'noiommu-vfio0'), when the kernel made one. */
  readonly cdev: string | undefined;
}

/** How a context opens one device. */
export interface OpenDeviceOptions {
  /** The VF token (a UUID) for an SR-IOV VF, or a PF whose VFs are in use (vf-token.ts). */
  readonly vfToken?: string;
}

/** A device fd an IOMMU context opened, and how to give its share of the context back. */
export interface OpenedDevice {
  /** The open VFIO device fd, now owned by the device. */
  readonly deviceFd: number;
  /** The iommufd device id (cdev backends only): GET_HW_INFO and hot reset speak of devices by it. */
  readonly devid?: number;
  /** Called once, after the device fd is closed. */
  release(): void;
}

/** The part every IOMMU context has; Device.iommu is one of the classes that implement it. */
export interface IommuContextBase {
  /** The kind of context: `'type1'` (a container), `'iommufd'` (an IOAS) or `'noiommu'`; narrow on it. */
  readonly kind: IommuKind;
  /** The backend that opened it, as {@link DeviceOpenOptions.backend} names it. */
  readonly backend: BackendName;
  /** True when the devices can reach all memory (no-IOMMU mode). */
  readonly unsafe: boolean;
  /** True after close(): map() and the queries then throw {@link ClosedError}. */
  readonly closed: boolean;
  /** @internal Opens a device through this context. */
  openDevice(target: DeviceTarget, o?: OpenDeviceOptions): Promise<OpenedDevice>;
  /** Maps a DMA buffer: every device of this context can then reach it at the mapping's IOVA. */
  map(buffer: DmaBuffer, o?: DmaMapOptions): DmaMapping;
  /** The live DMA mappings of the context (a copy), in no particular order. */
  readonly dmaMappings: DmaMapping[];
  /** Unmaps every DMA mapping; returns the errors of those that failed. */
  unmapAll(): unknown[];
  /** The IOVA ranges devices can use, inclusive ends. */
  readonly iovaRanges: IovaRange[];
  /** Supported IOMMU page sizes, one bit per size (bit 12 = 4 KiB). */
  readonly pageSizes: bigint;
  /** How many more DMA mappings the kernel accepts, when it says (type1 only). */
  readonly dmaAvailable: number | undefined;
  /**
   * The address a device must be given for `length` bytes at buffer `offset` of a mapping: the
   * IOVA behind an IOMMU, the physical address in no-IOMMU mode.
   */
  deviceAddress(m: DmaMapping, offset?: number, length?: number): bigint;
  /** Maps a dma-buf (a peer device's BAR) for peer-to-peer DMA; iommufd only, NotSupportedError elsewhere. */
  mapDmaBuf(buf: DmaBuf, o?: DmaBufMapOptions): IoasFileMapping;
  /** @internal Group fds held, for a hot reset in the group form (empty for cdev backends). */
  groupFds(): Map<number, number>;
  /**
   * Unmaps every DMA mapping and releases the container or IOAS. Idempotent. A context a device
   * owns closes with it; a shared one, when the caller closes it after its devices.
   */
  close(): void;
}
