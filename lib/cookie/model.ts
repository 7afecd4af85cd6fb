// The vocabulary of mmap cookies: what a caller asks for, how a mapping is backed, what a route
// reports about itself, and the tables (feature numbers, region types, route order) a caller can
// override. Nothing here performs I/O.
import { MappableArea, RegionCap } from '../decode';
import type { DmaBuf, DmaBufRangeInput } from '../dma/dmabuf';
import type { EffectiveMemAttr, Mapping } from '../memory/mapping';

/** The x86 PAT memory types a cookie can ask for, by their usual short names. */
export type CookieMemAttr = 'uc' | 'uc-' | 'wc' | 'wt' | 'wb';
/** Every {@link CookieMemAttr}, in the order reports list them. */
export const COOKIE_MEMATTRS: readonly CookieMemAttr[] = ['uc', 'uc-', 'wc', 'wt', 'wb'];

/**
 * How a cookie's range is mapped. Every backing names the file and page offset an mmap uses
 * (`pgoff` counts pages, as the kernel's vm_pgoff does), so a cookie can be looked up the way the
 * kernel resolves an mmap: by (file, offset).
 */
export type Backing =
  /** The VFIO device fd at the offset REGION_INFO gave for the region. */
  | {
      /** Discriminant: the device fd. */
      readonly kind: 'vfio-region';
      /** The VFIO device fd (owned by the device). */
      readonly fd: number;
      /** The mmap offset in the device fd, in pages. */
      readonly pgoff: bigint;
    }
  /** A dma-buf exported from the BAR range (VFIO_DEVICE_FEATURE_DMA_BUF); offset 0 is the range start. */
  | {
      /** Discriminant: an exported dma-buf. */
      readonly kind: 'dmabuf';
      /** The dma-buf fd (owned by its DmaBuf). */
      readonly fd: number;
      /** The mmap offset in the dma-buf, in pages. */
      readonly pgoff: bigint;
    }
  /** The sysfs `resourceN_wc` file of the BAR, held open for the cookie's life. */
  | {
      /** Discriminant: a sysfs `resourceN_wc` file. */
      readonly kind: 'sysfs';
      /** The file's path. */
      readonly path: string;
      /** The open file (owned by the cookie). */
      readonly fd: number;
      /** The mmap offset in the file, in pages. */
      readonly pgoff: bigint;
    }
  /** A device-specific region announced (TYPE cap) as a write-combining view of the BAR. */
  | {
      /** Discriminant: a WC view region of the device. */
      readonly kind: 'wc-region';
      /** The index of the WC view region. */
      readonly regionIndex: number;
      /** The VFIO device fd (owned by the device). */
      readonly fd: number;
      /** The mmap offset in the device fd, in pages. */
      readonly pgoff: bigint;
    }
  /** The VFIO device fd at an offset a driver's cookie feature allocated for this range and attribute. */
  | {
      /** Discriminant: an offset from the driver's cookie feature. */
      readonly kind: 'cookie-feature';
      /** The VFIO device fd (owned by the device). */
      readonly fd: number;
      /** The mmap offset the feature allocated, in pages. */
      readonly pgoff: bigint;
    };

/** The names of the backings: 'vfio-region', 'dmabuf', 'sysfs', 'wc-region', 'cookie-feature'. */
export type BackingKind = Backing['kind'];

/** What a route needs to know about a region; a Region satisfies it, and so do test fixtures. */
export interface RegionView {
  /** Region index. */
  readonly index: number;
  /** Region name ('BAR2', …). */
  readonly name: string;
  /** Size in bytes. */
  readonly size: bigint;
  /** The region's offset within the device fd, from REGION_INFO. */
  readonly offset: bigint;
  /** REGION_INFO's flags. */
  readonly flags: {
    /** The region can be read. */
    readonly read: boolean;
    /** The region can be written. */
    readonly write: boolean;
    /** The region (or parts of it: `mappableAreas`) can be mmapped. */
    readonly mmap: boolean;
  };
  /** The region's decoded capability chain. */
  readonly caps: readonly RegionCap[];
  /** Byte ranges that can be mmapped. */
  readonly mappableAreas: readonly MappableArea[];
}

