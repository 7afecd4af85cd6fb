// The project's sample vfio-pci variant driver (kernel/vfio-pci-wc-sample): the numbers it uses
// for its write-combining regions, its mmap-cookie feature and its dma-buf memory-attribute and
// revoke features. They are SAMPLE values, not an
// upstream uAPI, and this is the one place the library holds them: nothing in the routes knows
// them until a caller registers these tables (Device.open's `memattrTables`, or per call).
// The kernel's copy is kernel/vfio-pci-wc-sample/vfio_pci_wc_sample.h; a host test checks that
// the two agree. See docs/sample-driver.md.
import * as fs from 'fs';
import * as path from 'path';
import { VFIO_REGION_TYPE_PCI_VENDOR_TYPE } from '../abi';
import {
  CookieFeature,
  CookieFeatureRequest,
  DMABUF_MEMATTR_FEATURE,
  DMABUF_REVOKE_FEATURE,
  MemattrFeature,
  MemattrTables,
  RevokeFeature,
  wcRegionTypesPerBar,
} from './model';
import { rangeArgError } from '../errors/args';

/** The PCI driver name (driver_override): what sysfs shows as the device's driver. */
export const SAMPLE_DRIVER_NAME = 'vfio_pci_wc_sample';

/** VFIO_WC_SAMPLE_REGION_TYPE: a PCI vendor type with vendor 0xffff (never assigned). */
export const SAMPLE_REGION_TYPE = (VFIO_REGION_TYPE_PCI_VENDOR_TYPE | 0xffff) >>> 0;
/** VFIO_WC_SAMPLE_REGION_SUBTYPE_BASE: the subtype is base + BAR ('W' 'C' 0 n). */
export const SAMPLE_REGION_SUBTYPE_BASE = 0x57430000;
/** VFIO_WC_SAMPLE_FEATURE_MMAP_COOKIE */
export const SAMPLE_COOKIE_FEATURE = 0xfc01;
/** VFIO_WC_SAMPLE_MEMATTR_NC: pgprot_noncached (UC- under x86 PAT). */
export const SAMPLE_MEMATTR_NC = 0;
/** VFIO_WC_SAMPLE_MEMATTR_WC: pgprot_writecombine. */
export const SAMPLE_MEMATTR_WC = 1;
/** VFIO_WC_SAMPLE_FEATURE_DMA_BUF_MEMATTR: { s32 dmabuf_fd; u32 memattr }, SET only. */
export const SAMPLE_DMABUF_MEMATTR_FEATURE = 0xfc02;
/** VFIO_WC_SAMPLE_FEATURE_DMA_BUF_REVOKE: { s32 dmabuf_fd }, SET only. */
export const SAMPLE_DMABUF_REVOKE_FEATURE = 0xfc03;
/** VFIO_WC_SAMPLE_FEATURES_ATTR: the device's sysfs file announcing the feature numbers. */
export const SAMPLE_FEATURES_ATTR = 'vfio_features';
/** VFIO_WC_SAMPLE_MAX_COOKIES: live cookies per device. */
export const SAMPLE_MAX_COOKIES = 256;
/** sizeof(struct vfio_wc_sample_cookie) and where mmap_offset sits in it. */
export const SAMPLE_COOKIE_SIZE = 32;
const MMAP_OFFSET_AT = 24;

/**
 * struct vfio_wc_sample_cookie { u32 region_index; u32 memattr; u64 offset; u64 length;
 * u64 mmap_offset; }, little-endian.
 */
export function encodeSampleCookie(req: CookieFeatureRequest, mmapOffset = 0n): Uint8Array {
  const out = new Uint8Array(SAMPLE_COOKIE_SIZE);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, req.bar >>> 0, true);
  dv.setUint32(4, req.memattr >>> 0, true);
  dv.setBigUint64(8, BigInt.asUintN(64, req.offset), true);
  dv.setBigUint64(16, BigInt.asUintN(64, req.length), true);
  dv.setBigUint64(MMAP_OFFSET_AT, BigInt.asUintN(64, mmapOffset), true);
  return out;
}

