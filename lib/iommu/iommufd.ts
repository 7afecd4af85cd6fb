// The iommufd backend: /dev/iommu with one IO address space (IOAS), and devices opened through
// their VFIO cdev (/dev/vfio/devices/vfioN), bound to the iommufd and attached to the IOAS.
// Several devices can join one context, so one DMA mapping serves them all.
//
// No-IOMMU mode (unsafe) is the same flow on the no-IOMMU cdev (noiommu-vfioN): the IOAS then
// has no hardware behind it, mapping only pins the memory, and the device must be given
// physical addresses (IOMMU_IOAS_NOIOMMU_GET_PA, see deviceAddress()).
import * as path from 'path';
import { IOMMU_HW_INFO_DATA_MAX, IommuHwInfo, decodeIommuHwInfo, vtdPageSizes } from '../decode/iommufd';
import { DmaBuffer, DmaMapping } from '../dma/buffer';
import { DmaMapOptions, DmaSpace } from '../dma/map';
import type { DmaBuf } from '../dma/dmabuf';
import {
  ClosedError,
  check,
  closedError,
  errnoError,
  errnoName,
  invalidArgument,
  notSupported,
  throwCloseErrors,
} from '../errors';
import { native } from '../addon/native';
import { DeviceNodeOptions } from './backend';
import { DeviceTarget, IommuContextBase, OpenDeviceOptions, OpenedDevice } from './context';
import { vfTokenBytes, vfTokenHint } from './vf-token';
import { DmaBufMapOptions, IoasFileMapping } from './ioas-file';
import { bindError, getPaError, mapFileError, openHint } from './iommufd-errors';
import { excludedSpans, ioasDmaBackend, ioasMapFlags, queryIoasRanges } from './iommufd-dma';
import { IovaRange } from '../dma/iova';
import { closingFds, forgetLeak, watchLeak } from '../addon/leak-guard';

/** Options of an iommufd context (`IommufdContext.open`). */
export interface IommufdOptions extends DeviceNodeOptions {
  /**
   * No-IOMMU mode: only devices in VFIO's no-IOMMU mode can join, and they reach all memory.
   * Device.open() sets it for the 'noiommu' backend, which it refuses without unsafeNoIommu.
   */
  noIommu?: boolean;
}

/** A device attached to the context's IOAS. */
export interface IommufdMember {
  /** BDF or mdev UUID. */
  readonly name: string;
  /** The iommufd device id BIND returned. */
  readonly devid: number;
  /** The page table ATTACH chose: a hardware page table (hwpt) the kernel created for the IOAS. */
  readonly ptId: number;
}

/** Where a device's DMA lands for a range of a mapping, and how far that stays contiguous. */
export interface DeviceAddress {
  /** The bus address the device must be given for the first byte. */
  readonly address: bigint;
  /** Bytes from `address` that stay contiguous for the device (all of them behind an IOMMU). */
  readonly contiguous: bigint;
}

export class IommufdContext implements IommuContextBase {
  /** `'iommufd'`, or `'noiommu'` for a no-IOMMU IOAS (physical addresses, no protection). */
  readonly kind: 'iommufd' | 'noiommu';
  /** The backend that opened it: `'iommufd'` or `'noiommu'`. */
  readonly backend: 'iommufd' | 'noiommu';
  readonly unsafe: boolean;
  /** The IOAS every device of this context attaches to and every mapping goes into. */
  readonly ioasId: number;
  private fdValue: number | undefined;
  private readonly vfioDir: string;
  private readonly members = new Map<number, IommufdMember>();
  private readonly dma: DmaSpace;
  private readonly fileMaps = new Set<IoasFileMapping>();
  /** The ranges the DMA space's allocator was built on, once it was. */
  private adoptedRanges: readonly IovaRange[] | undefined;

  private constructor(fd: number, ioasId: number, o: IommufdOptions) {
    this.fdValue = fd;
    this.ioasId = ioasId;
    this.unsafe = o.noIommu ?? false;
    this.kind = this.unsafe ? 'noiommu' : 'iommufd';
    this.backend = this.kind;
    this.vfioDir = o.vfioDir ?? '/dev/vfio';
    this.dma = new DmaSpace(
      ioasDmaBackend({
        name: 'IommufdContext',
        ioasId,
        fd: (op) => this.fd(op),
        ready: () => this.members.size > 0,
        largePages: () => this.largePages(),
        adopted: (ranges) => {
          this.adoptedRanges = ranges;
        },
      }),
    );
    watchLeak(this, 'IommuContext', `the ${this.backend} context (IOAS ${ioasId})`, closingFds(native().close, fd));
  }

