// `vfio bind` / `vfio unbind`: hand a device to vfio-pci and back, the way driverctl does it:
// driver_override names the driver, the current driver lets go, drivers_probe lets the kernel
// match again. Bind first checks everything (the address, the driver name, the device's place in
// sysfs, its IOMMU group, whether the host uses it or anything in its group) and writes nothing
// until every check passed; --dry-run stops there and prints the writes. Unbinding clears the
// override and reprobes, so the driver that matches the device by its ids takes it back; the
// driver it had before `vfio bind` is remembered (in a tmpfs file, as bindings do not survive a
// reboot either, unless --persist wrote a udev rule) and asked directly if the reprobe found none.
import { spawnSync } from 'child_process';
import * as path from 'path';
import { doctor, groupUses, vfioHolders } from '../../doctor';
import { Invocation, currentInvocation, rootCommand, vfioCommand } from '../../system/hints';
import * as sysfs from '../../system/sysfs';
import {
  checkBdf,
  checkDriverName,
  deviceDir,
  driverDir,
  readStateFile,
  refuseLinks,
  removeStateFile,
  writeNoFollow,
  writeStateFile,
} from './bind-paths';
import { DEFAULT_UDEV_RULES_DIR, removeRule, ruleFile, writeRule } from './bind-persist';
import { blockingMembers, isVfioDriver } from './list';
import { CliError } from '../report';

export { vfioHolders };

/** The driver bind() binds to when none is named: vfio-pci. */
export const DEFAULT_DRIVER = 'vfio-pci';
/** Where `vfio bind` remembers each device's previous driver. */
export const DEFAULT_STATE_DIR = '/run/vfio-bind';

export interface BindEnv extends sysfs.SysfsOptions {
  readonly uid: number;
  /** Root of procfs (mounts, swaps, routes, fds); '/proc'. */
  readonly proc?: string;
  readonly stateDir?: string;
  /** Where --persist writes its udev rule; '/etc/udev/rules.d'. */
  readonly udevRulesDir?: string;
  /** Processes holding a device's VFIO files open; default: a scan of /proc. */
  readonly holders?: (bdf: string, group: number | undefined) => number[];
  /** Loads a driver module; default: `modprobe NAME`. */
  readonly loadDriver?: (driver: string) => void;
  /** How hints write commands; default: `npx vfio`, with sudo when not root. */
  readonly invocation?: Invocation;
}

export interface BindFlags {
  /** Take the device even when the host uses it (or another device of its group). */
  readonly force?: boolean;
  /** Check everything, write nothing, list the writes. */
  readonly dryRun?: boolean;
  /** Also write a udev rule that binds the device again at every boot. */
  readonly persist?: boolean;
}

/** What a bind or unbind did (or, with `dryRun`, would do). */
export interface BindResult {
  /** The device's PCI address, normalised. */
  readonly bdf: string;
  /** The driver bound before the call; null when none was. */
  readonly before: string | null;
  /** The driver bound after the call; null when none is. */
  readonly after: string | null;
  /** Whether anything was written (false when the device already was as asked, and with `dryRun`). */
  readonly changed: boolean;
  /** The driver recorded by `vfio bind`, when unbind found one. */
  readonly previous: string | null;
  /** What was done (or, with --dry-run, would be), one line each. */
  readonly steps: string[];
  /** One sentence that says what happened, for people. */
  readonly message: string;
}

const root = (o: sysfs.SysfsOptions) => o.sysfs ?? '/sys';
const inv = (env: BindEnv) => env.invocation ?? { ...currentInvocation(), root: env.uid === 0 };

function requireDevice(bdf: string, env: BindEnv, verb: string, dryRun = false): string {
  const dir = deviceDir(bdf, root(env));
  if (dir === undefined) throw new CliError(`no PCI device ${bdf}`, `${inv(env).cli} list lists the devices`);
  if (env.uid !== 0 && !dryRun) {
    throw new CliError(
      `${verb} writes to ${root(env)}/bus/pci and needs root`,
      vfioCommand({ ...inv(env), root: false }, `${verb} ${bdf}`, true),
    );
  }
  return dir;
}

function defaultLoadDriver(driver: string): void {
  // The name is checked (checkDriverName): letters, digits, _ and -, never a leading '-'.
  spawnSync('modprobe', [driver], { stdio: 'ignore' });
}

/** The writes that move `bdf` to `driver`, in order: [file, text, description]. */
type Write = [string, string, string];

function applyWrites(writes: Write[]): void {
  for (const [file, text] of writes) writeNoFollow(file, text);
}

