// The project's sample vfio-pci variant driver (kernel/vfio-pci-wc-sample): the numbers it uses
// for its write-combining regions and its mmap-cookie feature. They are SAMPLE values, not an
// upstream uAPI, and this is the one place the library holds them: nothing in the routes knows
// them until a caller registers these tables (Device.open's `memattrTables`, or per call).
// The kernel's copy is kernel/vfio-pci-wc-sample/vfio_pci_wc_sample.h; a host test checks that
// the two agree. See docs/sample-driver.md.
import { VFIO_REGION_TYPE_PCI_VENDOR_TYPE } from '../abi';
import { CookieFeature, CookieFeatureRequest, MemattrTables, wcRegionTypesPerBar } from './model';

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

export function decodeSampleCookieOffset(payload: Uint8Array): bigint {
  if (payload.length < SAMPLE_COOKIE_SIZE)
    throw new RangeError(`cookie payload of ${payload.length} bytes, expected ${SAMPLE_COOKIE_SIZE}`);
  return new DataView(payload.buffer, payload.byteOffset, payload.byteLength).getBigUint64(MMAP_OFFSET_AT, true);
}

export const SAMPLE_COOKIE_FEATURE_TABLE: CookieFeature = Object.freeze({
  name: 'WC_SAMPLE_MMAP_COOKIE',
  number: SAMPLE_COOKIE_FEATURE,
  values: Object.freeze({ 'uc-': SAMPLE_MEMATTR_NC, wc: SAMPLE_MEMATTR_WC }),
  bars: 'prefetchable' as const,
  encodeCreate: (req: CookieFeatureRequest) => encodeSampleCookie(req),
  decodeCreated: decodeSampleCookieOffset,
  encodeRelease: (mmapOffset: bigint) => encodeSampleCookie({ bar: 0, memattr: 0, offset: 0n, length: 0n }, mmapOffset),
});

/**
 * The tables that let the routes find the sample driver's two designs: its WC region per BAR
 * (wc-region route) and its cookie feature (cookie-feature route). Merge with other overrides:
 * `{ ...sampleDriverTables(), routeOrder: [...] }`.
 */
export function sampleDriverTables(): Partial<MemattrTables> {
  return {
    wcRegionTypes: wcRegionTypesPerBar('vfio-pci-wc-sample', SAMPLE_REGION_TYPE, SAMPLE_REGION_SUBTYPE_BASE),
    cookieFeature: SAMPLE_COOKIE_FEATURE_TABLE,
  };
}