  /** Opens /dev/iommu and allocates the IOAS. */
  static open(o: IommufdOptions = {}): IommufdContext {
    const n = native();
    const file = o.iommufdPath ?? '/dev/iommu';
    const fd = n.open(file, n.constants.O_RDWR | n.constants.O_CLOEXEC);
    if (fd < 0) {
      const code = errnoName(-fd);
      throw errnoError(-fd, 'open', {
        detail: file,
        hint:
          code === 'ENOENT'
            ? 'the kernel has no iommufd (CONFIG_IOMMUFD): use the type1 backend'
            : openHint(code, file),
      });
    }
    try {
      const ioas = check(n.IOMMU_IOAS_ALLOC(fd), 'IOMMU_IOAS_ALLOC');
      return new IommufdContext(fd, ioas, o);
    } catch (e) {
      n.close(fd);
      throw e;
    }
  }

  /** @internal The iommufd, or the closed error. */
  fd(op: string): number {
    if (this.fdValue === undefined) throw closedError(op, 'the iommufd context');
    return this.fdValue;
  }

  /** True after close(): map() and the queries then throw {@link ClosedError}. */
  get closed(): boolean {
    return this.fdValue === undefined;
  }

  /** The devices attached now. */
  get devices(): IommufdMember[] {
    return [...this.members.values()];
  }

  /** Opens the device's cdev, binds it to the iommufd (this is where the kernel opens the device) and attaches it to the IOAS. */
  async openDevice(t: DeviceTarget, o: OpenDeviceOptions = {}): Promise<OpenedDevice> {
    const op = 'Device.open';
    const token = vfTokenBytes(t.name, o.vfToken);
    const iommufd = this.fd(op);
    if (t.cdev === undefined) {
      throw notSupported(op, `${t.name} has no VFIO cdev`, {
        device: t.name,
        hint: 'the kernel needs CONFIG_VFIO_DEVICE_CDEV; use the type1 backend otherwise',
      });
    }
    if (t.noIommu !== this.unsafe) {
      throw invalidArgument(
        op,
        t.noIommu
          ? `${t.name} is in no-IOMMU mode and cannot join an IOMMU-backed context`
          : `${t.name} is behind an IOMMU and cannot join a no-IOMMU context`,
        { device: t.name },
      );
    }
    const n = native();
    const file = path.join(this.vfioDir, 'devices', t.cdev);
    const fd = n.open(file, n.constants.O_RDWR | n.constants.O_CLOEXEC);
    if (fd < 0) throw errnoError(-fd, 'open', { device: t.name, detail: file, hint: openHint(errnoName(-fd), file) });
    try {
      const devid = await n.VFIO_DEVICE_BIND_IOMMUFD(fd, iommufd, token ?? null);
      if (devid < 0) throw bindError(-devid, t.name, vfTokenHint(t, errnoName(-devid), o.vfToken));
      const ptId = check(n.VFIO_DEVICE_ATTACH_IOMMUFD_PT(fd, this.ioasId), 'VFIO_DEVICE_ATTACH_IOMMUFD_PT', {
        device: t.name,
      });
      this.members.set(devid, { name: t.name, devid, ptId });
      this.noticeAttach();
      let released = false;
      // Closing the device fd detaches and unbinds it in the kernel; only our bookkeeping is left.
      return {
        deviceFd: fd,
        devid,
        release: () => {
          if (!released) {
            released = true;
            this.members.delete(devid);
          }
        },
      };
    } catch (e) {
      n.close(fd);
      throw e;
    }
  }

  /**
   * A device can shrink the IOAS's usable ranges (its reserved regions). Once the allocator
   * exists, the parts that became unusable are reserved in it so it never hands them out.
   */
  private noticeAttach(): void {
    const before = this.adoptedRanges;
    if (before === undefined) return;
    const { ranges } = queryIoasRanges(this.fd('Device.open'), this.ioasId);
    const alloc = this.dma.iova('Device.open');
    for (const s of excludedSpans(before, ranges, alloc.pageSize)) {
      try {
        alloc.reserve(s.start, s.end - s.start + 1n);
      } catch {
        /* partly outside the allocator's ranges already */
      }
    }
    this.adoptedRanges = ranges;
  }

