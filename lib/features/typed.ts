// The known features' handles: a `Feature` subclass each, with typed methods (payload codecs in
// decode/features.ts and dma-ranges.ts).
import { VFIO_DEVICE_FEATURE_DMA_LOGGING_REPORT, VFIO_DEVICE_FEATURE_DMA_LOGGING_START } from '../abi';
import {
  DEFAULT_PAGE_SIZE,
  DmaRange,
  MIGRATION_FEATURE_SIZE,
  MIG_STATE_SIZE,
  MigState,
  MigrationFeature,
  decodeMigDataSize,
  decodeMigState,
  decodeMigrationFeature,
  dirtyPageCount,
  dirtyRanges,
  dmaLoggingBitmapSize,
  dmaLoggingRanges,
  encodeBusMaster,
  encodeLowPowerWakeup,
  encodeVfToken,
} from '../decode';
import { DmaBuf, DmaBufRangeInput, encodeDmaBufFeature, toDmaBufRanges } from '../dma/dmabuf';
import { notSupported } from '../errors';
import { dmaBufHint } from './hints';
import { rangeArgError } from '../errors/args';

import { Feature } from './feature';

export class LowPowerEntryFeature extends Feature {
  /**
   * Lets the device runtime-suspend once idle. Until exit the kernel zaps BAR mappings, so the
   * device's mappings are suspended first: their accessors throw an `EIO` VfioError until exit.
   * Other ioctls wake it for their duration. Leave with the LOW_POWER_EXIT feature.
   */
  enter(): void {
    this.set(null);
  }
}

export class LowPowerWakeupFeature extends Feature {
  /** As LOW_POWER_ENTRY; the kernel signals `eventfd` and leaves low power when the device wakes. */
  enter(eventfd: number): void {
    this.set(this.encode('enter', () => encodeLowPowerWakeup(eventfd)));
  }
}

export class LowPowerExitFeature extends Feature {
  /** Leaves the low power state (a no-op when the device is not in it). */
  exit(): void {
    this.set(null);
  }
}

export class MigrationFlagsFeature extends Feature {
  /** The migration flags (STOP_COPY, P2P, PRE_COPY) and the states they enable. */
  read(): MigrationFeature {
    return decodeMigrationFeature(this.get(MIGRATION_FEATURE_SIZE));
  }
}

export class MigStateFeature extends Feature {
  /** The device's current migration state. */
  read(): MigState {
    return decodeMigState(this.get(MIG_STATE_SIZE));
  }
}

export class MigDataSizeFeature extends Feature {
  /** Bytes the STOP_COPY phase is expected to produce. */
  read(): {
    /** Bytes the device expects to hand over in the STOP_COPY state. */
    readonly stopCopyLength: bigint;
  } {
    return decodeMigDataSize(this.get(8));
  }
}

/** The addon builds DMA logging structs (they hold user pointers) with the header's numbers. */
function requireHeaderNumber(f: Feature, header: number): void {
  if (f.index !== header) {
    throw notSupported(
      `Feature(${f.name})`,
      `DMA logging is issued by the addon with the header's number ${header}, not ${f.index}`,
    );
  }
}

export class DmaLoggingStartFeature extends Feature {
  /** Starts dirty tracking of device DMA writes over IOVA ranges, at `pageSize` granularity. */
  start(ranges: readonly DmaRange[], pageSize: bigint = DEFAULT_PAGE_SIZE): void {
    requireHeaderNumber(this, VFIO_DEVICE_FEATURE_DMA_LOGGING_START);
    const flat = this.encode('start', () => dmaLoggingRanges(ranges, pageSize));
    const r = this.ctx.sys.dmaLoggingStart(this.ctx.host.fd('Feature(DMA_LOGGING_START).start'), pageSize, flat);
    if (r < 0) throw this.error(-r, { set: true });
  }
}

export class DmaLoggingStopFeature extends Feature {
  /** Stops dirty tracking (SET with no payload); a kernel error is a {@link FeatureError}. */
  stop(): void {
    this.set(null);
  }
}

