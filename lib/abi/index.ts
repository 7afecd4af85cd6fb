// The Linux VFIO and iommufd uAPI (include/uapi/linux/vfio.h, iommufd.h, as of 7.3) as the
// TypeScript layer sees it: the constants, struct sizes and field offsets come from the native
// ABI lists (native/abi/*.h) through the generated generated.ts; this file adds the names the
// decoders print and the lookups built on the constants. ioctl request numbers are absent:
// only the addon issues ioctls.
import {
  VFIO_DEVICE_FEATURE_GET,
  VFIO_DEVICE_FEATURE_MASK,
  VFIO_DEVICE_FEATURE_PROBE,
  VFIO_DEVICE_FEATURE_SET,
  VFIO_DMA_CC_IOMMU,
  VFIO_EEH,
  VFIO_NOIOMMU_IOMMU,
  VFIO_SPAPR_TCE_IOMMU,
  VFIO_SPAPR_TCE_v2_IOMMU,
  VFIO_TYPE1_IOMMU,
  VFIO_TYPE1v2_IOMMU,
  VFIO_UNMAP_ALL,
  VFIO_UPDATE_VADDR,
} from './generated';

export * from './generated';

// NVLink2 region capabilities and subtypes: deprecated, no longer provided by any kernel, and
// left out of the native lists (the addon never reads them). Kept so old regions still get
// their names.
/** `VFIO_REGION_INFO_CAP_NVLINK2_SSATGT` of older `<linux/vfio.h>` (removed region capability id): names old regions only. */
export const VFIO_REGION_INFO_CAP_NVLINK2_SSATGT = 4;
/** `VFIO_REGION_INFO_CAP_NVLINK2_LNKSPD` of older `<linux/vfio.h>` (removed region capability id): names old regions only. */
export const VFIO_REGION_INFO_CAP_NVLINK2_LNKSPD = 5;
/** `VFIO_REGION_SUBTYPE_NVIDIA_NVLINK2_RAM` of older `<linux/vfio.h>` (removed subtype of the NVIDIA vendor region type). */
export const VFIO_REGION_SUBTYPE_NVIDIA_NVLINK2_RAM = 1;
/** `VFIO_REGION_SUBTYPE_IBM_NVLINK2_ATSD` of older `<linux/vfio.h>` (removed subtype of the IBM vendor region type). */
export const VFIO_REGION_SUBTYPE_IBM_NVLINK2_ATSD = 1;

// ---------------------------------------------------------------------------------------------
// Lookup helpers. Tables are frozen module constants, not state.

const PCI_REGION_NAMES: readonly string[] = Object.freeze([
  'BAR0',
  'BAR1',
  'BAR2',
  'BAR3',
  'BAR4',
  'BAR5',
  'ROM',
  'CONFIG',
  'VGA',
]);

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
  'PCI_VF_TOKEN',
  'MIGRATION',
  'MIG_DEVICE_STATE',
  'LOW_POWER_ENTRY',
  'LOW_POWER_ENTRY_WITH_WAKEUP',
  'LOW_POWER_EXIT',
  'DMA_LOGGING_START',
  'DMA_LOGGING_STOP',
  'DMA_LOGGING_REPORT',
  'MIG_DATA_SIZE',
  'BUS_MASTER',
  'DMA_BUF',
  'MIG_PRECOPY_INFOv2',
  'ZPCI_ERROR',
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

/** The operations of one VFIO_DEVICE_FEATURE call; {@link featureFlags} turns them into flag bits. */
export interface FeatureOps {
  /** Set `VFIO_DEVICE_FEATURE_GET`: read the feature's payload from the kernel. Default false. */
  readonly get?: boolean;
  /** Set `VFIO_DEVICE_FEATURE_SET`: write the payload to the kernel. Default false. */
  readonly set?: boolean;
  /** Set `VFIO_DEVICE_FEATURE_PROBE`: only ask whether get/set are supported. Default false. */
  readonly probe?: boolean;
}

/**
 * The `flags` word of struct vfio_device_feature for a feature index and operations.
 *
 * @param index - The feature index, an integer 0..0xffff.
 * @throws RangeError when `index` is outside 0..0xffff (this layer sits below VfioError).
 */
export function featureFlags(index: number, ops: FeatureOps): number {
  if (!Number.isInteger(index) || index < 0 || index > VFIO_DEVICE_FEATURE_MASK) {
    throw new RangeError(`feature index ${index} is outside 0..0xffff`);
  }
  return (
    (index |
      (ops.get ? VFIO_DEVICE_FEATURE_GET : 0) |
      (ops.set ? VFIO_DEVICE_FEATURE_SET : 0) |
      (ops.probe ? VFIO_DEVICE_FEATURE_PROBE : 0)) >>>
    0
  );
}

const MIG_STATE_NAMES: readonly string[] = Object.freeze([
  'ERROR',
  'STOP',
  'RUNNING',
  'STOP_COPY',
  'RESUMING',
  'RUNNING_P2P',
  'PRE_COPY',
  'PRE_COPY_P2P',
]);

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
  [VFIO_TYPE1_IOMMU]: 'VFIO_TYPE1_IOMMU',
  [VFIO_SPAPR_TCE_IOMMU]: 'VFIO_SPAPR_TCE_IOMMU',
  [VFIO_TYPE1v2_IOMMU]: 'VFIO_TYPE1v2_IOMMU',
  [VFIO_DMA_CC_IOMMU]: 'VFIO_DMA_CC_IOMMU',
  [VFIO_EEH]: 'VFIO_EEH',
  [VFIO_SPAPR_TCE_v2_IOMMU]: 'VFIO_SPAPR_TCE_v2_IOMMU',
  [VFIO_NOIOMMU_IOMMU]: 'VFIO_NOIOMMU_IOMMU',
  [VFIO_UNMAP_ALL]: 'VFIO_UNMAP_ALL',
  [VFIO_UPDATE_VADDR]: 'VFIO_UPDATE_VADDR',
});

/** The uAPI name of a VFIO_CHECK_EXTENSION argument, else `extension<N>`. */
export function extensionName(ext: number): string {
  return EXTENSION_NAMES[ext] ?? `extension${ext}`;
}
