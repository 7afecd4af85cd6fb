// The legacy VFIO IOMMU backend: a container (/dev/vfio/vfio) holding groups (/dev/vfio/N),
// with the type1v2 IOMMU. Several devices (and groups) can share one container, so one DMA
// mapping serves them all: pass the same Type1Context to Device.open().
import * as path from 'path';
import { VFIO_API_VERSION, VFIO_GROUP_FLAGS_VIABLE, VFIO_TYPE1v2_IOMMU } from '../abi';
import { Type1Info, findType1Cap } from '../decode';
import { DmaBuffer } from '../dma';
import { DmaMapOptions, DmaMapping, DmaSpace } from '../dma-map';
import { BusyError, check, closedError, errnoError, errnoName, VfioError } from '../errors';
import { groupNotViableHint, groupOpenHint } from '../hints';
import { native } from '../native';
import { SysfsOptions } from '../sysfs';
import { IovaRange } from './iova';
import { Type1Host, iovaRangesOf, queryType1Info, type1DmaBackend } from './type1-dma';

export interface Type1Options extends SysfsOptions {
  /** Directory holding the vfio device nodes; '/dev/vfio' unless testing. */
  vfioDir?: string;
}

interface Group {
  readonly number: number;
  readonly fd: number;
  users: number;
}

export class Type1Context {
  readonly kind = 'type1' as const;
  private containerFd: number | undefined;
  private readonly groups = new Map<number, Group>();
  private iommuSet = false;
  private readonly vfioDir: string;
  private readonly sysfsOpts: SysfsOptions;
  private readonly dma: DmaSpace;

  private constructor(fd: number, o: Type1Options) {
    this.containerFd = fd;
    this.vfioDir = o.vfioDir ?? '/dev/vfio';
    this.sysfsOpts = { sysfs: o.sysfs };
    this.dma = new DmaSpace(type1DmaBackend(this.dmaHost()));
  }

  /** Opens a new container and checks that the kernel speaks the VFIO API and type1v2. */
  static open(o: Type1Options = {}): Type1Context {
    const n = native();
    const file = path.join(o.vfioDir ?? '/dev/vfio', 'vfio');
    const fd = check(n.open(file, n.constants.O_RDWR | n.constants.O_CLOEXEC), 'open', {
      detail: file,
      hint: 'is the vfio module loaded (modprobe vfio-pci) and may this user open /dev/vfio/vfio?',
    });
    try {
      const version = check(n.VFIO_GET_API_VERSION(fd), 'VFIO_GET_API_VERSION');
      if (version !== VFIO_API_VERSION) {
        throw new VfioError({ code: 'EPROTO', op: 'VFIO_GET_API_VERSION', message: `VFIO API version ${version}, expected ${VFIO_API_VERSION}` });
      }
      if (check(n.VFIO_CHECK_EXTENSION(fd, VFIO_TYPE1v2_IOMMU), 'VFIO_CHECK_EXTENSION') !== 1) {
        throw new VfioError({
          code: 'EOPNOTSUPP', op: 'VFIO_CHECK_EXTENSION', message: 'the kernel does not offer the type1v2 IOMMU',
          hint: 'load vfio_iommu_type1 (modprobe vfio_iommu_type1), or use the iommufd backend',
        });
      }
    } catch (e) {
      n.close(fd);
      throw e;
    }
    return new Type1Context(fd, o);
  }

  /** @internal The container fd, for DMA mapping and IOMMU info. */
  fd(op: string): number {
    if (this.containerFd === undefined) throw closedError(op, 'the IOMMU container');
    return this.containerFd;
  }

  /** Opens the device's group (once per group), joins it to the container and opens the device. */
  async openDevice(bdf: string, group: number): Promise<{ deviceFd: number; release: () => void }> {
    const g = this.joinGroup(group, bdf);
    try {
      const fd = check(await native().VFIO_GROUP_GET_DEVICE_FD(g.fd, bdf), 'VFIO_GROUP_GET_DEVICE_FD', {
        device: bdf,
        hint: 'is the device already open in this process, or was it unbound from vfio-pci?',
      });
      let released = false;
      return { deviceFd: fd, release: () => { if (!released) { released = true; this.leaveGroup(g); } } };
    } catch (e) {
      this.leaveGroup(g);
      throw e;
    }
  }

