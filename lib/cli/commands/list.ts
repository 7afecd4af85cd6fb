// `vfio list`: every PCI device with its ids, class, driver and IOMMU group, and whether a VFIO
// user could open it right now (and if not, why). Gathering reads sysfs only: no device is opened.
import * as fs from 'fs';
import { describeTarget } from '../../device/target';
import { doctor } from '../../doctor';
import { Invocation, nodeAccessHint, vfioCommand } from '../../system/hints';
import * as sysfs from '../../system/sysfs';
import { Colors, table } from '../format';
import { className, idKey, isBridge, lookupPciIds } from '../pci-names';

// The group rules live in the library (sysfs.ts); re-exported for the other commands.
const { blockingMembers, isVfioDriver } = sysfs;
export { blockingMembers, isVfioDriver };

export interface Usability {
  readonly usable: boolean;
  /** Why not, most important first; empty when usable. */
  readonly reasons: string[];
  /** What to do about the first reason, when there is something to do. */
  readonly hint: string | null;
}

export interface UsabilityInput {
  bdf: string;
  /** VFIO's no-IOMMU mode is on: binding gives a group-less device a no-IOMMU group. */
  noIommuMode?: boolean;
  classCode: number;
  driver: string | undefined;
  group: number | undefined;
  members: readonly { bdf: string; driver: string | undefined }[];
  /** Whether this user may open the device's VFIO files (undefined: not checked). */
  access?: boolean;
  /** The file named when access is missing ('/dev/vfio/7'). */
  accessFile?: string;
  /** How hints write commands; default `vfio`, as root. */
  invocation?: Invocation;
  /** The fix for a missing IOMMU on this machine (from the doctor's IOMMU check). */
  iommuFix?: string;
}

const DEFAULT_INVOCATION: Invocation = { cli: 'vfio', root: true, sudo: false };

/** Whether a VFIO user can open the device, from what sysfs says (pure, for tests). */
export function usability(d: UsabilityInput): Usability {
  const reasons: string[] = [];
  let hint: string | null = null;
  const bridge = isBridge(d.classCode);
  if (bridge) {
    reasons.push('a bridge (not assignable)');
  } else if (!isVfioDriver(d.driver)) {
    reasons.push(d.driver ? `bound to ${d.driver}` : 'no driver');
    hint = vfioCommand(d.invocation ?? DEFAULT_INVOCATION, `bind ${d.bdf}`, true);
  }
  if (d.group === undefined) {
    if (d.noIommuMode) return { usable: reasons.length === 0, reasons, hint };
    reasons.push('no IOMMU group');
    // Binding cannot help without a group: the IOMMU is the root cause.
    hint =
      d.iommuFix ??
      `enable the IOMMU (\`${vfioCommand(d.invocation ?? DEFAULT_INVOCATION, 'doctor')}\` says how on this machine)`;
  } else {
    const blocking = blockingMembers(d.bdf, d.members);
    if (blocking.length && !bridge) {
      reasons.push(`IOMMU group ${d.group} also holds ${blocking.map((m) => `${m.bdf} (${m.driver})`).join(', ')}`);
      hint ??= `bind those too (${vfioCommand(d.invocation ?? DEFAULT_INVOCATION, `bind ${blocking[0].bdf}`, true)}): a group goes to VFIO as a whole`;
    }
    if (isVfioDriver(d.driver) && d.access === false) {
      const file = d.accessFile ?? `/dev/vfio/${d.group}`;
      reasons.push(`no access to ${file}`);
      hint ??= nodeAccessHint([file], d.invocation ?? DEFAULT_INVOCATION);
    }
  }
  return { usable: reasons.length === 0, reasons, hint };
}

export interface ListEntry {
  readonly bdf: string;
  /** 'vvvv:dddd', as lspci -n prints it. */
  readonly id: string;
  readonly vendor: number;
  readonly device: number;
  readonly subsystemVendor: number | null;
  readonly subsystemDevice: number | null;
  readonly class: number;
  readonly className: string;
  readonly revision: number | null;
  readonly vendorName: string | null;
  readonly deviceName: string | null;
  readonly driver: string | null;
  readonly driverOverride: string | null;
  readonly iommuGroup: number | null;
  /** VFIO runs the device without IOMMU protection (no-IOMMU mode): opening it needs --unsafe-noiommu. */
  readonly noIommu: boolean;
  readonly vfio: Usability;
}

export interface GatherOptions extends sysfs.SysfsOptions {
  /** pci.ids locations to try for names; default: where distributions install it. */
  pciIds?: string[];
  /** Whether this user may open a file read-write; default: fs.accessSync. */
  canOpen?: (file: string) => boolean;
  /** How hints write commands; default `vfio`, as root. */
  invocation?: Invocation;
}

