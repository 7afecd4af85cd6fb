// The IOMMU context for a chosen backend. Device.open() calls this for a device that brings no
// context of its own; callers that want several devices in one context open it themselves
// (Type1Context.open(), IommufdContext.open()) or pass one device's `iommu` to the next.
import { PermissionError, closedError, invalidArgument } from '../errors';
import { SysfsOptions } from '../system/sysfs';
import { BackendFacts, DeviceNodeOptions, noIommuPath } from './backend';
import { BackendChoice, BackendName } from './context';
import { IommufdContext } from './iommufd';
import { Type1Context } from './type1';

/** What Device.iommu holds: narrow it by `kind` (or instanceof) for backend-specific calls. */
export type IommuContext = Type1Context | IommufdContext;

export function openIommuContext(
  backend: BackendName,
  facts: BackendFacts,
  o: SysfsOptions & DeviceNodeOptions = {},
): IommuContext {
  switch (backend) {
    case 'type1':
      return Type1Context.open(o);
    case 'iommufd-compat':
      return Type1Context.open({ ...o, iommufdCompat: true });
    case 'iommufd':
      return IommufdContext.open(o);
    case 'noiommu':
      return noIommuPath(facts) === 'cdev'
        ? IommufdContext.open({ ...o, noIommu: true })
        : Type1Context.open({ ...o, noIommu: true });
  }
}

/**
 * The backend of a context a device joins: the context decides; an explicit `backend` must
 * agree, and a no-IOMMU context still needs each device's opt-in.
 */
export function joinedBackend(
  name: string,
  ctx: IommuContext,
  requested: BackendChoice | undefined,
  unsafeNoIommu: boolean,
): BackendName {
  if (ctx.closed) throw closedError('Device.open', 'the IOMMU context to join', name);
  if (requested !== undefined && requested !== 'auto' && requested !== ctx.backend) {
    throw invalidArgument(
      'Device.open',
      `backend ${requested} was asked for, but the context to join is ${ctx.backend}`,
      { device: name },
    );
  }
  if (ctx.unsafe && !unsafeNoIommu) {
    throw new PermissionError({
      code: 'EPERM',
      op: 'Device.open',
      device: name,
      message: 'Device.open: the context to join is a no-IOMMU one; refusing without unsafeNoIommu',
      hint: 'pass unsafeNoIommu: true if you accept that the device can reach all memory',
    });
  }
  return ctx.backend;
}
