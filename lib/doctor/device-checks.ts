// The per-device half of `vfio doctor`, in the order an open needs them: the device, its IOMMU
// group (every member and its driver, and whether missing ACS isolation is why they share it),
// the driver bound and whether the host or a process is using the device, and whether this user
// may open its VFIO files. Reads sysfs, procfs and /dev through HostRoots only.
import * as fs from 'fs';
import * as path from 'path';
import { findPciExtCap } from '../decode/pci-caps';
import { parseBdf } from '../decode/sysfs';
import { Invocation, nodeAccessHint, vfioCommand } from '../system/hints';
import * as sysfs from '../system/sysfs';
import { Check, blocked, check } from './check';
import { BackendFacts, HostReport } from './host-checks';
import { groupUses, hostUses, vfioHolders } from './in-use';
import { HostRoots, devPath, readBytes, realpath } from './roots';

const PCI_EXT_CAP_ID_ACS = 0x0d;
const BRIDGE_CLASS = 0x06;

/** Who is asking: uid and groups decide the node permissions. */
export interface Identity {
  readonly uid: number;
  readonly gids: readonly number[];
}

export function currentIdentity(): Identity {
  return { uid: process.getuid?.() ?? -1, gids: process.getgroups?.() ?? [] };
}

/** Read-write permission from the mode bits, as the kernel decides it for a non-root user. */
export function mayOpen(file: string, who: Identity): boolean {
  let st: fs.Stats;
  try {
    st = fs.statSync(file);
  } catch {
    return false;
  }
  if (who.uid === 0) return true;
  const bits = st.uid === who.uid ? (st.mode >> 6) & 7 : who.gids.includes(st.gid) ? (st.mode >> 3) & 7 : st.mode & 7;
  return (bits & 6) === 6;
}

/** 'yes', 'no' or 'unknown' (config space beyond the header is readable by root only). */
function acsOf(bdf: string, r: HostRoots): 'yes' | 'no' | 'unknown' {
  const cfg = readBytes(path.join(sysfs.devicePath(bdf, r), 'config'));
  if (!cfg || cfg.length <= 256) return 'unknown';
  return findPciExtCap(cfg, PCI_EXT_CAP_ID_ACS) ? 'yes' : 'no';
}

/** The bridge the device sits behind, from its place in the sysfs device tree. */
function upstreamBridge(bdf: string, r: HostRoots): string | undefined {
  const real = realpath(sysfs.devicePath(bdf, r));
  const parent = real && path.basename(path.dirname(real));
  try {
    return parent ? parseBdf(parent).bdf : undefined;
  } catch {
    return undefined;
  }
}

/** Why the devices of a group share it, as far as ACS explains it. */
export function acsExplanation(bdf: string, others: readonly string[], r: HostRoots): string {
  const slot = (b: string) => b.slice(0, b.lastIndexOf('.'));
  if (others.every((o) => slot(o) === slot(bdf))) {
    const acs = acsOf(bdf, r);
    return acs === 'no'
      ? 'functions of one device without an ACS capability share its group'
      : acs === 'yes'
        ? 'functions of one device; the device has ACS, so the sharing comes from a port above it without ACS'
        : 'functions of one device share a group unless it has ACS (config space needs root to tell)';
  }
  const bridge = upstreamBridge(bdf, r);
  if (!bridge) return 'devices on a bus without ACS isolation share a group';
  const acs = acsOf(bridge, r);
  return `devices behind ${bridge} share a group: ${acs === 'no' ? `${bridge} has no ACS capability` : acs === 'yes' ? `${bridge} has ACS, a port above it does not isolate` : `${bridge} (or a port above it) lacks ACS isolation`}`;
}

export interface DeviceContext {
  readonly host: HostReport;
  readonly inv: Invocation;
  readonly who: Identity;
  /** Processes holding the device's VFIO files; default: a scan of /proc. */
  readonly holders?: (bdf: string, group: number | undefined) => number[];
}

/** The device checks for one BDF (already normalised), in order. */
export function deviceChecks(bdf: string, r: HostRoots, ctx: DeviceContext): Check[] {
  const out: Check[] = [];
  const add = (c: Check) => {
    out.push({ ...c, device: bdf });
    return c;
  };
  const ids = sysfs.deviceExists(bdf, r) ? sysfs.pciIds(bdf, r) : undefined;
  if (!ids) {
    add(
      check('device', 'device', 'fail', `no PCI device ${bdf}`, `${ctx.inv.cli} list (or lspci -D) shows the devices`),
    );
    return out;
  }
  const id = `${ids.vendor.toString(16).padStart(4, '0')}:${ids.device.toString(16).padStart(4, '0')}`;
  if (ids.class >> 16 === BRIDGE_CLASS) {
    add(
      check(
        'device',
        'device',
        'fail',
        `${id} is a bridge: VFIO does not assign bridges`,
        `pick an endpoint device (${ctx.inv.cli} list)`,
      ),
    );
    return out;
  }
  add(check('device', 'device', 'ok', `${id}, class ${(ids.class >> 8).toString(16).padStart(4, '0')}`));

  const group = sysfs.iommuGroupOf(bdf, r);
  const driver = sysfs.driverOf(bdf, r);
  const vfio = sysfs.isVfioDriver(driver);
  const modulesOk = ctx.host.checks.find((c) => c.id === 'modules')?.status === 'ok';
  const g = add(groupCheck(bdf, group, r, ctx));
  const uses = vfio ? [] : hostUses(bdf, r);
  if (g.status === 'fail' && group === undefined) {
    add(blocked('driver', 'driver', 'IOMMU group'));
  } else if (vfio) {
    add(check('driver', 'driver', 'ok', `bound to ${driver}`));
  } else {
    const now = driver ? `bound to ${driver}` : 'no driver';
    const bind = vfioCommand(ctx.inv, `bind ${bdf}`, true);
    const fix = uses.length
      ? `the host uses it (${uses.join('; ')}): stop that first, then ${bind}`
      : !modulesOk
        ? `load vfio-pci first (the modules check), then ${bind}`
        : bind;
    add(check('driver', 'driver', 'fail', `${now}, not a VFIO driver`, fix));
  }
  add(inUseCheck(bdf, group, vfio, uses, r, ctx));
  add(accessCheck(bdf, group, vfio, r, ctx));
  return out;
}

