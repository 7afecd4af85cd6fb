// One open device's features: its number table, its cached probe answers, and the handle class
// (feature.ts, typed.ts) for each number.
import { featureFlags } from '../abi';
import { DmaBuf, DmaBufRangeInput } from '../dma/dmabuf';
import { errnoName, invalidArgument } from '../errors';
import {
  DEFAULT_FEATURE_NUMBERS,
  FeatureAnswers,
  FeatureInfo,
  FeatureNumberOverrides,
  FeatureNumbers,
  KnownFeatureName,
  ProbeAnswer,
  featureIndexIn,
  featureNameIn,
  featureNumbers,
  interpretProbe,
} from './table';

import {
  DmaBufExportOptions,
  DmaBufFeature,
  BusMasterFeature,
  DmaLoggingReportFeature,
  DmaLoggingStartFeature,
  DmaLoggingStopFeature,
  LowPowerEntryFeature,
  LowPowerExitFeature,
  LowPowerWakeupFeature,
  MigDataSizeFeature,
  MigStateFeature,
  MigrationFlagsFeature,
  VfTokenFeature,
} from './typed';
import {
  Feature,
  FeatureContext,
  FeatureHost,
  FeatureOpFlags,
  FeatureSyscalls,
  nativeFeatureSyscalls,
} from './feature';

export * from './feature';
export * from './typed';

/** The handle class for each known feature name. */
export interface KnownFeatures {
  /** 0: set the SR-IOV VF token (a UUID) shared by a PF and its VFs. */
  PCI_VF_TOKEN: VfTokenFeature;
  /** 1: the migration capability flags. */
  MIGRATION: MigrationFlagsFeature;
  /** 2: the migration state machine (get and set the state). */
  MIG_DEVICE_STATE: MigStateFeature;
  /** 3: enter low-power state (D3cold where possible). */
  LOW_POWER_ENTRY: LowPowerEntryFeature;
  /** 4: enter low-power state, woken by the device through an eventfd. */
  LOW_POWER_ENTRY_WITH_WAKEUP: LowPowerWakeupFeature;
  /** 5: leave low-power state. */
  LOW_POWER_EXIT: LowPowerExitFeature;
  /** 6: start dirty tracking of device DMA writes. */
  DMA_LOGGING_START: DmaLoggingStartFeature;
  /** 7: stop dirty tracking. */
  DMA_LOGGING_STOP: DmaLoggingStopFeature;
  /** 8: read and clear the dirty bitmap of a range. */
  DMA_LOGGING_REPORT: DmaLoggingReportFeature;
  /** 9: the device's estimate of its STOP_COPY data size. */
  MIG_DATA_SIZE: MigDataSizeFeature;
  /** 10: bus mastering of devices without PCI config space (CDX). */
  BUS_MASTER: BusMasterFeature;
  /** 11: export BAR slices as a dma-buf. */
  DMA_BUF: DmaBufFeature;
  /** 12: pre-copy sizes of a migration (raw access only). */
  MIG_PRECOPY_INFOv2: Feature;
  /** 13: s390 zPCI error information (raw access only). */
  ZPCI_ERROR: Feature;
}

type FeatureClass = new (ctx: FeatureContext, index: number, name: string) => Feature;

const TYPED: Readonly<Record<KnownFeatureName, FeatureClass>> = Object.freeze({
  PCI_VF_TOKEN: VfTokenFeature,
  MIGRATION: MigrationFlagsFeature,
  MIG_DEVICE_STATE: MigStateFeature,
  LOW_POWER_ENTRY: LowPowerEntryFeature,
  LOW_POWER_ENTRY_WITH_WAKEUP: LowPowerWakeupFeature,
  LOW_POWER_EXIT: LowPowerExitFeature,
  DMA_LOGGING_START: DmaLoggingStartFeature,
  DMA_LOGGING_STOP: DmaLoggingStopFeature,
  DMA_LOGGING_REPORT: DmaLoggingReportFeature,
  MIG_DATA_SIZE: MigDataSizeFeature,
  BUS_MASTER: BusMasterFeature,
  DMA_BUF: DmaBufFeature,
  MIG_PRECOPY_INFOv2: Feature,
  ZPCI_ERROR: Feature,
});

