// The IOMMU context for a chosen backend. Device.open() calls this for a device that brings no
// context of its own; callers that want several devices in one context open it themselves
// (Type1Context.open(), IommufdContext.open()) or pass one device's `iommu` to the next.
import { PermissionError, closedError, invalidArgument } from '../errors';
import { SysfsOptions } from '../system/sysfs';
import { BackendFacts, DeviceNodeOptions, noIommuPath } from './backend';
import { BackendChoice, BackendName } from './context';
import { IommufdContext } from './iommufd';
import { Type1Context, Type1IommuType } from './type1';

/** What Device.iommu holds: narrow it by `kind` (or instanceof) for backend-specific calls. */
export type IommuContext = Type1Context | IommufdContext;

/** What a new context is opened with: node paths, sysfs, and the type1 container's IOMMU type. */
export interface ContextOpenOptions extends SysfsOptions, DeviceNodeOptions {
  iommuType?: Type1IommuType;
}

/** The backends whose container takes an IOMMU type (VFIO_SET_IOMMU). */
const TYPED_BACKENDS: readonly BackendName[] = ['type1', 'iommufd-compat'];

/** `iommuType` only means something to a group container: refused with any other backend. */
export function checkIommuType(
  name: string | undefined,
  backend: BackendChoice | undefined,
  iommuType: Type1IommuType | undefined,
): void {
  if (iommuType === undefined || backend === undefined || backend === 'auto' || TYPED_BACKENDS.includes(backend))
    return;
  throw invalidArgument(
    'Device.open',
    `iommuType ${iommuType} applies to the type1 and iommufd-compat backends, and the backend is ${backend}`,
    { device: name, hint: "pass backend: 'type1' (or 'iommufd-compat') with iommuType" },
  );
}

export function openIommuContext(backend: BackendName, facts: BackendFacts, o: ContextOpenOptions = {}): IommuContext {
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
  iommuType?: Type1IommuType,
): BackendName {
  if (ctx.closed) throw closedError('Device.open', 'the IOMMU context to join', name);
  const joinedType = ctx instanceof Type1Context ? ctx.iommuType : undefined;
  if (iommuType !== undefined && iommuType !== joinedType) {
    throw invalidArgument(
      'Device.open',
      `iommuType ${iommuType} was asked for, but the context to join is ${joinedType ?? ctx.backend}`,
      { device: name, hint: 'leave iommuType out when joining a context: the context decides' },
    );
  }
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
