// The IOMMU types a type1 container can be set to, and what to say when the kernel lacks one.
import { VFIO_TYPE1_IOMMU, VFIO_TYPE1v2_IOMMU } from '../abi';
import { currentInvocation, rootCommand } from '../system/hints';

/**
 * The IOMMU type a type1 container is set to (VFIO_SET_IOMMU):
 * - 'type1v2' (VFIO_TYPE1v2_IOMMU, the default): an unmap must cover whole mappings; one that
 *   would cut a mapping fails with EINVAL.
 * - 'type1' (VFIO_TYPE1_IOMMU, the original): an unmap that starts inside a mapping succeeds and
 *   unmaps nothing, one that covers a mapping's first IOVA unmaps all of it; for software written
 *   against those semantics (docs/backends.md).
 */
export type Type1IommuType = 'type1v2' | 'type1';

/** The uAPI number of each selectable type, and what the kernel calls it. */
export const IOMMU_TYPES: Record<Type1IommuType, { readonly id: number; readonly name: string }> = {
  type1v2: { id: VFIO_TYPE1v2_IOMMU, name: 'VFIO_TYPE1v2_IOMMU' },
  type1: { id: VFIO_TYPE1_IOMMU, name: 'VFIO_TYPE1_IOMMU' },
};
/** The selectable types, default first. */
export const TYPE1_IOMMU_TYPES = Object.keys(IOMMU_TYPES) as Type1IommuType[];

/** What to do when the kernel does not offer the asked-for type1 IOMMU type. */
export function unsupportedTypeHint(o: { iommufdCompat?: boolean; iommuType?: Type1IommuType }): string {
  const other: Type1IommuType = (o.iommuType ?? 'type1v2') === 'type1v2' ? 'type1' : 'type1v2';
  return o.iommufdCompat
    ? `open the container with iommuType '${other}', or use the iommufd backend`
    : `load vfio_iommu_type1 (${rootCommand(currentInvocation(), 'modprobe vfio_iommu_type1')}), open the container with iommuType '${other}', or use the iommufd backend`;
}
