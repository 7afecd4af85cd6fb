// Values of the Linux VFIO and iommufd uAPI (include/uapi/linux/vfio.h, iommufd.h, as of 7.3) that
// the TypeScript layer interprets. Names are spelled exactly as in the headers so they can be
// checked one by one against the values the native addon exports from the real header.
// ioctl request numbers are deliberately absent: only the addon issues ioctls.

// --- API, IOMMU types and container extensions (VFIO_CHECK_EXTENSION arguments) ---
export const VFIO_API_VERSION = 0;
export const VFIO_TYPE1_IOMMU = 1;
export const VFIO_SPAPR_TCE_IOMMU = 2;
export const VFIO_TYPE1v2_IOMMU = 3;
export const VFIO_DMA_CC_IOMMU = 4;
export const VFIO_EEH = 5;
// 6 was VFIO_TYPE1_NESTING_IOMMU; the 7.x header keeps it only as a reserved name.
export const VFIO_SPAPR_TCE_v2_IOMMU = 7;
export const VFIO_NOIOMMU_IOMMU = 8;
export const VFIO_UNMAP_ALL = 9;
export const VFIO_UPDATE_VADDR = 10;

// --- group status ---
export const VFIO_GROUP_FLAGS_VIABLE = 1 << 0;
export const VFIO_GROUP_FLAGS_CONTAINER_SET = 1 << 1;

// --- struct vfio_device_info ---
export const VFIO_DEVICE_FLAGS_RESET = 1 << 0;
export const VFIO_DEVICE_FLAGS_PCI = 1 << 1;
export const VFIO_DEVICE_FLAGS_PLATFORM = 1 << 2;
export const VFIO_DEVICE_FLAGS_AMBA = 1 << 3;
export const VFIO_DEVICE_FLAGS_CCW = 1 << 4;
export const VFIO_DEVICE_FLAGS_AP = 1 << 5;
export const VFIO_DEVICE_FLAGS_FSL_MC = 1 << 6;
export const VFIO_DEVICE_FLAGS_CAPS = 1 << 7;
export const VFIO_DEVICE_FLAGS_CDX = 1 << 8;

// Device info capability ids (1-4 are s390 zPCI only).
export const VFIO_DEVICE_INFO_CAP_ZPCI_BASE = 1;
export const VFIO_DEVICE_INFO_CAP_ZPCI_GROUP = 2;
export const VFIO_DEVICE_INFO_CAP_ZPCI_UTIL = 3;
export const VFIO_DEVICE_INFO_CAP_ZPCI_PFIP = 4;
export const VFIO_DEVICE_INFO_CAP_PCI_ATOMIC_COMP = 5;
export const VFIO_PCI_ATOMIC_COMP32 = 1 << 0;
export const VFIO_PCI_ATOMIC_COMP64 = 1 << 1;
export const VFIO_PCI_ATOMIC_COMP128 = 1 << 2;

// --- struct vfio_region_info ---
export const VFIO_REGION_INFO_FLAG_READ = 1 << 0;
export const VFIO_REGION_INFO_FLAG_WRITE = 1 << 1;
export const VFIO_REGION_INFO_FLAG_MMAP = 1 << 2;
export const VFIO_REGION_INFO_FLAG_CAPS = 1 << 3;

export const VFIO_REGION_INFO_CAP_SPARSE_MMAP = 1;
export const VFIO_REGION_INFO_CAP_TYPE = 2;
export const VFIO_REGION_INFO_CAP_MSIX_MAPPABLE = 3;
export const VFIO_REGION_INFO_CAP_NVLINK2_SSATGT = 4;
export const VFIO_REGION_INFO_CAP_NVLINK2_LNKSPD = 5;

// Region TYPE capability: type values. The header writes the vendor flag as (1 << 31), which C
// evaluates as a negative int; the u32 `type` field the kernel fills holds 0x80000000.
export const VFIO_REGION_TYPE_PCI_VENDOR_TYPE = 0x80000000;
export const VFIO_REGION_TYPE_PCI_VENDOR_MASK = 0xffff;
export const VFIO_REGION_TYPE_GFX = 1;
export const VFIO_REGION_TYPE_CCW = 2;
export const VFIO_REGION_TYPE_MIGRATION_DEPRECATED = 3;
// Subtypes: Intel (8086) vendor regions.
export const VFIO_REGION_SUBTYPE_INTEL_IGD_OPREGION = 1;
export const VFIO_REGION_SUBTYPE_INTEL_IGD_HOST_CFG = 2;
export const VFIO_REGION_SUBTYPE_INTEL_IGD_LPC_CFG = 3;
// NVIDIA (10de) and IBM (1014) vendor regions, both deprecated and no longer provided.
export const VFIO_REGION_SUBTYPE_NVIDIA_NVLINK2_RAM = 1;
export const VFIO_REGION_SUBTYPE_IBM_NVLINK2_ATSD = 1;
// GFX, CCW and old-migration subtypes.
export const VFIO_REGION_SUBTYPE_GFX_EDID = 1;
export const VFIO_REGION_SUBTYPE_CCW_ASYNC_CMD = 1;
export const VFIO_REGION_SUBTYPE_CCW_SCHIB = 2;
export const VFIO_REGION_SUBTYPE_CCW_CRW = 3;
export const VFIO_REGION_SUBTYPE_MIGRATION_DEPRECATED = 1;