  private joinGroup(group: number, bdf: string): Group {
    const existing = this.groups.get(group);
    if (existing) {
      existing.users++;
      return existing;
    }
    const n = native();
    const containerFd = this.fd('Device.open');
    const file = path.join(this.vfioDir, String(group));
    const fd = n.open(file, n.constants.O_RDWR | n.constants.O_CLOEXEC);
    if (fd < 0) {
      throw errnoError(-fd, 'open', { device: bdf, detail: file, hint: groupOpenHint(errnoName(-fd), group, bdf) });
    }
    try {
      const status = check(n.VFIO_GROUP_GET_STATUS(fd), 'VFIO_GROUP_GET_STATUS', { device: bdf });
      if ((status & VFIO_GROUP_FLAGS_VIABLE) === 0) {
        throw new BusyError({
          code: 'EBUSY', op: 'VFIO_GROUP_GET_STATUS', device: bdf,
          message: `IOMMU group ${group} of ${bdf} is not viable`,
          hint: groupNotViableHint(group, bdf, this.sysfsOpts),
        });
      }
      check(n.VFIO_GROUP_SET_CONTAINER(fd, containerFd), 'VFIO_GROUP_SET_CONTAINER', { device: bdf });
      if (!this.iommuSet) {
        // The IOMMU type can only be set once a group is in the container.
        check(n.VFIO_SET_IOMMU(containerFd, VFIO_TYPE1v2_IOMMU), 'VFIO_SET_IOMMU', {
          device: bdf,
          hint: 'EPERM here usually means interrupt remapping is off: enable it (intremap) or load ' +
            'vfio_iommu_type1 with allow_unsafe_interrupts=1',
        });
        this.iommuSet = true;
      }
    } catch (e) {
      n.close(fd);
      throw e;
    }
    const g = { number: group, fd, users: 1 };
    this.groups.set(group, g);
    return g;
  }

  private leaveGroup(g: Group): void {
    if (--g.users > 0) return;
    const n = native();
    n.VFIO_GROUP_UNSET_CONTAINER(g.fd);
    n.close(g.fd);
    this.groups.delete(g.number);
    if (this.groups.size === 0 && this.iommuSet) {
      // With its last group the kernel releases the container's IOMMU, and every DMA mapping
      // with it; the next group to join sets a fresh one.
      this.iommuSet = false;
      this.dma.dropAll();
    }
  }

  // --- DMA (type1-dma.ts, dma-map.ts) ---

  /** VFIO_IOMMU_GET_INFO, decoded; throws until a device has joined (no IOMMU before that). */
  info(): Type1Info {
    return queryType1Info(this.dmaHost(), 'Type1Context.info');
  }

  /** The IOVA ranges devices can use, inclusive ends (everything outside is reserved, e.g. the MSI window). */
  get iovaRanges(): IovaRange[] {
    return iovaRangesOf(this.info());
  }

  /** How many more DMA mappings the kernel accepts (the DMA_AVAIL cap; undefined on kernels before 5.10). */
  get dmaAvailable(): number | undefined {
    return findType1Cap(this.info().caps, 'dma-avail')?.avail;
  }

  /** Supported IOMMU page sizes, one bit per size (bit 12 = 4 KiB). */
  get pageSizes(): bigint {
    return this.info().iovaPgsizes;
  }

  /**
   * Maps a DMA buffer (or part of it) into the IOMMU: the device reaches it at the returned
   * mapping's iova. Without `iova` one is allocated inside the IOVA ranges (and below
   * `dmaMaskBits`); every device in this container sees the mapping. Mappings last until
   * unmapped, their buffer is closed, or the last device of the container closes (the kernel
   * releases the IOMMU then, and the mappings read as closed).
   */
  map(buffer: DmaBuffer, o?: DmaMapOptions): DmaMapping {
    return this.dma.map(buffer, o);
  }

  /** Live DMA mappings of this container. */
  get dmaMappings(): DmaMapping[] {
    return this.dma.mappings;
  }

  /** Unmaps every DMA mapping; returns the errors of those that failed (their IOVAs stay reserved). */
  unmapAll(): unknown[] {
    return this.dma.unmapAll();
  }

  private dmaHost(): Type1Host {
    return { fd: (op) => this.fd(op), ready: () => this.iommuSet };
  }

  /** @internal Group fds we hold, for VFIO_DEVICE_PCI_HOT_RESET. */
  groupFds(): Map<number, number> {
    return new Map([...this.groups].map(([num, g]) => [num, g.fd]));
  }

  get closed(): boolean {
    return this.containerFd === undefined;
  }

  /**
   * Unmaps every DMA mapping, then closes the container. Devices still open in it keep their
   * MMIO until they close, but can no longer reach any memory. Throws an AggregateError when
   * some unmap failed (the container is closed anyway, which drops them in the kernel).
   */
  close(): void {
    if (this.containerFd === undefined) return;
    const errors = this.dma.unmapAll();
    native().close(this.containerFd);
    this.containerFd = undefined;
    if (errors.length) throw new AggregateError(errors, `Type1Context.close: ${errors.length} DMA mapping(s) failed to unmap`);
  }
}
