// Which device an address names, and what sysfs says about it: its bus (a PCI function, or a
// mediated device such as the mtty sample), driver, IOMMU group, whether VFIO runs it in
// no-IOMMU mode, and its VFIO cdev. Device.open() decides from this which backend can open it.
import * as fs from 'fs';
import * as path from 'path';
import { isBdf, normalizeBdf } from '../decode/sysfs';
import { VfioError, invalidArgument } from '../errors';
import { DeviceTarget } from '../iommu/context';
import { SysfsOptions, isVfioDriver } from '../system/sysfs';
import { Invocation, bindHint } from '../system/hints';

export { DeviceTarget };

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** True for an mdev's name: a UUID ('83b8f4f2-509f-382f-3c1e-e6bfe0fa1001'). */
export function isUuid(text: string): boolean {
  return UUID_RE.test(text);
}

function linkName(file: string): string | undefined {
  try {
    return path.basename(fs.readlinkSync(file));
  } catch {
    return undefined;
  }
}

/** The first entry of `<device>/vfio-dev/`: the cdev's name, e.g. 'vfio0' or 'noiommu-vfio0'. */
export function cdevOf(sysfsPath: string): string | undefined {
  try {
    return fs.readdirSync(path.join(sysfsPath, 'vfio-dev')).sort()[0];
  } catch {
    return undefined;
  }
}

/**
 * Reads a device's sysfs directory into a DeviceTarget; `name` and `bus` are already known.
 * No-IOMMU mode shows in the names VFIO gives the device's nodes: its cdev 'noiommu-vfioN', its
 * group 'noiommu-N' (/sys/class/vfio). The IOMMU group's own name ('vfio-noiommu') does not
 * tell: VFIO gives it to the software groups of mdevs (emulated IOMMU) as well.
 */
export function describeTarget(
  name: string,
  bus: 'pci' | 'mdev',
  sysfsPath: string,
  o: SysfsOptions = {},
): DeviceTarget {
  const groupLink = linkName(path.join(sysfsPath, 'iommu_group'));
  const groupNumber = groupLink === undefined ? undefined : Number(groupLink);
  const group = groupNumber !== undefined && Number.isInteger(groupNumber) ? groupNumber : undefined;
  const cdev = cdevOf(sysfsPath);
  const noIommuGroup =
    group !== undefined && fs.existsSync(path.join(o.sysfs ?? '/sys', 'class/vfio', `noiommu-${group}`));
  return {
    name,
    bus,
    sysfsPath,
    group,
    cdev,
    driver: linkName(path.join(sysfsPath, 'driver')),
    noIommu: noIommuGroup || (cdev?.startsWith('noiommu-') ?? false),
  };
}

function noDevice(address: string, message: string, hint: string): VfioError {
  return new VfioError({
    code: 'VFIO_NO_DEVICE',
    op: 'Device.open',
    device: address,
    message: `Device.open: ${message}`,
    hint,
  });
}

/**
 * Resolves what Device.open() was given: a PCI address ('0000:00:03.0', '00:03.0'), an mdev's
 * UUID, or the device's sysfs directory (any path starting with '/', e.g.
 * /sys/bus/mdev/devices/<uuid>). Throws a VfioError with code 'VFIO_NO_DEVICE' when no such device exists.
 */
export function resolveTarget(address: string, o: SysfsOptions = {}): DeviceTarget {
  const root = o.sysfs ?? '/sys';
  if (address.startsWith('/')) {
    if (!fs.existsSync(address))
      throw noDevice(
        address,
        `${address} does not exist`,
        "give the device's directory in sysfs, e.g. /sys/bus/mdev/devices/<uuid>",
      );
    const name = path.basename(fs.realpathSync(address));
    const subsystem = linkName(path.join(address, 'subsystem'));
    const bus =
      subsystem === 'pci' || subsystem === 'mdev' ? subsystem : isBdf(name) ? 'pci' : isUuid(name) ? 'mdev' : undefined;
    if (bus === undefined) {
      throw invalidArgument(
        'Device.open',
        `${address} is not a PCI or mediated device (its subsystem is ${subsystem ?? 'unknown'})`,
        { device: address },
      );
    }
    return describeTarget(bus === 'pci' ? normalizeBdf(name) : name.toLowerCase(), bus, address, o);
  }
  if (isUuid(address)) {
    const uuid = address.toLowerCase();
    const dir = path.join(root, 'bus/mdev/devices', uuid);
    if (!fs.existsSync(dir)) {
      throw noDevice(
        uuid,
        `no mediated device ${uuid}`,
        "create it by writing the UUID to the parent's mdev_supported_types/<type>/create; " +
          '/sys/bus/mdev/devices lists the existing ones',
      );
    }
    return describeTarget(uuid, 'mdev', dir, o);
  }
  let bdf: string;
  try {
    bdf = normalizeBdf(address);
  } catch (e) {
    throw invalidArgument(
      'Device.open',
      `${JSON.stringify(address)} is not a PCI address (expected DDDD:BB:DD.F), an mdev UUID or a sysfs path`,
      { cause: e },
    );
  }
  const dir = path.join(root, 'bus/pci/devices', bdf);
  if (!fs.existsSync(dir)) throw noDevice(bdf, `no PCI device ${bdf}`, '`vfio list` or `lspci -D` lists the devices');
  return describeTarget(bdf, 'pci', dir, o);
}

/** @internal Refuses a target no VFIO driver runs: Device.open cannot get a device fd for it. */
export function requireVfioDriver(target: DeviceTarget, invocation: Invocation | undefined): void {
  const bdf = target.name;
  if (target.bus === 'pci' ? !isVfioDriver(target.driver) : target.driver === undefined) {
    throw new VfioError({
      code: 'VFIO_NOT_BOUND',
      op: 'Device.open',
      device: bdf,
      message: `Device.open: ${bdf} is not bound to a VFIO driver`,
      hint:
        target.bus === 'pci'
          ? bindHint(bdf, target.driver, invocation)
          : `no driver is bound to the mediated device ${bdf}: is its parent's mdev driver loaded?`,
    });
  }
}