// --- vfio-pci fixed region indices ---
export const VFIO_PCI_BAR0_REGION_INDEX = 0;
export const VFIO_PCI_BAR1_REGION_INDEX = 1;
export const VFIO_PCI_BAR2_REGION_INDEX = 2;
export const VFIO_PCI_BAR3_REGION_INDEX = 3;
export const VFIO_PCI_BAR4_REGION_INDEX = 4;
export const VFIO_PCI_BAR5_REGION_INDEX = 5;
export const VFIO_PCI_ROM_REGION_INDEX = 6;
export const VFIO_PCI_CONFIG_REGION_INDEX = 7;
export const VFIO_PCI_VGA_REGION_INDEX = 8;
/** Indices >= this are device specific and described by a TYPE capability. */
export const VFIO_PCI_NUM_REGIONS = 9;

// --- struct vfio_irq_info ---
export const VFIO_IRQ_INFO_EVENTFD = 1 << 0;
export const VFIO_IRQ_INFO_MASKABLE = 1 << 1;
export const VFIO_IRQ_INFO_AUTOMASKED = 1 << 2;
export const VFIO_IRQ_INFO_NORESIZE = 1 << 3;

// --- vfio-pci IRQ indices ---
export const VFIO_PCI_INTX_IRQ_INDEX = 0;
export const VFIO_PCI_MSI_IRQ_INDEX = 1;
export const VFIO_PCI_MSIX_IRQ_INDEX = 2;
export const VFIO_PCI_ERR_IRQ_INDEX = 3;
export const VFIO_PCI_REQ_IRQ_INDEX = 4;
export const VFIO_PCI_NUM_IRQS = 5;

// --- struct vfio_irq_set flags ---
export const VFIO_IRQ_SET_DATA_NONE = 1 << 0;
export const VFIO_IRQ_SET_DATA_BOOL = 1 << 1;
export const VFIO_IRQ_SET_DATA_EVENTFD = 1 << 2;
export const VFIO_IRQ_SET_ACTION_MASK = 1 << 3;
export const VFIO_IRQ_SET_ACTION_UNMASK = 1 << 4;
export const VFIO_IRQ_SET_ACTION_TRIGGER = 1 << 5;
export const VFIO_IRQ_SET_DATA_TYPE_MASK =
  VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_DATA_BOOL | VFIO_IRQ_SET_DATA_EVENTFD;
export const VFIO_IRQ_SET_ACTION_TYPE_MASK =
  VFIO_IRQ_SET_ACTION_MASK | VFIO_IRQ_SET_ACTION_UNMASK | VFIO_IRQ_SET_ACTION_TRIGGER;

// --- PCI hot reset ---
export const VFIO_PCI_HOT_RESET_FLAG_DEV_ID = 1 << 0;
export const VFIO_PCI_HOT_RESET_FLAG_DEV_ID_OWNED = 1 << 1;
/** devid values with a meaning of their own (the field is a u32 holding a signed value). */
export const VFIO_PCI_DEVID_OWNED = 0;
export const VFIO_PCI_DEVID_NOT_OWNED = -1;

// --- VFIO_DEVICE_FEATURE: flags word = index (bits 0-15) | operation bits ---
export const VFIO_DEVICE_FEATURE_MASK = 0xffff;
export const VFIO_DEVICE_FEATURE_GET = 1 << 16;
export const VFIO_DEVICE_FEATURE_SET = 1 << 17;
export const VFIO_DEVICE_FEATURE_PROBE = 1 << 18;