/** The mmap offset (bytes) the sample driver wrote into a cookie GET payload; {@link InvalidArgumentError} for a short payload. */
export function decodeSampleCookieOffset(payload: Uint8Array): bigint {
  if (payload.length < SAMPLE_COOKIE_SIZE)
    throw rangeArgError('sample cookie', `cookie payload of ${payload.length} bytes, expected ${SAMPLE_COOKIE_SIZE}`);
  return new DataView(payload.buffer, payload.byteOffset, payload.byteLength).getBigUint64(MMAP_OFFSET_AT, true);
}

/** The sample driver's mmap-cookie feature, for {@link MemattrTables.cookieFeature}. */
export const SAMPLE_COOKIE_FEATURE_TABLE: CookieFeature = Object.freeze({
  name: 'WC_SAMPLE_MMAP_COOKIE',
  number: SAMPLE_COOKIE_FEATURE,
  values: Object.freeze({ 'uc-': SAMPLE_MEMATTR_NC, wc: SAMPLE_MEMATTR_WC }),
  bars: 'prefetchable' as const,
  encodeCreate: (req: CookieFeatureRequest) => encodeSampleCookie(req),
  decodeCreated: decodeSampleCookieOffset,
  encodeRelease: (mmapOffset: bigint) => encodeSampleCookie({ bar: 0, memattr: 0, offset: 0n, length: 0n }, mmapOffset),
});

/** The dma-buf memory-attribute feature at the sample's number (payload and values as upstream's v3). */
export const SAMPLE_DMABUF_MEMATTR_TABLE: MemattrFeature = Object.freeze({
  ...DMABUF_MEMATTR_FEATURE,
  number: SAMPLE_DMABUF_MEMATTR_FEATURE,
});

/** The dma-buf revoke feature at the sample driver's number. */
export const SAMPLE_DMABUF_REVOKE_TABLE: RevokeFeature = Object.freeze({
  ...DMABUF_REVOKE_FEATURE,
  number: SAMPLE_DMABUF_REVOKE_FEATURE,
});

/**
 * The tables that let the routes find the sample driver's three designs: its WC region per BAR
 * (wc-region route), its cookie feature (cookie-feature route) and its dma-buf attribute and
 * revoke features (dmabuf route). Merge with other overrides:
 * `{ ...sampleDriverTables(), routeOrder: [...] }`.
 */
export function sampleDriverTables(): Partial<MemattrTables> {
  return {
    wcRegionTypes: wcRegionTypesPerBar('vfio-pci-wc-sample', SAMPLE_REGION_TYPE, SAMPLE_REGION_SUBTYPE_BASE),
    cookieFeature: SAMPLE_COOKIE_FEATURE_TABLE,
    memattrFeature: SAMPLE_DMABUF_MEMATTR_TABLE,
    revokeFeature: SAMPLE_DMABUF_REVOKE_TABLE,
  };
}

/**
 * The driver's announcement (`NAME number` lines) as feature-table overrides. RangeError for a
 * line that is not a name and a decimal number.
 */
export function parseAnnouncedFeatures(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [i, raw] of text.split('\n').entries()) {
    const line = raw.trim();
    if (!line) continue;
    const m = /^([A-Za-z][A-Za-z0-9_]*)\s+(\d+)$/.exec(line);
    if (!m) throw new RangeError(`feature announcement line ${i + 1} is not "NAME number": ${JSON.stringify(raw)}`);
    out[m[1]] = Number(m[2]);
  }
  return out;
}

/**
 * The feature numbers a device's driver announces in sysfs (the sample driver's
 * `vfio_features` file), for `Device.open(bdf, { featureNumbers })`; undefined when the
 * device's driver announces none. Numbers the caller knows better can be merged over it.
 */
export function announcedFeatureNumbers(
  bdf: string,
  sysfsDevices = '/sys/bus/pci/devices',
): Record<string, number> | undefined {
  let text: string;
  try {
    text = fs.readFileSync(path.join(sysfsDevices, bdf, SAMPLE_FEATURES_ATTR), 'utf8');
  } catch {
    return undefined;
  }
  return parseAnnouncedFeatures(text);
}
