// VFIO_DEVICE_FEATURE: one ioctl, a 16-bit feature number and GET/SET/PROBE flags, then a
// feature-specific payload. `Feature` is the raw handle for any number; the known features get
// a subclass with typed methods (payload codecs in decode/features.ts and dma-ranges.ts).
// `DeviceFeatures` holds one open device's number table and its cached probe answers.
import { VFIO_DEVICE_FEATURE_DMA_LOGGING_REPORT, VFIO_DEVICE_FEATURE_DMA_LOGGING_START, featureFlags } from '../abi';
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
import { VfioError, errnoError, errnoName, invalidArgument, notSupported } from '../errors';
import { featureHint, dmaBufHint } from './hints';
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
import { native } from '../addon/native';
import { rangeArgError } from '../errors/args';

/** What the features of a device need from it. */
export interface FeatureHost {
  readonly label: string;
  fd(op: string): number;
  readonly regions: readonly { readonly index: number; readonly name: string; readonly size: bigint }[];
  /** The device closes what it owns before its fd (dma-bufs). */
  own(res: { close(): void }): void;
  disown(res: { close(): void }): void;
}

/** The addon calls this module makes; tests substitute a scripted kernel. */
export interface FeatureSyscalls {
  /**
   * VFIO_DEVICE_FEATURE; `unsafe` takes the addon's raw path, which hands any payload to the
   * driver (VFIO_DEVICE_FEATURE_UNSAFE).
   */
  feature(fd: number, flags: number, payload: Uint8Array | null, unsafe?: boolean): number;
  /** The features whose payload is known to hold no address (the addon's allowlist). */
  readonly plainPayload: readonly number[];
  dmaLoggingStart(fd: number, pageSize: bigint, ranges: BigUint64Array): number;
  dmaLoggingReport(fd: number, iova: bigint, length: bigint, pageSize: bigint, bitmap: Uint8Array): number;
  close(fd: number): number;
  /** open_flags for exported dma-bufs: O_RDWR | O_CLOEXEC. */
  readonly dmaBufOpenFlags: number;
  readonly pageSize: number;
}

export function nativeFeatureSyscalls(): FeatureSyscalls {
  const n = native();
  return {
    feature: (fd, flags, payload, unsafe) =>
      unsafe ? n.VFIO_DEVICE_FEATURE_UNSAFE(fd, flags, payload) : n.VFIO_DEVICE_FEATURE(fd, flags, payload),
    plainPayload: n.FEATURE_PLAIN_PAYLOAD,
    dmaLoggingStart: (fd, pageSize, ranges) => n.VFIO_DEVICE_FEATURE_DMA_LOGGING_START(fd, pageSize, ranges),
    dmaLoggingReport: (fd, iova, length, pageSize, bitmap) =>
      n.VFIO_DEVICE_FEATURE_DMA_LOGGING_REPORT(fd, iova, length, pageSize, bitmap),
    close: (fd) => n.close(fd),
    dmaBufOpenFlags: n.constants.O_RDWR | n.constants.O_CLOEXEC,
    pageSize: n.constants.PAGE_SIZE,
  };
}

/**
 * A raw feature call's options. `unsafe`: hand the payload to a feature the addon does not know
 * to carry plain values (a driver's own feature): the bytes reach the driver as they are, and a
 * driver that reads an address from them reads one JavaScript chose. Never for
 * DMA_LOGGING_START/REPORT (refused: they have their own methods).
 */
export interface RawFeatureOptions {
  readonly unsafe?: boolean;
}

/** Which operations a call makes: GET, SET, or a PROBE of either (or of neither). */
export interface FeatureOpFlags {
  readonly get?: boolean;
  readonly set?: boolean;
  readonly probe?: boolean;
}

/** A VfioError from VFIO_DEVICE_FEATURE, with the feature it concerned. */
export type FeatureError = VfioError & {
  readonly feature: { readonly index: number; readonly name: string; readonly ops: string };
};

export function isFeatureError(e: unknown): e is FeatureError {
  return e instanceof VfioError && typeof (e as { feature?: unknown }).feature === 'object';
}

function opsText(ops: FeatureOpFlags): string {
  return [ops.probe && 'PROBE', ops.get && 'GET', ops.set && 'SET'].filter(Boolean).join('|') || 'none';
}

/** @internal Shared by the handles of one device. */
export interface FeatureContext {
  readonly host: FeatureHost;
  readonly sys: FeatureSyscalls;
  answers(index: number, refresh?: boolean): FeatureAnswers;
}

/** Raw access to one feature number. Subclasses add typed methods for the known features. */
export class Feature {
  readonly index: number;
  /** The number table's name for it, or `feature<N>`. */
  readonly name: string;
  /** @internal */
  protected readonly ctx: FeatureContext;

  /** @internal Device.feature() creates handles. */
  constructor(ctx: FeatureContext, index: number, name: string) {
    this.ctx = ctx;
    this.index = index;
    this.name = name;
  }