export const VFIO_DEVICE_FEATURE_PCI_VF_TOKEN = 0;
export const VFIO_DEVICE_FEATURE_MIGRATION = 1;
export const VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE = 2;
export const VFIO_DEVICE_FEATURE_LOW_POWER_ENTRY = 3;
export const VFIO_DEVICE_FEATURE_LOW_POWER_ENTRY_WITH_WAKEUP = 4;
export const VFIO_DEVICE_FEATURE_LOW_POWER_EXIT = 5;
export const VFIO_DEVICE_FEATURE_DMA_LOGGING_START = 6;
export const VFIO_DEVICE_FEATURE_DMA_LOGGING_STOP = 7;
export const VFIO_DEVICE_FEATURE_DMA_LOGGING_REPORT = 8;
export const VFIO_DEVICE_FEATURE_MIG_DATA_SIZE = 9;
export const VFIO_DEVICE_FEATURE_BUS_MASTER = 10;
export const VFIO_DEVICE_FEATURE_DMA_BUF = 11;
export const VFIO_DEVICE_FEATURE_MIG_PRECOPY_INFOv2 = 12;
export const VFIO_DEVICE_FEATURE_ZPCI_ERROR = 13;

// Migration feature flags and the migration state machine (enum vfio_device_mig_state).
export const VFIO_MIGRATION_STOP_COPY = 1 << 0;
export const VFIO_MIGRATION_P2P = 1 << 1;
export const VFIO_MIGRATION_PRE_COPY = 1 << 2;
export const VFIO_DEVICE_STATE_ERROR = 0;
export const VFIO_DEVICE_STATE_STOP = 1;
export const VFIO_DEVICE_STATE_RUNNING = 2;
export const VFIO_DEVICE_STATE_STOP_COPY = 3;
export const VFIO_DEVICE_STATE_RESUMING = 4;
export const VFIO_DEVICE_STATE_RUNNING_P2P = 5;
export const VFIO_DEVICE_STATE_PRE_COPY = 6;
export const VFIO_DEVICE_STATE_PRE_COPY_P2P = 7;
export const VFIO_PRECOPY_INFO_REINIT = 1 << 0;

// BUS_MASTER feature operations (CDX devices only; PCI uses PCI_COMMAND).
export const VFIO_DEVICE_FEATURE_CLEAR_MASTER = 0;
export const VFIO_DEVICE_FEATURE_SET_MASTER = 1;

// --- iommufd-backed devices (cdev) ---
export const VFIO_DEVICE_BIND_FLAG_TOKEN = 1 << 0;
export const VFIO_DEVICE_ATTACH_PASID = 1 << 0;
export const VFIO_DEVICE_DETACH_PASID = 1 << 0;

// --- type1 IOMMU ---
export const VFIO_IOMMU_INFO_PGSIZES = 1 << 0;
export const VFIO_IOMMU_INFO_CAPS = 1 << 1;
export const VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE = 1;
export const VFIO_IOMMU_TYPE1_INFO_CAP_MIGRATION = 2;
export const VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL = 3;
export const VFIO_DMA_MAP_FLAG_READ = 1 << 0;
export const VFIO_DMA_MAP_FLAG_WRITE = 1 << 1;
export const VFIO_DMA_MAP_FLAG_VADDR = 1 << 2;
export const VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP = 1 << 0;
export const VFIO_DMA_UNMAP_FLAG_ALL = 1 << 1;
export const VFIO_DMA_UNMAP_FLAG_VADDR = 1 << 2;

// --- iommufd (enum iommufd_ioas_map_flags) ---
export const IOMMU_IOAS_MAP_FIXED_IOVA = 1 << 0;
export const IOMMU_IOAS_MAP_WRITEABLE = 1 << 1;
export const IOMMU_IOAS_MAP_READABLE = 1 << 2;
// IOMMU_GET_HW_INFO: enum iommu_hw_info_type, enum iommu_hw_capabilities, VT-d payload flags.
export const IOMMU_HW_INFO_TYPE_NONE = 0;
export const IOMMU_HW_INFO_TYPE_INTEL_VTD = 1;
export const IOMMU_HW_INFO_TYPE_ARM_SMMUV3 = 2;
export const IOMMU_HW_INFO_TYPE_TEGRA241_CMDQV = 3;
export const IOMMU_HW_INFO_TYPE_AMD = 4;
export const IOMMU_HW_CAP_DIRTY_TRACKING = 1 << 0;
export const IOMMU_HW_CAP_PCI_PASID_EXEC = 1 << 1;
export const IOMMU_HW_CAP_PCI_PASID_PRIV = 1 << 2;
export const IOMMU_HW_CAP_PCI_ATS_NOT_SUPPORTED = 1 << 3;
export const IOMMU_HW_INFO_VTD_ERRATA_772415_SPR17 = 1 << 0;

// ---------------------------------------------------------------------------------------------
// Lookup helpers. Tables are frozen module constants, not state.

const PCI_REGION_NAMES: readonly string[] = Object.freeze(
  ['BAR0', 'BAR1', 'BAR2', 'BAR3', 'BAR4', 'BAR5', 'ROM', 'CONFIG', 'VGA']);

/** 'BAR0'…'BAR5', 'ROM', 'CONFIG', 'VGA' for the fixed vfio-pci indices, else `region<N>`. */
export function pciRegionIndexName(index: number): string {
  return PCI_REGION_NAMES[index] ?? `region${index}`;
}