/** Why bind must not take the device: no IOMMU group, a group VFIO cannot have, the host using it. */
function refusal(bdf: string, env: BindEnv, flags: BindFlags): void {
  const group = sysfs.iommuGroupOf(bdf, env);
  // Without a group VFIO can take the device only in its (unsafe) no-IOMMU mode, which then
  // gives the device a group of its own: there are no other members to check.
  if (group === undefined && !sysfs.noIommuModeEnabled(env)) {
    const iommu = doctor([], { sysfs: env.sysfs, proc: env.proc, invocation: inv(env) }).checks.find(
      (c) => c.id === 'iommu',
    );
    const why = iommu && iommu.status !== 'ok' ? `: ${iommu.detail}` : '';
    throw new CliError(
      `${bdf} has no IOMMU group, so VFIO cannot take it${why}`,
      iommu?.fix ?? `enable the IOMMU (\`${vfioCommand(inv(env), 'doctor')}\` says how)`,
    );
  }
  // The host's use first: binding a group's other members is no fix when the host needs them.
  const used = groupUses(bdf, { sysfs: env.sysfs, proc: env.proc });
  if (used.length && !flags.force) {
    const what = used
      .map((u) => `${u.bdf === bdf ? '' : `${u.bdf} (same IOMMU group): `}${u.reasons.join('; ')}`)
      .join('; ');
    throw new CliError(
      `${bdf} is in use by the host: ${what}`,
      'stop using it first (umount, swapoff, ip link set dev NAME down), or add --force if taking it from the host is what you want',
    );
  }
  const blocking = group === undefined ? [] : blockingMembers(bdf, sysfs.groupMembers(group, env));
  if (blocking.length) {
    throw new CliError(
      `IOMMU group ${group} also holds ${blocking.map((m) => `${m.bdf} (bound to ${m.driver})`).join(', ')}; ` +
        'VFIO takes a group only when every device in it is bound to a VFIO driver or to none',
      `bind those first: ${blocking.map((m) => vfioCommand(inv(env), `bind ${m.bdf}`, true)).join(' && ')}`,
    );
  }
}

/**
 * Binds `bdf` to `driver` (vfio-pci by default). Refuses without root, when its group is not all
 * VFIO's, or when the host uses the device or its group (unless `force`); writes nothing before.
 */
export function bind(bdfArg: string, env: BindEnv, driverArg = DEFAULT_DRIVER, flags: BindFlags = {}): BindResult {
  const bdf = checkBdf(bdfArg);
  const driver = checkDriverName(driverArg);
  if (!isVfioDriver(driver))
    throw new CliError(
      `${driver} is not a VFIO driver`,
      `${inv(env).cli} bind hands devices to vfio-pci (the default) or a VFIO variant driver (--driver NAME_vfio_pci)`,
    );
  const dir = requireDevice(bdf, env, 'bind', flags.dryRun);
  const before = sysfs.driverOf(bdf, env);
  const rules = env.udevRulesDir ?? DEFAULT_UDEV_RULES_DIR;
  const persistStep = `write ${ruleFile(bdf, rules)} (a udev rule that binds ${bdf} to ${driver} at every boot)`;
  if (before === driver) {
    const steps = flags.persist ? [persistStep] : [];
    if (flags.persist && !flags.dryRun) writeRule(bdf, driver, rules, inv(env));
    return {
      bdf,
      before,
      after: before,
      changed: false,
      previous: null,
      steps,
      message: `${bdf} is already bound to ${driver}`,
    };
  }
  refusal(bdf, env, flags);
  const steps: string[] = [];
  let drv = driverDir(driver, root(env));
  if (drv === undefined) {
    steps.push(`modprobe ${driver}`);
    if (!flags.dryRun) {
      (env.loadDriver ?? defaultLoadDriver)(driver);
      drv = driverDir(driver, root(env));
      if (drv === undefined)
        throw new CliError(`driver ${driver} is not loaded`, rootCommand(inv(env), `modprobe ${driver}`));
    }
  }
  const stateDir = env.stateDir ?? DEFAULT_STATE_DIR;
  const remember = before !== undefined && !isVfioDriver(before);
  if (remember) steps.push(`remember ${before} in ${path.join(stateDir, bdf)}`);
  const writes: Write[] = [
    [path.join(dir, 'driver_override'), driver, `${driver} > ${path.join(dir, 'driver_override')}`],
  ];
  if (before !== undefined) {
    const from = driverDir(before, root(env));
    if (from) writes.push([path.join(from, 'unbind'), bdf, `${bdf} > ${path.join(from, 'unbind')}`]);
  }
  writes.push([
    path.join(root(env), 'bus/pci/drivers_probe'),
    bdf,
    `${bdf} > ${path.join(root(env), 'bus/pci/drivers_probe')}`,
  ]);
  steps.push(...writes.map((w) => `write ${w[2]}`));
  if (flags.persist) steps.push(persistStep);
  if (flags.dryRun) {
    return {
      bdf,
      before: before ?? null,
      after: before ?? null,
      changed: false,
      previous: null,
      steps,
      message: [
        `${bdf}: ${before ?? 'no driver'} -> ${driver} (dry run: nothing written)`,
        ...steps.map((s) => `  would ${s}`),
      ].join('\n'),
    };
  }
  refuseLinks([...writes.map((w) => w[0]), ...(remember ? [path.join(stateDir, bdf)] : [])]);
  if (remember) writeStateFile(stateDir, bdf, `${before}\n`, env.uid);
  applyWrites(writes);
  const after = sysfs.driverOf(bdf, env);
  if (after !== driver) {
    // Leave the device as we found it: no override, and its own driver if it will take it back.
    writeNoFollow(path.join(dir, 'driver_override'), '\n');
    if (sysfs.driverOf(bdf, env) === undefined) writeNoFollow(path.join(root(env), 'bus/pci/drivers_probe'), bdf);
    throw new CliError(
      `${driver} did not take ${bdf} (it is now bound to ${sysfs.driverOf(bdf, env) ?? 'no driver'})`,
      'the kernel log (dmesg) says why the probe failed',
    );
  }
  let message = `${bdf}: ${before ?? 'no driver'} -> ${after}`;
  if (flags.persist)
    message += `\n${bdf}: bound again at every boot by ${writeRule(bdf, driver, rules, inv(env))} (\`${vfioCommand(inv(env), `unbind ${bdf}`, true)}\` removes it)`;
  return { bdf, before: before ?? null, after, changed: true, previous: null, steps, message };
}