/**
 * A region the cookie layer maps and exports from: device/region.ts's Region is one. The
 * cookie layer names only what it uses, so it stays below the device layer that creates it.
 */
export interface CookieRegion extends RegionView {
  /** Maps `length` bytes at region `offset`, from the device fd or from `fd` at `fileOffset` (bytes). */
  mapRange(offset: bigint, length: number, fd?: number, fileOffset?: bigint): Mapping;
  /** Exports slices of the region as a dma-buf (default: all of it). */
  exportDmaBuf(ranges?: readonly DmaBufRangeInput[]): DmaBuf;
}

/**
 * What a cookie asks for (`region.cookie(options)`): a page-aligned range of the region and a
 * memory type. Invalid ranges throw {@link InvalidArgumentError}; a strict request no route can
 * serve throws {@link NotSupportedError} with every route's reason.
 */
export interface CookieOptions {
  /** Offset within the region (page-aligned); default 0. */
  offset?: number | bigint;
  /** Bytes; default: to the end of the region. */
  length?: number;
  /** The memory type asked for. */
  memattr: CookieMemAttr;
  /**
   * true: fail with a NotSupportedError when no route gives `memattr` (default for 'wc').
   * false: take the best route and report `downgraded` (default for every other type).
   */
  strict?: boolean;
  /** Use this route only (by name), e.g. 'sysfs' or 'dmabuf'. */
  route?: string;
}

/** A validated request, as routes see it. */
export interface CookieRequest {
  /** The region. */
  readonly region: RegionView;
  /** Byte offset in the region, page-aligned. */
  readonly offset: bigint;
  /** Bytes, whole pages. */
  readonly length: number;
  /** The memory type asked for. */
  readonly memattr: CookieMemAttr;
  /** Whether a route that gives another type is refused. */
  readonly strict: boolean;
  /** The one route asked for, if any. */
  readonly route: string | undefined;
}

/** One route's answer for one region and range: can it map it, with which attribute, and why. */
export interface RouteProbe {
  /** The route's name. */
  readonly route: string;
  /** Whether it can map the range here. */
  readonly available: boolean;
  /** The attribute a mapping through this route is expected to get (when available). */
  readonly gives: EffectiveMemAttr | undefined;
  /** Why it is (un)available or gives what it gives: facts, with the errno or file that said so. */
  readonly reason: string;
  /** What would make this route give write-combining here (kernel feature, boot option, BAR kind). */
  readonly needs: readonly string[];
  /**
   * The route can be opened, but whether the kernel lets its backing be mmapped is only known by
   * trying (a dma-buf without the memory-attribute feature): taken only when asked for by name.
   */
  readonly tentative?: boolean;
}

/** Which route a cookie uses, and the evidence for the choice. */
export interface RouteChoice {
  /** The route taken. */
  readonly name: string;
  /** The attribute the route said it would give. */
  readonly gives: EffectiveMemAttr | undefined;
  /** Why it was taken, with its own reason. */
  readonly reason: string;
  /** Set when the route does not give what was asked (non-strict requests only). */
  readonly downgraded: string | undefined;
  /** Every route's answer, in the order they were considered. */
  readonly considered: readonly RouteProbe[];
}

/** What dev.memattrRoutes(region) answers. */
export interface MemattrRoutesReport {
  /** The region's name. */
  readonly region: string;
  /** Every route's answer, in the order of preference. */
  readonly routes: readonly RouteProbe[];
  /** Routes that give write-combining here, best first. */
  readonly wc: readonly string[];
  /** When `wc` is empty: why, one clause per route. */
  readonly why: string | undefined;
  /** When `wc` is empty: what would make one available. */
  readonly hint: string | undefined;
}

