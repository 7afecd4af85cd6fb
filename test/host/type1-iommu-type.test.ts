// The type1 container's IOMMU type option (`iommuType`): what is refused before any VFIO call,
// and the hints for a type the kernel lacks. Its kernel side (v1 against v2 unmap semantics,
// edu DMA through a v1 container) is test/guest/type1-v1.test.ts.
import { Device, InvalidArgumentError, Type1Context } from '../../lib';
import { VFIO_TYPE1_IOMMU, VFIO_TYPE1v2_IOMMU } from '../../lib/abi';
import { IOMMU_TYPES, TYPE1_IOMMU_TYPES, unsupportedTypeHint } from '../../lib/iommu/type1-types';
import { rejection, thrown } from '../support/errors';

describe('iommuType', () => {
  it('names the two type1 types by their uAPI numbers, v2 first (the default)', () => {
    expect(TYPE1_IOMMU_TYPES).toEqual(['type1v2', 'type1']);
    expect(IOMMU_TYPES.type1v2).toEqual({ id: VFIO_TYPE1v2_IOMMU, name: 'VFIO_TYPE1v2_IOMMU' });
    expect(IOMMU_TYPES.type1).toEqual({ id: VFIO_TYPE1_IOMMU, name: 'VFIO_TYPE1_IOMMU' });
  });

  it('Device.open refuses an unknown type, naming the known ones', async () => {
    const e = await rejection(Device.open('0000:00:03.0', { iommuType: 'type2' as never }));
    expect(e).toBeInstanceOf(InvalidArgumentError);
    expect(e.message).toMatch(/iommuType is "type2": it must be one of 'type1v2', 'type1'/);
  });

  it.each(['iommufd', 'noiommu'] as const)(
    'Device.open refuses iommuType with the %s backend before touching the device',
    async (backend) => {
      const e = await rejection(Device.open('0000:00:03.0', { backend, iommuType: 'type1' }));
      expect(e).toBeInstanceOf(InvalidArgumentError);
      expect(e.message).toMatch(
        new RegExp(`applies to the type1 and iommufd-compat backends, and the backend is ${backend}`),
      );
      expect(e.hint).toMatch(/backend: 'type1'/);
    },
  );

  it('Type1Context.open refuses an unknown type and a type on a no-IOMMU container', () => {
    expect(thrown(() => Type1Context.open({ iommuType: 'v3' as never })).message).toMatch(
      /unknown iommuType "v3" \(expected type1v2 or type1\)/,
    );
    const e = thrown(() => Type1Context.open({ iommuType: 'type1', noIommu: true }));
    expect(e).toBeInstanceOf(InvalidArgumentError);
    expect(e.hint).toMatch(/VFIO_NOIOMMU_IOMMU/);
  });

  it('the hint for a type the kernel lacks names the other type, and the module only for the real container', () => {
    expect(unsupportedTypeHint({ iommuType: 'type1' })).toMatch(/modprobe vfio_iommu_type1.*iommuType 'type1v2'/);
    expect(unsupportedTypeHint({})).toMatch(/iommuType 'type1'/);
    const compat = unsupportedTypeHint({ iommuType: 'type1', iommufdCompat: true });
    expect(compat).toMatch(/iommuType 'type1v2', or use the iommufd backend/);
    expect(compat).not.toMatch(/modprobe/);
  });
});
