// The legacy VFIO IOMMU backend: a container (/dev/vfio/vfio) holding groups (/dev/vfio/N),
// with the type1v2 IOMMU (or, when asked, the original type1, whose unmap semantics differ). Several devices (and groups) can share one container, so one DMA
// mapping serves them all: pass the same Type1Context to Device.open().
//
// Two variants speak the same API: iommufd's container compatibility (/dev/iommu opened as the
// container, with an IOAS behind it), and the no-IOMMU group (/dev/vfio/noiommu-N in a
// container set to VFIO_NOIOMMU_IOMMU), which gives device access but no DMA mapping at all.
import * as path from 'path';
import { VFIO_API_VERSION, VFIO_GROUP_FLAGS_VIABLE, VFIO_NOIOMMU_IOMMU } from '../abi';
import { Type1Info } from '../decode';
import { DmaBuffer, DmaMapping } from '../dma/buffer';
import { DmaMapOptions, DmaSpace } from '../dma/map';
import {
  BusyError,
  check,
  closedError,
  errnoError,
  errnoName,
  invalidArgument,
  notSupported,
  VfioError,
  throwCloseErrors,
} from '../errors';
import {
  currentInvocation,
  groupNotViableHint,
  groupOpenHint,
  moduleParamCommand,
  noIommuGroupHint,
  rootCommand,
} from '../system/hints';
import { native } from '../addon/native';
import { SysfsOptions } from '../system/sysfs';
import { DeviceNodeOptions } from './backend';
import { DeviceTarget, IommuContextBase, OpenDeviceOptions, OpenedDevice } from './context';
import { groupDeviceName, vfTokenBytes, vfTokenHint } from './vf-token';
import { IOMMU_TYPES, TYPE1_IOMMU_TYPES, Type1IommuType, unsupportedTypeHint } from './type1-types';

export { TYPE1_IOMMU_TYPES, Type1IommuType } from './type1-types';
import { IovaRange } from '../dma/iova';
import { Type1Host, dmaAvailableOf, iovaRangesOf, queryType1Info, type1DmaBackend } from './type1-dma';
import { forgetLeak, watchLeak } from '../addon/leak-guard';

/** Options of a type1 container context (`Type1Context.open`). */
export interface Type1Options extends SysfsOptions, DeviceNodeOptions {
  /** The IOMMU type of the container: 'type1v2' (default) or 'type1' (see {@link Type1IommuType}). */
  iommuType?: Type1IommuType;
  /** Open iommufd (/dev/iommu) as the container: iommufd's container compatibility mode. */
  iommufdCompat?: boolean;
  /**
   * No-IOMMU groups only (unsafe; Device.open() needs unsafeNoIommu): the container is set to
   * VFIO_NOIOMMU_IOMMU, and there is no DMA mapping API.
   */
  noIommu?: boolean;
}

const NO_DMA_HINT =
  'a no-IOMMU group has no DMA mapping API: open the device through its no-IOMMU cdev ' +
  '(kernel with CONFIG_VFIO_DEVICE_CDEV and CONFIG_IOMMUFD_NOIOMMU), where IOMMU_IOAS_NOIOMMU_GET_PA gives physical addresses';

interface Group {
  readonly number: number;
  readonly fd: number;
  users: number;
}

/** A dropped container's release (addon/leak-guard.ts): the groups it still holds, then itself. */
function containerRelease(fd: number, groups: ReadonlyMap<number, Group>): () => void {
  return () => {
    for (const g of groups.values()) native().close(g.fd);
    native().close(fd);
  };
}

export class Type1Context implements IommuContextBase {
  /** `'type1'`, or `'noiommu'` for a VFIO_NOIOMMU_IOMMU container (no DMA mapping API). */
  readonly kind: 'type1' | 'noiommu';
  /** The container's backend: the legacy VFIO container, iommufd's compatibility mode, or no-IOMMU. */
  readonly backend: 'type1' | 'iommufd-compat' | 'noiommu';
  readonly unsafe: boolean;
  private containerFd: number | undefined;
  private readonly groups = new Map<number, Group>();
  private iommuSet = false;
  private readonly vfioDir: string;
  private readonly sysfsOpts: SysfsOptions;
  private readonly dma: DmaSpace;
  /** The IOMMU type VFIO_SET_IOMMU selects: 'type1v2', 'type1', or 'noiommu' for a no-IOMMU container. */
  readonly iommuType: Type1IommuType | 'noiommu';
  private readonly iommuTypeId: number;