/** Options of a feature probe (`dev.features(options)`). */
export interface FeaturesOptions {
  /** Probe under this table (applied to the device's) for this call only. */
  readonly numbers?: FeatureNumberOverrides;
  /** Also probe these numbers (e.g. 0–31 to see what a kernel answers beyond the table). */
  readonly extraIndices?: readonly number[];
  /** Probe again instead of using the answers cached for this open device. */
  readonly refresh?: boolean;
}

/** One open device's features: its number table and the probe answers seen so far. */
export class DeviceFeatures {
  /** The device's feature number table: the 7.3 header's, with `featureNumbers` overrides applied. */
  readonly numbers: FeatureNumbers;
  private readonly host: FeatureHost;
  private readonly sys: FeatureSyscalls;
  private readonly cache = new Map<number, FeatureAnswers>();
  private readonly ctx: FeatureContext;

  constructor(
    host: FeatureHost,
    numbers: FeatureNumbers = DEFAULT_FEATURE_NUMBERS,
    sys: FeatureSyscalls = nativeFeatureSyscalls(),
  ) {
    this.host = host;
    this.numbers = numbers;
    this.sys = sys;
    this.ctx = { host, sys, answers: (i, refresh) => this.answers(i, refresh) };
  }

  /** The handle for a number or a name of the table (typed for the known features). */
  feature(which: number | string): Feature {
    const index = typeof which === 'number' ? which : featureIndexIn(this.numbers, which);
    if (index === undefined) {
      throw invalidArgument(
        'Device.feature',
        `no feature named '${which}' in the number table (${Object.keys(this.numbers).join(', ')})`,
        { device: this.host.label },
      );
    }
    if (!Number.isInteger(index) || index < 0 || index > 0xffff) {
      throw invalidArgument('Device.feature', `feature number ${index} is outside 0..0xffff`, {
        device: this.host.label,
      });
    }
    const name = featureNameIn(this.numbers, index);
    const Cls = (TYPED as Readonly<Record<string, FeatureClass>>)[name] ?? Feature;
    return new Cls(this.ctx, index, name);
  }

  /** PROBE, PROBE|GET and PROBE|SET of one number, cached. */
  answers(index: number, refresh = false): FeatureAnswers {
    const cached = this.cache.get(index);
    if (cached && !refresh) return cached;
    const fd = this.host.fd('Device.features');
    const ask = (ops: FeatureOpFlags): ProbeAnswer => {
      const r = this.sys.feature(fd, featureFlags(index, { ...ops, probe: true }), null);
      return r >= 0 ? 'OK' : errnoName(-r);
    };
    const a = Object.freeze({ probe: ask({}), get: ask({ get: true }), set: ask({ set: true }) });
    this.cache.set(index, a);
    return a;
  }

  /** Every number of the table (plus extras), probed, in index order. */
  list(opts: FeaturesOptions = {}): FeatureInfo[] {
    const table = opts.numbers ? featureNumbers(opts.numbers, this.numbers) : this.numbers;
    const indices = new Set<number>([...Object.values(table), ...(opts.extraIndices ?? [])]);
    return [...indices]
      .sort((a, b) => a - b)
      .map((i) => interpretProbe(featureNameIn(table, i), i, this.answers(i, opts.refresh)));
  }

  /** Region.exportDmaBuf() lands here. */
  exportDmaBuf(regionIndex: number, ranges: readonly DmaBufRangeInput[], opts?: DmaBufExportOptions): DmaBuf {
    const f = this.feature('DMA_BUF');
    return (f as DmaBufFeature).export(regionIndex, ranges, opts);
  }
}