function defaultCanOpen(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.R_OK | fs.constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * Whether this user can reach the device through VFIO: its group file (/dev/vfio/N, or
 * /dev/vfio/noiommu-N) or its cdev with /dev/iommu. Returns the file to name when it cannot.
 */
export function vfioAccess(
  group: number,
  noIommu: boolean,
  cdev: string | undefined,
  canOpen: (file: string) => boolean,
): { ok: boolean; file: string } {
  const groupFile = noIommu ? `/dev/vfio/noiommu-${group}` : `/dev/vfio/${group}`;
  if (canOpen(groupFile)) return { ok: true, file: groupFile };
  if (cdev && canOpen(`/dev/vfio/devices/${cdev}`) && (noIommu || canOpen('/dev/iommu')))
    return { ok: true, file: `/dev/vfio/devices/${cdev}` };
  return { ok: false, file: groupFile };
}

/** One entry per PCI device, in address order. */
export function gatherList(o: GatherOptions = {}): ListEntry[] {
  const canOpen = o.canOpen ?? defaultCanOpen;
  const raw = sysfs.listPciDevices(o).flatMap((bdf) => {
    const ids = sysfs.pciIds(bdf, o);
    return ids ? [{ bdf, ids }] : [];
  });
  const names = lookupPciIds(
    raw.map((r) => ({ vendor: r.ids.vendor, device: r.ids.device })),
    o.pciIds,
  );
  const noIommuMode = sysfs.noIommuModeEnabled(o);
  const iommu = doctor([], { sysfs: o.sysfs, invocation: o.invocation }).checks.find((c) => c.id === 'iommu');
  const iommuFix = iommu?.status === 'ok' ? undefined : iommu?.fix;
  return raw.map(({ bdf, ids }) => {
    const driver = sysfs.driverOf(bdf, o);
    const group = sysfs.iommuGroupOf(bdf, o);
    const members = group === undefined ? [] : sysfs.groupMembers(group, o);
    const n = names.get(idKey(ids.vendor, ids.device));
    const target = describeTarget(bdf, 'pci', sysfs.devicePath(bdf, o), o);
    const access =
      group !== undefined && isVfioDriver(driver) ? vfioAccess(group, target.noIommu, target.cdev, canOpen) : undefined;
    return {
      bdf,
      id: idKey(ids.vendor, ids.device),
      vendor: ids.vendor,
      device: ids.device,
      subsystemVendor: ids.subsystemVendor ?? null,
      subsystemDevice: ids.subsystemDevice ?? null,
      class: ids.class,
      className: className(ids.class),
      revision: ids.revision ?? null,
      vendorName: n?.vendor ?? null,
      deviceName: n?.device ?? null,
      driver: driver ?? null,
      driverOverride: sysfs.driverOverride(bdf, o) ?? null,
      iommuGroup: group ?? null,
      noIommu: target.noIommu,
      vfio: usability({
        bdf,
        classCode: ids.class,
        driver,
        group,
        members,
        access: access?.ok,
        accessFile: access?.file,
        noIommuMode,
        invocation: o.invocation,
        iommuFix,
      }),
    };
  });
}

function vfioCell(e: ListEntry, c: Colors): string {
  if (!e.vfio.usable) return `${c.yellow('no')}: ${e.vfio.reasons.join('; ')}`;
  return e.noIommu ? `${c.yellow('yes')}, no-IOMMU mode (unsafe: --unsafe-noiommu)` : c.green('yes');
}

export interface ListFormat {
  /** lspci -n (1): numbers only; -nn (2): names and numbers; 0: the IDS column beside names. */
  numeric?: number;
  /** lspci -k: also the driver_override column. */
  kernel?: boolean;
  /** How the closing hint writes the bind command; default `vfio`, as root. */
  invocation?: Invocation;
}

const classId = (e: ListEntry) => (e.class >> 8).toString(16).padStart(4, '0');

/** The table `vfio list` prints, and a line on how to make a device usable. */
export function formatList(entries: readonly ListEntry[], c: Colors, f: ListFormat = {}): string {
  if (entries.length === 0) return 'no PCI devices found (is /sys mounted?)\n';
  const n = f.numeric ?? 0;
  const named = n !== 1 && entries.some((e) => e.deviceName !== null || e.vendorName !== null);
  const name = (e: ListEntry) => [e.vendorName, e.deviceName].filter(Boolean).join(' ') || '-';
  const head = [
    'BDF',
    ...(n === 2 ? [] : ['IDS']),
    'CLASS',
    ...(named ? ['NAME'] : []),
    'DRIVER',
    ...(f.kernel ? ['OVERRIDE'] : []),
    'GROUP',
    'VFIO',
  ];
  const rows = entries.map((e) => [
    e.bdf,
    ...(n === 2 ? [] : [e.id]),
    n === 1 ? classId(e) : n === 2 ? `${e.className} [${classId(e)}]` : e.className,
    ...(named ? [n === 2 ? `${name(e)} [${e.id}]` : name(e)] : []),
    e.driver ?? '-',
    ...(f.kernel ? [e.driverOverride ?? '-'] : []),
    e.iommuGroup ?? '-',
    vfioCell(e, c),
  ]);
  if (n === 2 && !named) {
    head.splice(2, 0, 'IDS');
    rows.forEach((r, i) => r.splice(2, 0, `[${entries[i].id}]`));
  }
  let out = table(head, rows, c) + '\n';
  // A generic line, not a suggested device: binding the wrong one takes it from its driver.
  if (entries.some((e) => !e.vfio.usable && e.vfio.hint?.includes('vfio bind'))) {
    const inv = f.invocation ?? DEFAULT_INVOCATION;
    const bind = vfioCommand(inv, 'bind BDF', true);
    out += c.dim(
      `\nto hand a device to VFIO: ${bind}; \`${vfioCommand(inv, 'info BDF')}\` describes a usable one, ` +
        `\`${vfioCommand(inv, 'doctor BDF')}\` checks everything on the way\n`,
    );
  }
  return out;
}
