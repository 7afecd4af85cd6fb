// The `sysfs` namespace of the package: what sysfs says about PCI devices (lib/system/sysfs.ts),
// plus binding a device to a driver and back, which is the `vfio bind` / `vfio unbind`
// implementation (lib/cli/commands/bind.ts) with its refusals as VfioErrors.
import { BindResult, DEFAULT_DRIVER, bind as bindDevice, unbind as unbindDevice } from './cli/commands/bind';
import { CliError } from './cli/report';
import { VfioError } from './errors';
import { SysfsOptions, blockingMembers, groupMembers, iommuGroupOf } from './system/sysfs';
import { SriovError, SriovState, setNumVfs, sriovState } from './system/sriov';
import { errnoNumber } from './errors';

export * from './system/sysfs';
export { SriovState, SriovVf, physfnOf } from './system/sriov';
export { BindResult, DEFAULT_DRIVER };

/** Options of {@link bind}. */
export interface BindOptions extends SysfsOptions {
  /** The driver to bind to; default 'vfio-pci' (a vfio-pci variant driver's name works too). */
  driver?: string;
  /** Take the device even when the host uses it (mounted, swap, network route) or another device of its group does. */
  force?: boolean;
  /** Check everything and list the writes in `steps`, writing nothing (needs no root). */
  dryRun?: boolean;
  /** Also write a udev rule that binds the device again at every boot. */
  persist?: boolean;
}

function asVfioError(e: unknown, op: string, bdf: string): unknown {
  if (!(e instanceof CliError)) return e;
  return new VfioError({
    code: 'VFIO_BIND_REFUSED',
    op,
    device: bdf,
    message: `${op}: ${e.message}`,
    hint: e.hint,
    cause: e,
  });
}

const uid = () => process.getuid?.() ?? -1;

/**
 * Binds the PCI device `bdf` to `options.driver` (vfio-pci by default) as `vfio bind` does:
 * driver_override, unbind from the current driver, reprobe; the previous driver is remembered
 * for {@link unbind}. Needs root unless `dryRun`. Returns what changed (`changed` false when
 * the device already had that driver).
 * @throws {@link VfioError} with code `VFIO_BIND_REFUSED` (and a hint) when the device does not
 *   exist, the caller is not root, the device has no IOMMU group, the host uses it (without
 *   `force`), another device of its group keeps the group from being viable, the driver cannot
 *   be loaded, or the driver did not take the device.
 */
export function bind(bdf: string, options: BindOptions = {}): BindResult {
  try {
    return bindDevice(bdf, { uid: uid(), sysfs: options.sysfs }, options.driver ?? DEFAULT_DRIVER, options);
  } catch (e) {
    throw asVfioError(e, 'sysfs.bind', bdf);
  }
}

/**
 * Gives the PCI device `bdf` back to the kernel as `vfio unbind` does: clears driver_override,
 * unbinds it from VFIO and reprobes (asking the driver {@link bind} recorded when the reprobe
 * finds none). Needs root. `changed` is false when the device was not bound to VFIO.
 * @throws {@link VfioError} with code `VFIO_BIND_REFUSED` when the device does not exist, the
 *   caller is not root, or a process holds its VFIO group or device file open.
 */
export function unbind(bdf: string, options: SysfsOptions = {}): BindResult {
  try {
    return unbindDevice(bdf, { uid: uid(), sysfs: options.sysfs });
  } catch (e) {
    throw asVfioError(e, 'sysfs.unbind', bdf);
  }
}

/** A device's IOMMU group: its members and whether VFIO can take it. */
export interface GroupViability {
  /** The IOMMU group number; undefined when the device has none (IOMMU off, or no-IOMMU mode). */
  readonly group: number | undefined;
  /** Every device in the group (the device itself included), with its driver. */
  readonly members: readonly {
    /** The member's PCI address. */
    readonly bdf: string;
    /** Its bound driver's name, undefined when none. */
    readonly driver: string | undefined;
  }[];
  /** Members whose driver keeps the group from being viable (not VFIO, none, pci-stub or pcieport). */
  readonly blocking: readonly {
    /** The member's PCI address. */
    readonly bdf: string;
    /** The driver that keeps the group from being viable. */
    readonly driver: string;
  }[];
  /** True when the group exists and no member blocks it: VFIO can open the device once it is bound. */
  readonly viable: boolean;
}

/** The IOMMU group of `bdf`, its members and its viability, read from sysfs (no root needed). */
export function groupViability(bdf: string, options: SysfsOptions = {}): GroupViability {
  const group = iommuGroupOf(bdf, options);
  const members = group === undefined ? [] : groupMembers(group, options);
  const blocking = blockingMembers(bdf, members);
  return { group, members, blocking, viable: group !== undefined && blocking.length === 0 };
}

/** Options of {@link sriov}. */
export interface SriovOptions extends SysfsOptions {
  /** Enable this many VFs (0 removes them all); without it, only read the state. */
  numvfs?: number;
}

/**
 * The SR-IOV state of the physical function `bdf` (its VFs, with their IOMMU groups and
 * drivers), after setting the number of VFs when `numvfs` is given (needs root; a PF bound to
 * vfio-pci needs vfio-pci's `enable_sriov` parameter on). The VFs of a PF bound to vfio-pci are
 * bound to vfio-pci by the kernel, and opening one needs the PF's VF token (docs/sriov.md).
 * @throws {@link VfioError} with code `VFIO_SRIOV_REFUSED` (the kernel's errno kept) and a hint.
 */
export function sriov(bdf: string, options: SriovOptions = {}): SriovState {
  try {
    if (options.numvfs !== undefined) return setNumVfs(bdf, options.numvfs, options);
    const state = sriovState(bdf, options);
    if (!state) return setNumVfs(bdf, 0, options); // throws the not-a-PF refusal
    return state;
  } catch (e) {
    if (!(e instanceof SriovError)) throw e;
    let errno: number | undefined;
    try {
      errno = errnoNumber(e.code);
    } catch {
      errno = undefined; // NOT_SRIOV: no system call failed
    }
    throw new VfioError({
      code: 'VFIO_SRIOV_REFUSED',
      op: 'sysfs.sriov',
      device: bdf,
      errno,
      message: `sysfs.sriov: ${e.message}`,
      hint: e.hint,
      cause: e,
    });
  }
}
