// Names for the (type, subtype) pairs a region TYPE capability can carry. Vendor types are
// VFIO_REGION_TYPE_PCI_VENDOR_TYPE | PCI vendor id, and their subtypes are per vendor.
import {
  VFIO_REGION_SUBTYPE_CCW_ASYNC_CMD,
  VFIO_REGION_SUBTYPE_CCW_CRW,
  VFIO_REGION_SUBTYPE_CCW_SCHIB,
  VFIO_REGION_SUBTYPE_GFX_EDID,
  VFIO_REGION_SUBTYPE_IBM_NVLINK2_ATSD,
  VFIO_REGION_SUBTYPE_INTEL_IGD_HOST_CFG,
  VFIO_REGION_SUBTYPE_INTEL_IGD_LPC_CFG,
  VFIO_REGION_SUBTYPE_INTEL_IGD_OPREGION,
  VFIO_REGION_SUBTYPE_MIGRATION_DEPRECATED,
  VFIO_REGION_SUBTYPE_NVIDIA_NVLINK2_RAM,
  VFIO_REGION_TYPE_CCW,
  VFIO_REGION_TYPE_GFX,
  VFIO_REGION_TYPE_MIGRATION_DEPRECATED,
  VFIO_REGION_TYPE_PCI_VENDOR_MASK,
  VFIO_REGION_TYPE_PCI_VENDOR_TYPE,
} from '../abi';

const VENDOR_INTEL = 0x8086;
const VENDOR_NVIDIA = 0x10de;
const VENDOR_IBM = 0x1014;

function key(type: number, subtype: number): string {
  return `${(type >>> 0).toString(16)}/${(subtype >>> 0).toString(16)}`;
}

function vendorType(vendor: number): number {
  return (VFIO_REGION_TYPE_PCI_VENDOR_TYPE | vendor) >>> 0;
}

const NAMES: ReadonlyMap<string, string> = new Map([
  [key(vendorType(VENDOR_INTEL), VFIO_REGION_SUBTYPE_INTEL_IGD_OPREGION), 'igd-opregion'],
  [key(vendorType(VENDOR_INTEL), VFIO_REGION_SUBTYPE_INTEL_IGD_HOST_CFG), 'igd-host-cfg'],
  [key(vendorType(VENDOR_INTEL), VFIO_REGION_SUBTYPE_INTEL_IGD_LPC_CFG), 'igd-lpc-cfg'],
  [key(vendorType(VENDOR_NVIDIA), VFIO_REGION_SUBTYPE_NVIDIA_NVLINK2_RAM), 'nvidia-nvlink2-ram'],
  [key(vendorType(VENDOR_IBM), VFIO_REGION_SUBTYPE_IBM_NVLINK2_ATSD), 'ibm-nvlink2-atsd'],
  [key(VFIO_REGION_TYPE_GFX, VFIO_REGION_SUBTYPE_GFX_EDID), 'gfx-edid'],
  [key(VFIO_REGION_TYPE_CCW, VFIO_REGION_SUBTYPE_CCW_ASYNC_CMD), 'ccw-async-cmd'],
  [key(VFIO_REGION_TYPE_CCW, VFIO_REGION_SUBTYPE_CCW_SCHIB), 'ccw-schib'],
  [key(VFIO_REGION_TYPE_CCW, VFIO_REGION_SUBTYPE_CCW_CRW), 'ccw-crw'],
  [key(VFIO_REGION_TYPE_MIGRATION_DEPRECATED, VFIO_REGION_SUBTYPE_MIGRATION_DEPRECATED), 'migration-deprecated'],
]);

/** True when the type names a PCI vendor's own region (vendor id in the low 16 bits). */
export function isPciVendorRegionType(type: number): boolean {
  return ((type >>> 0) & VFIO_REGION_TYPE_PCI_VENDOR_TYPE) !== 0;
}

/** The PCI vendor id of a vendor region type, else undefined. */
export function regionTypeVendor(type: number): number | undefined {
  return isPciVendorRegionType(type) ? type & VFIO_REGION_TYPE_PCI_VENDOR_MASK : undefined;
}

/** 'igd-opregion', 'gfx-edid', … or 'type:0x<type>/0x<subtype>' for a pair this table lacks. */
export function regionTypeName(type: number, subtype: number): string {
  return NAMES.get(key(type, subtype)) ?? `type:0x${(type >>> 0).toString(16)}/0x${(subtype >>> 0).toString(16)}`;
}
