// Which IOMMU backend opens a device. Pure: the facts (which device nodes exist, what sysfs says
// about the device) are gathered by backendFacts() and the decision is chooseBackend(), so every
// rule is unit-tested on made-up facts.
import * as fs from 'fs';
import * as path from 'path';
import { NotSupportedError, PermissionError, VfioError, VfioErrorCode, invalidArgument } from '../errors';
import { BackendChoice, BackendName, DeviceTarget } from './context';
import { Invocation, currentInvocation, rootCommand, vfioCommand } from '../system/hints';

/** What decides the IOMMU backend of a device: the device nodes present and what sysfs says of it. */
export interface BackendFacts {
  /** /dev/iommu exists (CONFIG_IOMMUFD). */
  readonly iommufd: boolean;
  /** /dev/vfio/vfio exists (the legacy container, CONFIG_VFIO_CONTAINER). */
  readonly container: boolean;
  /** The device's cdev name (CONFIG_VFIO_DEVICE_CDEV), when sysfs lists one. */
  readonly cdev: string | undefined;
  /** Its IOMMU group, when it has one. */
  readonly group: number | undefined;
  /** The device is in VFIO's no-IOMMU mode. */
  readonly noIommu: boolean;
}

/** Where the VFIO and iommufd device nodes are: for tests and containers that move them. */
export interface DeviceNodeOptions {
  /** Directory of the VFIO device nodes; '/dev/vfio' unless testing. */
  vfioDir?: string;
  /** The iommufd device node; '/dev/iommu' unless testing. */
  iommufdPath?: string;
}

export const BACKENDS: readonly BackendName[] = ['type1', 'iommufd-compat', 'iommufd', 'noiommu'];

export function backendFacts(t: DeviceTarget, o: DeviceNodeOptions = {}): BackendFacts {
  const vfioDir = o.vfioDir ?? '/dev/vfio';
  return {
    iommufd: fs.existsSync(o.iommufdPath ?? '/dev/iommu'),
    container: fs.existsSync(path.join(vfioDir, 'vfio')),
    // sysfs may list a cdev that devtmpfs (or a container's /dev) does not show.
    cdev: t.cdev !== undefined && fs.existsSync(path.join(vfioDir, 'devices', t.cdev)) ? t.cdev : undefined,
    group: t.group,
    noIommu: t.noIommu,
  };
}

const UNSAFE_HINT =
  'no-IOMMU mode lets the device reach all memory, so it is opt-in: pass ' +
  "{ backend: 'noiommu', unsafeNoIommu: true } to Device.open() if you accept that (see docs/backends.md)";

function refuse(name: string, message: string, hint: string, code: VfioErrorCode = 'VFIO_NO_IOMMU_GROUP'): VfioError {
  return new VfioError({ code, op: 'Device.open', device: name, message: `Device.open: ${message}`, hint });
}

/**
 * The backend for `requested` given the facts, or a typed error saying what is missing.
 * 'auto' prefers iommufd (the device cdev and /dev/iommu both exist), then type1 (a group and
 * the container), then iommufd's container compatibility (a group, /dev/iommu, no container).
 * A device in no-IOMMU mode opens only with unsafeNoIommu, whatever was requested. `inv` words
 * the commands the hints suggest.
 */