  /** IOMMU_GET_HW_INFO for a device of this context (by devid, or a Device): which IOMMU, and its capabilities. */
  hwInfo(device: number | { readonly devid?: number }): IommuHwInfo {
    const op = 'IommufdContext.hwInfo';
    const devid = typeof device === 'number' ? device : device.devid;
    const member = devid === undefined ? undefined : this.members.get(devid);
    if (devid === undefined || member === undefined)
      throw invalidArgument(op, `device ${devid} is not attached to this context`);
    const buf = new Uint8Array(IOMMU_HW_INFO_DATA_MAX);
    const out = new BigUint64Array(3);
    const r = native().IOMMU_GET_HW_INFO(this.fd(op), devid, buf, out);
    if (r < 0) {
      throw errnoError(-r, 'IOMMU_GET_HW_INFO', {
        device: member.name,
        hint: this.unsafe && errnoName(-r) === 'EOPNOTSUPP' ? 'a no-IOMMU device has no IOMMU to describe' : undefined,
      });
    }
    return decodeIommuHwInfo(r, out, buf);
  }

  /** Large pages of the IOMMU behind the first device, when its payload says (VT-d). */
  private largePages(): bigint {
    if (this.unsafe) return 0n;
    const first = this.members.keys().next();
    if (first.done) return 0n;
    try {
      const hw = this.hwInfo(first.value);
      return hw.vtd ? vtdPageSizes(hw.vtd, 0n) : 0n;
    } catch {
      return 0n;
    }
  }

  // --- DMA (iommufd-dma.ts, dma-map.ts) ---

  /** Maps a DMA buffer into the IOAS: every device of the context reaches it at the mapping's IOVA. */
  map(buffer: DmaBuffer, o?: DmaMapOptions): DmaMapping {
    return this.dma.map(buffer, o);
  }

  /** The live DMA mappings of the IOAS (a copy). */
  get dmaMappings(): DmaMapping[] {
    return this.dma.mappings;
  }

  /** The IOAS's usable IOVA ranges now (they narrow as devices attach), inclusive ends. */
  get iovaRanges(): IovaRange[] {
    return queryIoasRanges(this.fd('IommufdContext.iovaRanges'), this.ioasId).ranges;
  }

  get pageSizes(): bigint {
    const { alignment } = queryIoasRanges(this.fd('IommufdContext.pageSizes'), this.ioasId);
    const page = BigInt(native().constants.PAGE_SIZE);
    return (alignment > page ? alignment : page) | this.largePages();
  }

  /** iommufd has no limit on the number of mappings like type1's DMA_AVAIL. */
  get dmaAvailable(): undefined {
    return undefined;
  }

  /**
   * The address to program into a device for `length` bytes at `offset` of a mapped buffer: the
   * IOVA with an IOMMU; the physical address in no-IOMMU mode, where it is refused unless the
   * bytes are physically contiguous (transfers must then be split at page boundaries).
   */
  deviceAddress(m: DmaMapping, offset = m.offset, length = 1): bigint {
    const op = 'IommufdContext.deviceAddress';
    const iova = m.iovaOf(offset);
    if (length < 1 || offset + length > m.offset + m.size)
      throw invalidArgument(op, `${length} bytes at ${offset} leave the mapping`, { code: 'ERANGE' });
    if (!this.unsafe) return iova;
    const pa = this.physicalAddress(iova, BigInt(length));
    if (pa.contiguous < BigInt(length)) {
      throw invalidArgument(
        op,
        `only ${pa.contiguous} of the ${length} bytes at IOVA 0x${iova.toString(16)} are physically contiguous`,
        {
          code: 'ERANGE',
          hint: 'without an IOMMU a transfer must not cross a page boundary unless the pages happen to be adjacent: split it per page',
        },
      );
    }
    return pa.address;
  }