/** What {@link DmaLoggingReportFeature} read for one IOVA range. */
export interface DmaLoggingReport {
  /** The kernel's bitmap: one bit per page, u64 words, little-endian. */
  readonly bitmap: Uint8Array;
  /** The dirty pages as ranges (adjacent pages merged), ascending IOVA. */
  readonly dirty: readonly DmaRange[];
  /** Number of dirty pages (set bits in the bitmap). */
  readonly dirtyPages: number;
}

export class DmaLoggingReportFeature extends Feature {
  /** The pages written since the last report in [iova, iova+length); reading clears them. */
  report(iova: bigint, length: bigint, pageSize: bigint = DEFAULT_PAGE_SIZE): DmaLoggingReport {
    requireHeaderNumber(this, VFIO_DEVICE_FEATURE_DMA_LOGGING_REPORT);
    const bitmap = new Uint8Array(this.encode('report', () => dmaLoggingBitmapSize(length, pageSize)));
    const r = this.ctx.sys.dmaLoggingReport(
      this.ctx.host.fd('Feature(DMA_LOGGING_REPORT).report'),
      iova,
      length,
      pageSize,
      bitmap,
    );
    if (r < 0) throw this.error(-r, { get: true });
    return {
      bitmap,
      dirty: dirtyRanges(bitmap, iova, length, pageSize),
      dirtyPages: dirtyPageCount(bitmap, Number((length + pageSize - 1n) / pageSize)),
    };
  }
}

export class VfTokenFeature extends Feature {
  /** Sets the VF token (a UUID) that users of this PF's VFs must present. */
  setToken(uuid: string): void {
    this.set(this.encode('setToken', () => encodeVfToken(uuid)));
  }
}

export class BusMasterFeature extends Feature {
  /** CDX devices only; PCI devices set bus mastering in PCI_COMMAND (`dev.config.busMaster`). */
  setMaster(enable: boolean): void {
    this.set(encodeBusMaster(enable));
  }
}

/** Options of {@link DmaBufFeature.export}. */
export interface DmaBufExportOptions {
  /** open_flags of the dma-buf file; default O_RDWR | O_CLOEXEC. */
  readonly openFlags?: number;
}

export class DmaBufFeature extends Feature {
  /**
   * Exports slices of a BAR as one dma-buf (their concatenation). Our checks: non-empty, page
   * aligned. Whether the region can be exported at all and whether the slices fit in it is the
   * kernel's call; its errno comes back as a typed error with a hint saying which rule failed.
   */
  export(regionIndex: number, ranges: readonly DmaBufRangeInput[], opts: DmaBufExportOptions = {}): DmaBuf {
    const { host, sys } = this.ctx;
    const region = host.regions.find((r) => r.index === regionIndex);
    const regionName = region?.name ?? `region${regionIndex}`;
    const list = this.encode('export', () => checkDmaBufRanges(ranges, BigInt(sys.pageSize)));
    const payload = encodeDmaBufFeature(regionIndex, opts.openFlags ?? sys.dmaBufOpenFlags, list);
    const fd = this.call({ get: true }, payload, (code) =>
      dmaBufHint(code, { index: regionIndex, name: regionName, size: region?.size }, list),
    );
    let buf: DmaBuf;
    try {
      buf = new DmaBuf(fd, {
        label: host.label,
        regionIndex,
        regionName,
        ranges: list,
        release: (b) => host.disown(b),
        closeFd: (n) => sys.close(n),
      });
      host.own(buf);
    } catch (e) {
      sys.close(fd);
      throw e;
    }
    return buf;
  }
}

function checkDmaBufRanges(ranges: readonly DmaBufRangeInput[], page: bigint): ReturnType<typeof toDmaBufRanges> {
  if (ranges.length === 0) throw rangeArgError('device feature', 'at least one range is needed');
  const list = toDmaBufRanges(ranges);
  list.forEach((r, i) => {
    if (r.length === 0n) throw rangeArgError('device feature', `range ${i} is empty`);
    if (r.offset % page !== 0n || r.length % page !== 0n) {
      throw rangeArgError(
        'device feature',
        `range ${i} [0x${r.offset.toString(16)}, +0x${r.length.toString(16)}) is not aligned to the 0x${page.toString(16)} page size`,
      );
    }
  });
  return list;
}