  private constructor(fd: number, o: Type1Options) {
    this.containerFd = fd;
    this.unsafe = o.noIommu ?? false;
    this.kind = this.unsafe ? 'noiommu' : 'type1';
    this.backend = this.unsafe ? 'noiommu' : o.iommufdCompat ? 'iommufd-compat' : 'type1';
    this.iommuType = this.unsafe ? 'noiommu' : (o.iommuType ?? 'type1v2');
    this.iommuTypeId = this.iommuType === 'noiommu' ? VFIO_NOIOMMU_IOMMU : IOMMU_TYPES[this.iommuType].id;
    this.vfioDir = o.vfioDir ?? '/dev/vfio';
    this.sysfsOpts = { sysfs: o.sysfs };
    this.dma = new DmaSpace(type1DmaBackend(this.dmaHost()));
    watchLeak(this, 'IommuContext', `the ${this.backend} IOMMU container`, containerRelease(fd, this.groups));
  }

  /**
   * Opens a new container and checks that the kernel speaks the VFIO API and offers the IOMMU
   * type (`iommuType`, type1v2 by default; with noIommu, the no-IOMMU type). With iommufdCompat
   * the container is /dev/iommu.
   */
  static open(o: Type1Options = {}): Type1Context {
    if (o.iommuType !== undefined && !TYPE1_IOMMU_TYPES.includes(o.iommuType)) {
      throw invalidArgument(
        'Type1Context.open',
        `unknown iommuType ${JSON.stringify(o.iommuType)} (expected ${TYPE1_IOMMU_TYPES.join(' or ')})`,
      );
    }
    if (o.iommuType !== undefined && o.noIommu) {
      throw invalidArgument('Type1Context.open', 'iommuType does not apply to a no-IOMMU container', {
        hint: 'leave iommuType out with noIommu: the container is set to VFIO_NOIOMMU_IOMMU',
      });
    }
    const n = native();
    const file = o.iommufdCompat ? (o.iommufdPath ?? '/dev/iommu') : path.join(o.vfioDir ?? '/dev/vfio', 'vfio');
    const fd = check(n.open(file, n.constants.O_RDWR | n.constants.O_CLOEXEC), 'open', () => ({
      detail: file,
      hint: o.iommufdCompat
        ? `may this user open ${file}? (the kernel needs CONFIG_IOMMUFD)`
        : `is the vfio module loaded (${rootCommand(currentInvocation(), 'modprobe vfio-pci')}) and may this user open ${file}?`,
    }));
    try {
      const version = check(n.VFIO_GET_API_VERSION(fd), 'VFIO_GET_API_VERSION', {
        hint: o.iommufdCompat ? "this kernel's iommufd has no VFIO container compatibility" : undefined,
      });
      if (version !== VFIO_API_VERSION) {
        throw new VfioError({
          code: 'EPROTO',
          op: 'VFIO_GET_API_VERSION',
          message: `VFIO API version ${version}, expected ${VFIO_API_VERSION}`,
        });
      }
      const type = o.noIommu ? undefined : IOMMU_TYPES[o.iommuType ?? 'type1v2'];
      if (check(n.VFIO_CHECK_EXTENSION(fd, type?.id ?? VFIO_NOIOMMU_IOMMU), 'VFIO_CHECK_EXTENSION') !== 1) {
        throw new VfioError({
          code: 'EOPNOTSUPP',
          op: 'VFIO_CHECK_EXTENSION',
          message:
            type === undefined
              ? 'the kernel does not offer the no-IOMMU type'
              : `the ${o.iommufdCompat ? 'iommufd compatibility container' : 'kernel'} does not offer ${type.name}`,
          hint:
            type === undefined
              ? 'the kernel needs CONFIG_VFIO_NOIOMMU and vfio.enable_unsafe_noiommu_mode=1'
              : unsupportedTypeHint(o),
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
  async openDevice(t: DeviceTarget, o: OpenDeviceOptions = {}): Promise<OpenedDevice> {
    const bdf = t.name;
    vfTokenBytes(bdf, o.vfToken); // a malformed token is refused before anything opens
    const group = t.group;
    if (group === undefined) {
      throw new VfioError({
        code: 'VFIO_NO_IOMMU_GROUP',
        op: 'Device.open',
        device: bdf,
        message: `Device.open: ${bdf} has no IOMMU group`,
        hint: noIommuGroupHint(bdf),
      });
    }
    if (t.noIommu !== this.unsafe) {
      throw invalidArgument(
        'Device.open',
        t.noIommu
          ? `${bdf} is in no-IOMMU mode and cannot join an IOMMU-backed container`
          : `${bdf} is behind an IOMMU and cannot join a no-IOMMU container`,
        { device: bdf },
      );
    }
    const g = this.joinGroup(group, bdf);
    try {
      const r = await native().VFIO_GROUP_GET_DEVICE_FD(g.fd, groupDeviceName(bdf, o.vfToken));
      const fd = check(r, 'VFIO_GROUP_GET_DEVICE_FD', () => ({
        device: bdf,
        hint:
          vfTokenHint(t, errnoName(-r), o.vfToken) ??
          'is the device already open in this process, or was it unbound from vfio-pci?',
      }));
      let released = false;
      return {
        deviceFd: fd,
        release: () => {
          if (!released) {
            released = true;
            this.leaveGroup(g);
          }
        },
      };
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
    // VFIO names a no-IOMMU group's node noiommu-N.
    const file = path.join(this.vfioDir, this.unsafe ? `noiommu-${group}` : String(group));
    const fd = n.open(file, n.constants.O_RDWR | n.constants.O_CLOEXEC);
    if (fd < 0) {
      throw errnoError(-fd, 'open', { device: bdf, detail: file, hint: groupOpenHint(errnoName(-fd), group, bdf) });
    }
    try {
      const status = check(n.VFIO_GROUP_GET_STATUS(fd), 'VFIO_GROUP_GET_STATUS', { device: bdf });
      if ((status & VFIO_GROUP_FLAGS_VIABLE) === 0) {
        throw new BusyError({
          code: 'EBUSY',
          op: 'VFIO_GROUP_GET_STATUS',
          device: bdf,
          message: `IOMMU group ${group} of ${bdf} is not viable`,
          hint: groupNotViableHint(group, bdf, this.sysfsOpts),
        });
      }
      check(n.VFIO_GROUP_SET_CONTAINER(fd, containerFd), 'VFIO_GROUP_SET_CONTAINER', { device: bdf });
      if (!this.iommuSet) {
        // The IOMMU type can only be set once a group is in the container.
        const r = n.VFIO_SET_IOMMU(containerFd, this.iommuTypeId);
        check(r, 'VFIO_SET_IOMMU', () => ({
          device: bdf,
          detail: this.iommuType,
          hint:
            errnoName(-r) === 'EPERM'
              ? 'EPERM here means the IOMMU cannot remap interrupts (in a VM: a vIOMMU without intremap=on; on hardware: ' +
                'intremap=off on the command line or no remapping unit); accepting that a device can then forge MSIs: ' +
                moduleParamCommand(currentInvocation(), 'vfio_iommu_type1', 'allow_unsafe_interrupts', '1')
              : this.iommuType === 'noiommu'
                ? undefined
                : `the kernel refused ${IOMMU_TYPES[this.iommuType].name} for group ${group}: ${unsupportedTypeHint({
                    iommufdCompat: this.backend === 'iommufd-compat',
                    iommuType: this.iommuType,
                  })}`,
        }));
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
      // With its last group a type1 container releases its IOMMU, and every DMA mapping with
      // it; the next group to join sets a fresh one. iommufd's compatibility container keeps
      // its IOAS (and the mappings) for as long as /dev/iommu stays open.
      this.iommuSet = false;
      if (this.backend === 'type1') this.dma.dropAll();
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

  /**
   * How many more DMA mappings the kernel accepts (the DMA_AVAIL cap); undefined when it sets no
   * limit (kernels before 5.10; iommufd's compatibility container).
   */
  get dmaAvailable(): number | undefined {
    return dmaAvailableOf(this.info(), this.backend === 'iommufd-compat');
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

  /** The IOVA to program into a device for `length` bytes at buffer `offset` of a mapping. */
  deviceAddress(m: DmaMapping, offset = m.offset, length = 1): bigint {
    if (length < 1 || offset + length > m.offset + m.size) {
      throw invalidArgument('Type1Context.deviceAddress', `${length} bytes at ${offset} leave the mapping`, {
        code: 'ERANGE',
      });
    }
    return m.iovaOf(offset);
  }

  /** Peer-to-peer mappings of dma-bufs exist only in an iommufd IOAS. */
  mapDmaBuf(): never {
    throw notSupported('Type1Context.mapDmaBuf', 'the type1 container cannot map a dma-buf', {
      hint: "open the devices with the iommufd backend (dma-bufs through IOMMU_IOAS_MAP_FILE, Linux 6.19+), e.g. Device.open(bdf, { backend: 'iommufd' })",
    });
  }

  private dmaHost(): Type1Host {
    return {
      fd: (op) => this.fd(op),
      ready: () => {
        if (this.unsafe)
          throw notSupported('Type1Context.map', 'no DMA mapping without an IOMMU through a group', {
            hint: NO_DMA_HINT,
          });
        return this.iommuSet;
      },
      compat: this.backend === 'iommufd-compat',
    };
  }

  /** @internal Group fds we hold, for VFIO_DEVICE_PCI_HOT_RESET. */
  groupFds(): Map<number, number> {
    return new Map([...this.groups].map(([num, g]) => [num, g.fd]));
  }

  /** True after close(): map() and the queries then throw {@link ClosedError}. */
  get closed(): boolean {
    return this.containerFd === undefined;
  }

  /**
   * Unmaps every DMA mapping, then closes the container. Devices still open in it keep their
   * MMIO until they close, but can no longer reach any memory. Throws a CloseError (a VfioError with .causes) when
   * some unmap failed (the container is closed anyway, which drops them in the kernel).
   */
  close(): void {
    if (this.containerFd === undefined) return;
    forgetLeak(this);
    const errors = this.dma.unmapAll();
    native().close(this.containerFd);
    this.containerFd = undefined;
    throwCloseErrors('Type1Context.close', errors);
  }
}