  /** No-IOMMU mode: IOMMU_IOAS_NOIOMMU_GET_PA for a mapped IOVA. */
  physicalAddress(iova: bigint, length = 1n): DeviceAddress {
    const op = 'IOMMU_IOAS_NOIOMMU_GET_PA';
    if (!this.unsafe)
      throw notSupported('IommufdContext.physicalAddress', 'devices behind an IOMMU use IOVAs, not physical addresses');
    const get = native().IOMMU_IOAS_NOIOMMU_GET_PA;
    if (!get) throw notSupported(op, 'the native addon lacks IOMMU_IOAS_NOIOMMU_GET_PA');
    const out = new BigUint64Array(2);
    const r = get(this.fd(op), this.ioasId, iova, length, out);
    if (r < 0) throw getPaError(-r, iova);
    return { address: out[0], contiguous: out[1] };
  }

  /**
   * Maps a dma-buf (a BAR slice exported with Region.exportDmaBuf()) into the IOAS with
   * IOMMU_IOAS_MAP_FILE, so the devices here can DMA to or from the peer device's BAR.
   */
  mapDmaBuf(buf: DmaBuf, o: DmaBufMapOptions = {}): IoasFileMapping {
    const op = 'IommufdContext.mapDmaBuf';
    const fd = this.fd(op);
    const file = buf.fdFor(op);
    const alloc = this.dma.iova(op);
    const page = alloc.pageSize;
    const offset = BigInt(o.offset ?? 0);
    const length = o.length === undefined ? buf.size - offset : BigInt(o.length);
    if (offset < 0n || offset % page !== 0n || length <= 0n || length % page !== 0n || offset + length > buf.size) {
      throw invalidArgument(
        op,
        `${length} bytes at ${offset} are not whole pages (0x${page.toString(16)}) inside the ${buf.size}-byte dma-buf`,
        { code: 'ERANGE' },
      );
    }
    let iova: bigint;
    if (o.iova !== undefined) {
      alloc.reserve(o.iova, length, o);
      iova = o.iova;
    } else {
      iova = alloc.allocate(length, { dmaMaskBits: o.dmaMaskBits });
    }
    const read = o.read ?? true;
    const write = o.write ?? true;
    const r = native().IOMMU_IOAS_MAP_FILE(fd, this.ioasId, file, offset, length, iova, ioasMapFlags(read, write));
    if (typeof r === 'number') {
      alloc.free(iova);
      throw mapFileError(-r, buf);
    }
    const m = new IoasFileMapping({ unmap: (x) => this.unmapFile(x) }, buf, iova, offset, length, read, write);
    this.fileMaps.add(m);
    buf.attach(m);
    return m;
  }

  private unmapFile(m: IoasFileMapping): void {
    const r = native().IOMMU_IOAS_UNMAP(this.fd('IoasFileMapping.unmap'), this.ioasId, m.iova, m.size);
    if (r < 0) throw errnoError(-r, 'IOMMU_IOAS_UNMAP', { detail: `IOVA 0x${m.iova.toString(16)}` });
    this.dma.iova('IoasFileMapping.unmap').free(m.iova);
    this.fileMaps.delete(m);
    m.source.detach(m);
  }

  /** dma-buf mappings live now. */
  get fileMappings(): IoasFileMapping[] {
    return [...this.fileMaps];
  }

  /** Unmaps every mapping, DMA buffers and dma-bufs alike; returns what failed. */
  unmapAll(): unknown[] {
    const errors = this.dma.unmapAll();
    for (const m of [...this.fileMaps]) {
      try {
        m.unmap();
      } catch (e) {
        errors.push(e);
        this.fileMaps.delete(m);
        m.source.detach(m);
        m.forget();
      }
    }
    return errors;
  }

  /** cdev devices prove ownership through the iommufd, not group fds: a hot reset passes none. */
  groupFds(): Map<number, number> {
    return new Map();
  }

  /**
   * Unmaps everything, then closes the iommufd (which destroys the IOAS). Devices still open in
   * it lose their DMA. Throws a CloseError (a VfioError with .causes) when some unmap failed.
   */
  close(): void {
    if (this.fdValue === undefined) return;
    forgetLeak(this);
    const errors = this.unmapAll().filter((e) => !(e instanceof ClosedError));
    native().close(this.fdValue);
    this.fdValue = undefined;
    throwCloseErrors('IommufdContext.close', errors);
  }
}
