// VFIO_DEVICE_FEATURE: one ioctl, a 16-bit feature number and GET/SET/PROBE flags, then a
// feature-specific payload. `Feature` is the raw handle for any number, with the syscalls it
// makes and the errors it throws.
import { featureFlags } from '../abi';
import { VfioError, errnoError, errnoName, invalidArgument } from '../errors';
import { featureHint } from './hints';
import { FeatureAnswers } from './table';
import { native } from '../addon/native';

/** What the features of a device need from it. */
export interface FeatureHost {
  /** The device's label (its BDF), for errors. */
  readonly label: string;
  /** The device fd; throws {@link ClosedError} (naming `op`) after the device closed. */
  fd(op: string): number;
  /** The device's regions, for DMA_BUF exports. */
  readonly regions: readonly {
    /** Region index. */
    readonly index: number;
    /** Region name ('BAR2', …). */
    readonly name: string;
    /** Region size in bytes. */
    readonly size: bigint;
  }[];
  /** The device closes what it owns before its fd (dma-bufs). */
  own(res: { close(): void }): void;
  /** Forgets an owned resource that closed by itself. */
  disown(res: { close(): void }): void;
  /**
   * @internal Called before every SET with a payload: the device takes down mappings the SET is
   * about to revoke (a dma-buf revoke feature), which would otherwise fault.
   */
  beforeSet?(index: number, payload: Uint8Array): void;
  /** Runs a feature ioctl: low power entry and exit turn the device's memory off and on. */
  aroundFeature?(name: string, set: boolean, call: () => number): number;
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
  /** DMA_LOGGING_START over `ranges` (iova, length pairs); 0 or a negative errno. */
  dmaLoggingStart(fd: number, pageSize: bigint, ranges: BigUint64Array): number;
  /** DMA_LOGGING_REPORT into `bitmap` (one bit per page); 0 or a negative errno. */
  dmaLoggingReport(fd: number, iova: bigint, length: bigint, pageSize: bigint, bitmap: Uint8Array): number;
  /** close(2); 0 or a negative errno. */
  close(fd: number): number;
  /** open_flags for exported dma-bufs: O_RDWR | O_CLOEXEC. */
  readonly dmaBufOpenFlags: number;
  /** The host's page size in bytes. */
  readonly pageSize: number;
}

/** The {@link FeatureSyscalls} of the native addon (loading it on first use). */
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
  /** Hand the payload over even when its feature is not known to carry plain values; default false. */
  readonly unsafe?: boolean;
}

/** Which operations a call makes: GET, SET, or a PROBE of either (or of neither). */
export interface FeatureOpFlags {
  /** VFIO_DEVICE_FEATURE_GET; default false. */
  readonly get?: boolean;
  /** VFIO_DEVICE_FEATURE_SET; default false. */
  readonly set?: boolean;
  /** VFIO_DEVICE_FEATURE_PROBE; default false. */
  readonly probe?: boolean;
}

/** A VfioError from VFIO_DEVICE_FEATURE, with the feature it concerned. */
export type FeatureError = VfioError & {
  /** The feature the failing call concerned. */
  readonly feature: {
    /** Its number on this device. */
    readonly index: number;
    /** Its name in the device's number table, or `feature<N>`. */
    readonly name: string;
    /** The operations of the call: 'PROBE|GET', 'SET', …. */
    readonly ops: string;
  };
};

/** Whether `e` is a {@link FeatureError} (a VfioError of a VFIO_DEVICE_FEATURE call). */
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
  /** The feature number used on this device (from its number table). */
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
    if (ops.set && bytes) this.ctx.host.beforeSet?.(this.index, bytes);
    const call = () => this.ctx.sys.feature(fd, flags, bytes, unsafe && bytes !== null);
    const r = this.ctx.host.aroundFeature ? this.ctx.host.aroundFeature(this.name, !!ops.set, call) : call();
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