export function chooseBackend(
  name: string,
  requested: BackendChoice,
  f: BackendFacts,
  unsafeNoIommu: boolean,
  inv: Invocation = currentInvocation(),
): BackendName {
  if (!(requested === 'auto' || BACKENDS.includes(requested))) {
    throw invalidArgument(
      'Device.open',
      `unknown backend ${JSON.stringify(requested)} (expected auto, ${BACKENDS.join(', ')})`,
      { device: name },
    );
  }
  if (f.noIommu) {
    if (requested !== 'auto' && requested !== 'noiommu') {
      throw refuse(
        name,
        `${name} is in VFIO's no-IOMMU mode: the ${requested} backend needs an IOMMU`,
        UNSAFE_HINT,
        'EOPNOTSUPP',
      );
    }
    if (!unsafeNoIommu) {
      throw new PermissionError({
        code: 'EPERM',
        op: 'Device.open',
        device: name,
        message: `Device.open: ${name} has no IOMMU protection (VFIO no-IOMMU mode); refusing without unsafeNoIommu`,
        hint: UNSAFE_HINT,
      });
    }
    if (f.cdev === undefined && f.group === undefined) {
      throw refuse(
        name,
        `${name} has neither a no-IOMMU cdev nor a no-IOMMU group`,
        'is it bound to vfio-pci, and was vfio loaded with enable_unsafe_noiommu_mode=1?',
      );
    }
    return 'noiommu';
  }
  if (requested === 'noiommu') {
    throw new NotSupportedError({
      code: 'EOPNOTSUPP',
      op: 'Device.open',
      device: name,
      message: `Device.open: ${name} is behind an IOMMU, not in VFIO's no-IOMMU mode`,
      hint:
        'open it with the iommufd or type1 backend (or auto); no-IOMMU mode exists only for devices without an IOMMU, ' +
        'with vfio.enable_unsafe_noiommu_mode=1',
    });
  }
  const cdevHint =
    'the iommufd backend needs a kernel with CONFIG_IOMMUFD and CONFIG_VFIO_DEVICE_CDEV (/dev/iommu and /dev/vfio/devices/vfioN)';
  const groupHint =
    'the group backends need an IOMMU group (/sys/bus/…/iommu_group), and the IOMMU is off or absent: ' +
    `\`${vfioCommand(inv, `doctor ${name}`)}\` names the fix for this machine`;
  switch (requested) {
    case 'iommufd':
      if (!f.iommufd) throw refuse(name, 'no /dev/iommu', cdevHint, 'EOPNOTSUPP');
      if (f.cdev === undefined)
        throw refuse(name, `${name} has no VFIO cdev under /dev/vfio/devices`, cdevHint, 'EOPNOTSUPP');
      return 'iommufd';
    case 'type1':
      if (f.group === undefined) throw refuse(name, `${name} has no IOMMU group`, groupHint);
      if (!f.container) {
        throw refuse(
          name,
          'no /dev/vfio/vfio (the kernel has no VFIO container)',
          f.iommufd
            ? 'use the iommufd or iommufd-compat backend: /dev/iommu exists'
            : `the kernel lacks CONFIG_VFIO_CONTAINER, or vfio is not loaded (${rootCommand(inv, 'modprobe vfio-pci')})`,
          'EOPNOTSUPP',
        );
      }
      return 'type1';
    case 'iommufd-compat':
      if (f.group === undefined) throw refuse(name, `${name} has no IOMMU group`, groupHint);
      if (!f.iommufd)
        throw refuse(name, 'no /dev/iommu', "iommufd's container compatibility needs CONFIG_IOMMUFD", 'EOPNOTSUPP');
      return 'iommufd-compat';
    default:
      if (f.iommufd && f.cdev !== undefined) return 'iommufd';
      if (f.group !== undefined && f.container) return 'type1';
      if (f.group !== undefined && f.iommufd) return 'iommufd-compat';
      if (f.group === undefined && f.cdev === undefined) throw refuse(name, `${name} has no IOMMU group`, groupHint);
      throw refuse(
        name,
        'neither the VFIO container (/dev/vfio/vfio) nor iommufd (/dev/iommu) exists',
        `load them: ${rootCommand(inv, 'modprobe vfio-pci')} (and ${rootCommand(inv, 'modprobe iommufd')}, if the kernel has it as a module)`,
        'EOPNOTSUPP',
      );
  }
}

/**
 * Which no-IOMMU path opens the device: its no-IOMMU cdev when the kernel made one (DMA through
 * an IOAS with physical addresses), else its no-IOMMU group (device access only, no DMA API).
 */
export function noIommuPath(f: BackendFacts): 'cdev' | 'group' {
  return f.cdev !== undefined ? 'cdev' : 'group';
}