// --- tables a caller can override ----------------------------------------------------------------

/**
 * A device feature that sets the memory attribute of an exported dma-buf's CPU mapping (the
 * pending DMA_BUF_MEMATTR series). Its number and payload are not in any released uAPI, so both
 * live here, where a caller running a kernel with another revision of the series can replace them.
 */
export interface MemattrFeature {
  /** Its name in the device's feature table ('DMA_BUF_MEMATTR'). */
  readonly name: string;
  /** Feature index. Numbers from 13 on are claimed by several unmerged series: probe, never assume. */
  readonly number: number;
  /** The uAPI value for each attribute the feature can set ('uc-' is the dma-buf default, NC). */
  readonly values: Partial<Record<CookieMemAttr, number>>;
  /** The SET payload for a dma-buf fd and an attribute value. */
  encode(dmabufFd: number, value: number): Uint8Array;
}

/**
 * A device feature that revokes an exported dma-buf for good (the pending DMA_BUF_REVOKE):
 * its mappings are zapped (the next access is SIGBUS) and it cannot be mapped again. Its
 * number is contested (13 went to ZPCI_ERROR), so the default table has none: a caller or the
 * device's feature table (name `DMA_BUF_REVOKE`) gives it.
 */
export interface RevokeFeature {
  /** Its name in the device's feature table ('DMA_BUF_REVOKE'). */
  readonly name: string;
  /** Its feature index, or undefined to take it from the device's feature table only. */
  readonly number: number | undefined;
  /** The SET payload for a dma-buf fd. */
  encode(dmabufFd: number): Uint8Array;
}

/** A region type (TYPE cap) that announces a write-combining view of one BAR. */
export interface WcRegionType {
  /** A name for reports. */
  readonly name: string;
  /** The TYPE cap's type (32 bits; vendor types have bit 31 set and the PCI vendor ID below). */
  readonly type: number;
  /** The TYPE cap's subtype (32 bits). */
  readonly subtype: number;
  /** The BAR (0-5) the region is a WC view of. */
  readonly bar: number;
}

/** A cookie request as a driver's cookie feature receives it (the BAR range in bytes). */
export interface CookieFeatureRequest {
  /** The BAR (0-5). */
  readonly bar: number;
  /** The feature's value for the attribute (CookieFeature.values). */
  readonly memattr: number;
  /** Byte offset in the BAR. */
  readonly offset: bigint;
  /** Bytes. */
  readonly length: bigint;
}

/**
 * A device feature that hands out mmap cookies: GET with a request allocates device-fd offsets
 * that map the range with the attribute, SET with those offsets releases them. No released
 * kernel has one; the project's sample driver does (cookie/sample-driver.ts holds its values).
 */
export interface CookieFeature {
  /** Its name in the device's feature table: a number given there wins over `number`. */
  readonly name: string;
  /** Its feature index when the device's table does not name it. */
  readonly number: number;
  /** The feature's value for each attribute it can map. */
  readonly values: Partial<Record<CookieMemAttr, number>>;
  /** Which BARs the driver makes cookies for. */
  readonly bars: 'prefetchable' | 'memory';
  /** The GET payload for a request. */
  encodeCreate(req: CookieFeatureRequest): Uint8Array;
  /** The mmap offset (bytes) the kernel wrote into the GET payload. */
  decodeCreated(payload: Uint8Array): bigint;
  /** The SET payload that releases the cookie at an mmap offset. */
  encodeRelease(mmapOffset: bigint): Uint8Array;
}

/**
 * The tables the cookie layer consults: features and region types of pending or out-of-tree
 * interfaces, and the route order. Replace entries per device with
 * {@link DeviceOpenOptions.memattrTables}; {@link memattrTables} merges overrides.
 */