/** Gives `bdf` back to the kernel: clears the override, unbinds from VFIO, reprobes, drops a --persist rule. */
export function unbind(bdfArg: string, env: BindEnv): BindResult {
  const bdf = checkBdf(bdfArg);
  const dir = requireDevice(bdf, env, 'unbind');
  const before = sysfs.driverOf(bdf, env);
  const override = sysfs.driverOverride(bdf, env);
  const rules = env.udevRulesDir ?? DEFAULT_UDEV_RULES_DIR;
  if (!isVfioDriver(before) && !isVfioDriver(override)) {
    const rule = removeRule(bdf, rules);
    const ruleNote = rule ? `\n${bdf}: removed ${rule}` : '';
    const now = before ?? 'no driver';
    return {
      bdf,
      before: before ?? null,
      after: before ?? null,
      changed: false,
      previous: null,
      steps: [],
      message: `${bdf} is not bound to VFIO (${now}); nothing to do${ruleNote}`,
    };
  }
  if (isVfioDriver(before)) {
    const pids = (env.holders ?? ((b, g) => vfioHolders(b, g, { sysfs: env.sysfs, proc: env.proc })))(
      bdf,
      sysfs.iommuGroupOf(bdf, env),
    );
    if (pids.length) {
      throw new CliError(
        `${bdf} is in use: its VFIO group or device file is open in process ${pids.join(', ')}`,
        'stop that program first (unbinding would wait until it lets go)',
      );
    }
  }
  const rule = removeRule(bdf, rules);
  const ruleNote = rule ? `\n${bdf}: removed ${rule}` : '';
  const stateDir = env.stateDir ?? DEFAULT_STATE_DIR;
  const previous = readStateFile(stateDir, bdf)?.trim() || null;
  writeNoFollow(path.join(dir, 'driver_override'), '\n');
  const from = before === undefined ? undefined : driverDir(before, root(env));
  if (from) writeNoFollow(path.join(from, 'unbind'), bdf);
  writeNoFollow(path.join(root(env), 'bus/pci/drivers_probe'), bdf);
  let after = sysfs.driverOf(bdf, env);
  const prevDir = previous && /^[A-Za-z0-9][A-Za-z0-9_-]*$/.test(previous) ? driverDir(previous, root(env)) : undefined;
  if (after === undefined && prevDir) {
    // The driver was bound by hand (new_id, its own bind file) rather than matched: ask it again.
    try {
      writeNoFollow(path.join(prevDir, 'bind'), bdf);
    } catch {
      /* reported below */
    }
    after = sysfs.driverOf(bdf, env);
  }
  removeStateFile(stateDir, bdf);
  let message = `${bdf}: ${before ?? 'no driver'} -> ${after ?? 'no driver'}`;
  if (previous && after !== previous)
    message += ` (it was bound to ${previous} before \`${inv(env).cli} bind\`; ${previous} did not take it back)`;
  return {
    bdf,
    before: before ?? null,
    after: after ?? null,
    changed: true,
    previous,
    steps: [],
    message: message + ruleNote,
  };
}
