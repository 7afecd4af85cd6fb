// The IOMMU context for a chosen backend. Device.open() calls this for a device that brings no
// context of its own; callers that want several devices in one context open it themselves
// (Type1Context.open(), IommufdContext.open()) or pass one device's `iommu` to the next.
import { SysfsOptions } from '../sysfs';
import { BackendFacts, DeviceNodeOptions, noIommuPath } from './backend';
import { BackendName } from './context';
import { IommufdContext } from './iommufd';
import { Type1Context } from './type1';

/** What Device.iommu holds: narrow it by `kind` (or instanceof) for backend-specific calls. */
export type IommuContext = Type1Context | IommufdContext;

export function openIommuContext(backend: BackendName, facts: BackendFacts, o: SysfsOptions & DeviceNodeOptions = {}): IommuContext {
  switch (backend) {
    case 'type1': return Type1Context.open(o);
    case 'iommufd-compat': return Type1Context.open({ ...o, iommufdCompat: true });
    case 'iommufd': return IommufdContext.open(o);
    case 'noiommu':
      return noIommuPath(facts) === 'cdev' ? IommufdContext.open({ ...o, noIommu: true }) : Type1Context.open({ ...o, noIommu: true });
  }
}