export interface MemattrTables {
  /**
   * The memory-attribute feature for dma-bufs, or undefined to never probe for one. A number the
   * device's feature table gives its name (DeviceOpenOptions.featureNumbers) wins over `number`.
   */
  readonly memattrFeature: MemattrFeature | undefined;
  /** The dma-buf revoke feature; its number comes from here or from the device's feature table. */
  readonly revokeFeature: RevokeFeature | undefined;
  /** Region types that are WC views of a BAR. No stock driver defines one yet. */
  readonly wcRegionTypes: readonly WcRegionType[];
  /** The driver's mmap-cookie feature, or undefined (the default) to never probe for one. */
  readonly cookieFeature: CookieFeature | undefined;
  /** Route names in order of preference for write-combining. */
  readonly routeOrder: readonly string[];
}

/** The memory-attribute values of the DMA_BUF_MEMATTR revision this package knows (v3: NC, WC). */
export const DMABUF_MEMATTR_NC = 0;
/** The WC value of that revision. */
export const DMABUF_MEMATTR_WC = 1;

/** struct { s32 dmabuf_fd; u32 memattr; }, little-endian, as that revision lays it out. */
export function encodeDmaBufMemattr(dmabufFd: number, value: number): Uint8Array {
  const out = new Uint8Array(8);
  const dv = new DataView(out.buffer);
  dv.setInt32(0, dmabufFd, true);
  dv.setUint32(4, value >>> 0, true);
  return out;
}

/** struct { s32 dmabuf_fd; }, little-endian. */
export function encodeDmaBufRevoke(dmabufFd: number): Uint8Array {
  const out = new Uint8Array(4);
  new DataView(out.buffer).setInt32(0, dmabufFd, true);
  return out;
}

/** The dma-buf memory-attribute feature as upstream's v3 series numbers it. */
export const DMABUF_MEMATTR_FEATURE: MemattrFeature = Object.freeze({
  name: 'DMA_BUF_MEMATTR',
  number: 14,
  values: Object.freeze({ 'uc-': DMABUF_MEMATTR_NC, wc: DMABUF_MEMATTR_WC }),
  encode: encodeDmaBufMemattr,
});

/** The dma-buf revoke feature: no number is settled upstream (a table or the device gives one). */
export const DMABUF_REVOKE_FEATURE: RevokeFeature = Object.freeze({
  name: 'DMA_BUF_REVOKE',
  number: undefined,
  encode: encodeDmaBufRevoke,
});

/** The tables without overrides: the v3 DMA_BUF_MEMATTR at 14, no revoke number, no WC regions, no cookie feature. */
export const DEFAULT_MEMATTR_TABLES: MemattrTables = Object.freeze({
  memattrFeature: DMABUF_MEMATTR_FEATURE,
  revokeFeature: DMABUF_REVOKE_FEATURE,
  wcRegionTypes: Object.freeze([]),
  cookieFeature: undefined,
  // A driver's own WC routes first: they need no boot option and no ordering of opens.
  routeOrder: Object.freeze(['wc-region', 'cookie-feature', 'dmabuf', 'sysfs', 'vfio-region']),
});

/** The default tables with some entries replaced. */
export function memattrTables(overrides: Partial<MemattrTables> = {}): MemattrTables {
  return { ...DEFAULT_MEMATTR_TABLES, ...overrides };
}

/** WC-view region types for every BAR, when a driver numbers its subtypes `base + bar`. */
export function wcRegionTypesPerBar(name: string, type: number, subtypeBase: number): WcRegionType[] {
  return [0, 1, 2, 3, 4, 5].map((bar) => ({
    name: `${name}-bar${bar}`,
    type: type >>> 0,
    subtype: (subtypeBase + bar) >>> 0,
    bar,
  }));
}

/** `0x` and lower-case hex digits, for messages. */
export function hex(n: bigint | number): string {
  return `0x${n.toString(16)}`;
}