const PCI_IRQ_NAMES: readonly string[] = Object.freeze(['INTX', 'MSI', 'MSIX', 'ERR', 'REQ']);

/** 'INTX', 'MSI', 'MSIX', 'ERR', 'REQ' for the vfio-pci IRQ indices, else `irq<N>`. */
export function pciIrqIndexName(index: number): string {
  return PCI_IRQ_NAMES[index] ?? `irq${index}`;
}

/**
 * Short names of the device features the 7.3 header defines, by index (0-13). Exported as a
 * table rather than a count so every numeric export of this module stays a uAPI value.
 */
export const KNOWN_FEATURES: readonly string[] = Object.freeze([
  'PCI_VF_TOKEN', 'MIGRATION', 'MIG_DEVICE_STATE', 'LOW_POWER_ENTRY', 'LOW_POWER_ENTRY_WITH_WAKEUP',
  'LOW_POWER_EXIT', 'DMA_LOGGING_START', 'DMA_LOGGING_STOP', 'DMA_LOGGING_REPORT', 'MIG_DATA_SIZE',
  'BUS_MASTER', 'DMA_BUF', 'MIG_PRECOPY_INFOv2', 'ZPCI_ERROR',
]);

/**
 * The feature's name without the VFIO_DEVICE_FEATURE_ prefix, e.g. 'DMA_BUF'. Indices from 14 on
 * are claimed by competing unmerged series, so they are reported as `feature<N>`, never guessed.
 */
export function featureName(index: number): string {
  return KNOWN_FEATURES[index] ?? `feature${index}`;
}

/** The index of a feature by short or full uAPI name, or undefined. */
export function featureIndex(name: string): number | undefined {
  const i = KNOWN_FEATURES.indexOf(name.replace(/^VFIO_DEVICE_FEATURE_/, ''));
  return i >= 0 ? i : undefined;
}

export interface FeatureOps { readonly get?: boolean; readonly set?: boolean; readonly probe?: boolean }

/** The `flags` word of struct vfio_device_feature for a feature index and operations. */
export function featureFlags(index: number, ops: FeatureOps): number {
  if (!Number.isInteger(index) || index < 0 || index > VFIO_DEVICE_FEATURE_MASK) {
    throw new RangeError(`feature index ${index} is outside 0..0xffff`);
  }
  return (index | (ops.get ? VFIO_DEVICE_FEATURE_GET : 0) | (ops.set ? VFIO_DEVICE_FEATURE_SET : 0) |
    (ops.probe ? VFIO_DEVICE_FEATURE_PROBE : 0)) >>> 0;
}

const MIG_STATE_NAMES: readonly string[] = Object.freeze(
  ['ERROR', 'STOP', 'RUNNING', 'STOP_COPY', 'RESUMING', 'RUNNING_P2P', 'PRE_COPY', 'PRE_COPY_P2P']);

/** 'RUNNING', 'STOP_COPY', … (enum vfio_device_mig_state without its prefix), else `state<N>`. */
export function migStateName(state: number): string {
  return MIG_STATE_NAMES[state] ?? `state${state}`;
}

/** The state value for a name from migStateName (prefix optional), or undefined. */
export function migStateValue(name: string): number | undefined {
  const i = MIG_STATE_NAMES.indexOf(name.replace(/^VFIO_DEVICE_STATE_/, ''));
  return i >= 0 ? i : undefined;
}

const EXTENSION_NAMES: Readonly<Record<number, string>> = Object.freeze({
  [VFIO_TYPE1_IOMMU]: 'VFIO_TYPE1_IOMMU', [VFIO_SPAPR_TCE_IOMMU]: 'VFIO_SPAPR_TCE_IOMMU',
  [VFIO_TYPE1v2_IOMMU]: 'VFIO_TYPE1v2_IOMMU', [VFIO_DMA_CC_IOMMU]: 'VFIO_DMA_CC_IOMMU',
  [VFIO_EEH]: 'VFIO_EEH', [VFIO_SPAPR_TCE_v2_IOMMU]: 'VFIO_SPAPR_TCE_v2_IOMMU',
  [VFIO_NOIOMMU_IOMMU]: 'VFIO_NOIOMMU_IOMMU', [VFIO_UNMAP_ALL]: 'VFIO_UNMAP_ALL',
  [VFIO_UPDATE_VADDR]: 'VFIO_UPDATE_VADDR',
});

/** The uAPI name of a VFIO_CHECK_EXTENSION argument, else `extension<N>`. */
export function extensionName(ext: number): string {
  return EXTENSION_NAMES[ext] ?? `extension${ext}`;
}