  /**
   * Whether the driver offers the feature (no ops), or those operations of it. Answers come from
   * the device's probe cache: each number is probed once per open device.
   */
  probe(ops: { get?: boolean; set?: boolean } = {}): boolean {
    const a = this.ctx.answers(this.index);
    if (ops.get && a.get !== 'OK') return false;
    if (ops.set && a.set !== 'OK') return false;
    return ops.get || ops.set ? true : a.probe === 'OK';
  }

  /**
   * GET with a payload (copied) or a payload size; returns the payload as the kernel left it.
   * A payload goes only to the features known to hold no address in it (see `unsafe`).
   */
  get(payload: Uint8Array | number = 0, opts: RawFeatureOptions = {}): Uint8Array {
    const buf = typeof payload === 'number' ? new Uint8Array(payload) : new Uint8Array(payload);
    this.call({ get: true }, buf, undefined, opts.unsafe);
    return buf;
  }

  /** SET with a payload (none for features that take none); returns the ioctl's result. */
  set(payload: Uint8Array | null = null, opts: RawFeatureOptions = {}): number {
    return this.call({ set: true }, payload, undefined, opts.unsafe);
  }

  /**
   * The ioctl with any flags; returns its result (which is an fd for some GETs: the caller then
   * owns it). Throws the typed error for the kernel's errno.
   */
  ioctl(ops: FeatureOpFlags, payload: Uint8Array | null = null, opts: RawFeatureOptions = {}): number {
    return this.call(ops, payload, undefined, opts.unsafe);
  }

  /** @internal */
  protected call(
    ops: FeatureOpFlags,
    payload: Uint8Array | null,
    hint?: (code: string) => string | undefined,
    unsafe = false,
  ): number {
    const flags = featureFlags(this.index, ops);
    const op = `Feature(${this.name}).${ops.set ? 'set' : 'get'}`;
    const bytes = payload && payload.length ? payload : null;
    if (bytes && !unsafe && !this.ctx.sys.plainPayload.includes(this.index)) {
      throw invalidArgument(
        op,
        `feature ${this.index} (${this.name}) is not known to take a payload without addresses, so none is passed to it by default`,
        {
          device: this.ctx.host.label,
          hint: 'if its driver documents a payload of plain values, pass { unsafe: true } (docs/reliability.md); DMA_LOGGING_START/REPORT have their own methods',
        },
      );
    }
    const fd = this.ctx.host.fd(op);
    const r = this.ctx.sys.feature(fd, flags, bytes, unsafe && bytes !== null);
    if (r < 0) throw this.error(-r, ops, hint);
    return r;
  }

  /** @internal */
  protected error(errno: number, ops: FeatureOpFlags, hint?: (code: string) => string | undefined): FeatureError {
    const code = errnoName(errno);
    const err = errnoError(errno, 'VFIO_DEVICE_FEATURE', {
      device: this.ctx.host.label,
      detail: `feature ${this.index} (${this.name}), ${opsText(ops)}`,
      hint: hint?.(code) ?? featureHint(this.name, this.index, code),
    });
    return Object.assign(err, { feature: Object.freeze({ index: this.index, name: this.name, ops: opsText(ops) }) });
  }

  /** @internal Our own argument checks, as InvalidArgumentError. */
  protected encode<T>(what: string, f: () => T): T {
    try {
      return f();
    } catch (e) {
      throw invalidArgument(`Feature(${this.name}).${what}`, (e as Error).message, {
        device: this.ctx.host.label,
        cause: e,
      });
    }
  }
}

// --- the typed features -----------------------------------------------------------------------

export class LowPowerEntryFeature extends Feature {
  /**
   * Lets the device runtime-suspend once idle. Until exit the kernel zaps BAR mappings and
   * answers a fault on them with SIGBUS (fatal to the process): touch no Mapping meanwhile.
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
  read(): { readonly stopCopyLength: bigint } {
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
  stop(): void {
    this.set(null);
  }
}

export interface DmaLoggingReport {
  /** The kernel's bitmap: one bit per page, u64 words, little-endian. */
  readonly bitmap: Uint8Array;
  readonly dirty: readonly DmaRange[];
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

/** The handle class for each known feature name. */
export interface KnownFeatures {
  PCI_VF_TOKEN: VfTokenFeature;
  MIGRATION: MigrationFlagsFeature;
  MIG_DEVICE_STATE: MigStateFeature;
  LOW_POWER_ENTRY: LowPowerEntryFeature;
  LOW_POWER_ENTRY_WITH_WAKEUP: LowPowerWakeupFeature;
  LOW_POWER_EXIT: LowPowerExitFeature;
  DMA_LOGGING_START: DmaLoggingStartFeature;
  DMA_LOGGING_STOP: DmaLoggingStopFeature;
  DMA_LOGGING_REPORT: DmaLoggingReportFeature;
  MIG_DATA_SIZE: MigDataSizeFeature;
  BUS_MASTER: BusMasterFeature;
  DMA_BUF: DmaBufFeature;
  MIG_PRECOPY_INFOv2: Feature;
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