function groupCheck(bdf: string, group: number | undefined, r: HostRoots, ctx: DeviceContext): Check {
  const title = 'IOMMU group';
  if (group === undefined) {
    if (ctx.host.backends.noIommuEnabled)
      return check(
        'group',
        title,
        'warn',
        "none: VFIO's no-IOMMU mode gives the device a group when it is bound (unsafe: no DMA protection)",
      );
    const iommu = ctx.host.checks.find((c) => c.id === 'iommu');
    return check(
      'group',
      title,
      'fail',
      'none: the IOMMU is off, so VFIO cannot take the device',
      iommu?.fix ?? 'enable the IOMMU (the iommu check)',
    );
  }
  const members = sysfs.groupMembers(group, r);
  const others = members.filter((m) => m.bdf !== bdf);
  const listed = others.map((m) => `${m.bdf} (${m.driver ?? 'no driver'})`).join(', ');
  if (!others.length) return check('group', title, 'ok', `group ${group}, alone in it`);
  const why = acsExplanation(
    bdf,
    others.map((m) => m.bdf),
    r,
  );
  const blocking = sysfs.blockingMembers(bdf, members);
  if (!blocking.length) return check('group', title, 'ok', `group ${group} with ${listed}; ${why}`);
  const used = groupUses(bdf, r).filter((u) => u.bdf !== bdf);
  const fix = used.length
    ? `the group goes to VFIO as a whole, and the host uses ${used.map((u) => `${u.bdf} (${u.reasons.join('; ')})`).join(', ')}: ` +
      'stop using it, or move the device to a slot with its own group'
    : `bind the others too: ${blocking.map((m) => vfioCommand(ctx.inv, `bind ${m.bdf}`, true)).join(' && ')}`;
  return check('group', title, 'fail', `group ${group} also holds ${listed}; ${why}`, fix);
}

function inUseCheck(
  bdf: string,
  group: number | undefined,
  vfio: boolean,
  uses: string[],
  r: HostRoots,
  ctx: DeviceContext,
): Check {
  const title = 'in use';
  if (vfio) {
    const pids = (ctx.holders ?? ((b, g) => vfioHolders(b, g, r)))(bdf, group);
    if (pids.length)
      return check(
        'in-use',
        title,
        'fail',
        `its VFIO files are open in process ${pids.join(', ')}`,
        `VFIO gives a device to one process at a time: stop process ${pids.join(', ')} first`,
      );
    return check('in-use', title, 'ok', 'no process holds its VFIO files');
  }
  if (uses.length)
    return check(
      'in-use',
      title,
      'warn',
      `the host uses it: ${uses.join('; ')} (\`${ctx.inv.cli} bind\` refuses it without --force)`,
    );
  return check(
    'in-use',
    title,
    'ok',
    'not used by the host (no mounted file system, swap, interface up or route; not the boot VGA)',
  );
}

function accessCheck(bdf: string, group: number | undefined, vfio: boolean, r: HostRoots, ctx: DeviceContext): Check {
  const title = 'permissions';
  if (!vfio) return blocked('access', title, 'driver');
  const b: BackendFacts = ctx.host.backends;
  const cdev = fs.existsSync(path.join(sysfs.devicePath(bdf, r), 'vfio-dev'))
    ? fs.readdirSync(path.join(sysfs.devicePath(bdf, r), 'vfio-dev')).sort()[0]
    : undefined;
  const groupNode =
    group === undefined
      ? undefined
      : fs.existsSync(devPath(r, `vfio/noiommu-${group}`))
        ? `vfio/noiommu-${group}`
        : `vfio/${group}`;
  const can = (rel: string) => mayOpen(devPath(r, rel), ctx.who);
  const viaGroup = groupNode !== undefined && can(groupNode) && b.container && can('vfio/vfio');
  const viaCdev = cdev !== undefined && can(`vfio/devices/${cdev}`) && b.iommufd && can('iommu');
  const who = ctx.who.uid === 0 ? 'root' : `uid ${ctx.who.uid}`;
  if (viaGroup || viaCdev)
    return check(
      'access',
      title,
      'ok',
      `${who} may open ${viaGroup ? `/dev/${groupNode}` : `/dev/vfio/devices/${cdev} and /dev/iommu`}`,
    );
  const node = groupNode ? `/dev/${groupNode}` : `/dev/vfio/devices/${cdev}`;
  const viaCdevOnly = !groupNode && b.iommufd && !can('iommu');
  if (groupNode && !fs.existsSync(devPath(r, groupNode)) && !cdev) {
    return check(
      'access',
      title,
      'fail',
      `${node} does not exist`,
      'is devtmpfs mounted on /dev? The node appears when the device is bound to vfio-pci',
    );
  }
  return check(
    'access',
    title,
    'fail',
    `${who} may not open ${node} read-write`,
    nodeAccessHint(viaCdevOnly ? [node, '/dev/iommu'] : [node], ctx.inv),
  );
}
