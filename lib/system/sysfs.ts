// What sysfs says about a PCI device: its driver, IOMMU group and neighbours. Every function
// takes the sysfs root as an argument (default /sys) so tests can point it at a fixture tree.
import * as fs from 'fs';
import * as path from 'path';

/** Where sysfs is: every sysfs function takes it, so tests can point it at a fixture tree. */
export interface SysfsOptions {
  /** Root of sysfs; '/sys' unless a test points it at a fixture tree. */
  sysfs?: string;
}

const pciDevices = (o: SysfsOptions) => path.join(o.sysfs ?? '/sys', 'bus/pci/devices');

/** The device's directory, `<sysfs>/bus/pci/devices/<bdf>` (whether it exists or not). */
export function devicePath(bdf: string, o: SysfsOptions = {}): string {
  return path.join(pciDevices(o), bdf);
}

/** Whether sysfs lists a PCI device at `bdf` (a full address such as `0000:00:03.0`). */
export function deviceExists(bdf: string, o: SysfsOptions = {}): boolean {
  return fs.existsSync(devicePath(bdf, o));
}

function readTrimmed(file: string): string | undefined {
  try {
    return fs.readFileSync(file, 'utf8').trim();
  } catch {
    return undefined;
  }
}

/** The bound driver's name, or undefined when no driver is bound. */
export function driverOf(bdf: string, o: SysfsOptions = {}): string | undefined {
  try {
    return path.basename(fs.readlinkSync(path.join(devicePath(bdf, o), 'driver')));
  } catch {
    return undefined;
  }
}

/** The IOMMU group number, or undefined when the device has none (no IOMMU, or no-IOMMU mode). */
export function iommuGroupOf(bdf: string, o: SysfsOptions = {}): number | undefined {
  try {
    const n = Number(path.basename(fs.readlinkSync(path.join(devicePath(bdf, o), 'iommu_group'))));
    return Number.isInteger(n) ? n : undefined;
  } catch {
    return undefined;
  }
}

/** Every device in an IOMMU group, with its driver. */
export function groupMembers(
  group: number,
  o: SysfsOptions = {},
): {
  /** The member's PCI address. */
  bdf: string;
  /** Its bound driver's name, undefined when none. */
  driver: string | undefined;
}[] {
  const dir = path.join(o.sysfs ?? '/sys', 'kernel/iommu_groups', String(group), 'devices');
  let names: string[];
  try {
    names = fs.readdirSync(dir).sort();
  } catch {
    return [];
  }
  return names.map((bdf) => ({ bdf, driver: driverOf(bdf, o) }));
}

/** A PCI function's identity, read from its sysfs files (hexadecimal there). */
export interface PciIds {
  /** Vendor ID, 16 bits (`vendor`). */
  vendor: number;
  /** Device ID, 16 bits (`device`). */
  device: number;
  /** Subsystem vendor ID, 16 bits, when the file exists. */
  subsystemVendor: number | undefined;
  /** Subsystem ID, 16 bits, when the file exists. */
  subsystemDevice: number | undefined;
  /** Class code, 24 bits: base class, subclass, programming interface (`class`). */
  class: number;
  /** Revision ID, 8 bits, when the file exists. */
  revision: number | undefined;
}

function readHex(file: string): number | undefined {
  const s = readTrimmed(file);
  return s === undefined ? undefined : Number.parseInt(s, 16);
}

/** The device's IDs, or undefined when sysfs has no such device (or its vendor, device or class file is unreadable). */
export function pciIds(bdf: string, o: SysfsOptions = {}): PciIds | undefined {
  const p = devicePath(bdf, o);
  const vendor = readHex(path.join(p, 'vendor'));
  const device = readHex(path.join(p, 'device'));
  const cls = readHex(path.join(p, 'class'));
  if (vendor === undefined || device === undefined || cls === undefined) return undefined;
  return {
    vendor,
    device,
    class: cls,
    subsystemVendor: readHex(path.join(p, 'subsystem_vendor')),
    subsystemDevice: readHex(path.join(p, 'subsystem_device')),
    revision: readHex(path.join(p, 'revision')),
  };
}

/** The text of the device's `resource` file (one line per BAR/ROM/bridge window). */
export function resourceText(bdf: string, o: SysfsOptions = {}): string | undefined {
  return readTrimmed(path.join(devicePath(bdf, o), 'resource'));
}

/** Every PCI address under `<sysfs>/bus/pci/devices`, sorted; empty when it cannot be read. */
export function listPciDevices(o: SysfsOptions = {}): string[] {
  try {
    return fs.readdirSync(pciDevices(o)).sort();
  } catch {
    return [];
  }
}

/** The device's `driver_override`, or undefined when none is set (or the file is absent). */
export function driverOverride(bdf: string, o: SysfsOptions = {}): string | undefined {
  const v = readTrimmed(path.join(devicePath(bdf, o), 'driver_override'));
  return v === undefined || v === '(null)' || v === '' ? undefined : v;
}

/**
 * Whether VFIO runs with `enable_unsafe_noiommu_mode`: then a device without an IOMMU group can
 * still be bound to vfio-pci, which gives it a no-IOMMU group of its own.
 */
export function noIommuModeEnabled(o: SysfsOptions = {}): boolean {
  return readTrimmed(path.join(o.sysfs ?? '/sys', 'module/vfio/parameters/enable_unsafe_noiommu_mode')) === 'Y';
}

/** Drivers a viable VFIO group may contain besides VFIO ones (the kernel accepts these too). */
const GROUP_SAFE_DRIVERS = new Set(['pcieport', 'pci-stub']);

/** Whether a driver name is vfio-pci or a vfio-pci variant (every such name contains "vfio"). */
export function isVfioDriver(driver: string | undefined | null): boolean {
  // vfio-pci and its variant drivers (mlx5_vfio_pci, …) all carry "vfio" in their name.
  return !!driver && driver.includes('vfio');
}

/**
 * Group neighbours whose driver keeps the group from being viable. Members with no driver, a
 * VFIO driver, pci-stub or (bridges) pcieport are fine.
 */
export function blockingMembers(
  self: string,
  members: readonly { bdf: string; driver: string | undefined }[],
): {
  /** The member's PCI address. */
  bdf: string;
  /** The driver that keeps the group from being viable. */
  driver: string;
}[] {
  return members.flatMap((m) =>
    m.bdf !== self && m.driver !== undefined && !isVfioDriver(m.driver) && !GROUP_SAFE_DRIVERS.has(m.driver)
      ? [{ bdf: m.bdf, driver: m.driver }]
      : [],
  );
}
