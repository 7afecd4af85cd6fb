// `vfio bind` / `vfio unbind`: hand a device to vfio-pci and back, the way driverctl does it:
// driver_override names the driver, the current driver lets go, drivers_probe lets the kernel
// match again. Unbinding clears the override and reprobes, so the driver that matches the device
// by its ids takes it back; the driver it had before `vfio bind` is remembered (in a tmpfs file,
// as bindings do not survive a reboot either) and asked directly if the reprobe found none.
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { noIommuGroupHint } from '../../system/hints';
import * as sysfs from '../../system/sysfs';
import { blockingMembers, isVfioDriver } from './list';
import { CliError } from '../report';

export const DEFAULT_DRIVER = 'vfio-pci';
/** Where `vfio bind` remembers each device's previous driver. */
export const DEFAULT_STATE_DIR = '/run/vfio-bind';

export interface BindEnv extends sysfs.SysfsOptions {
  readonly uid: number;
  readonly stateDir?: string;
  /** Processes holding a device's VFIO files open; default: a scan of /proc. */
  readonly holders?: (bdf: string, group: number | undefined) => number[];
  /** Loads a driver module; default: `modprobe NAME`. */
  readonly loadDriver?: (driver: string) => void;
}

export interface BindResult {
  readonly bdf: string;
  readonly before: string | null;
  readonly after: string | null;
  readonly changed: boolean;
  /** The driver recorded by `vfio bind`, when unbind found one. */
  readonly previous: string | null;
  readonly message: string;
}

const root = (o: sysfs.SysfsOptions) => o.sysfs ?? '/sys';

function write(file: string, text: string): void {
  try {
    fs.writeFileSync(file, text);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? 'error';
    throw new CliError(
      `writing '${text.trim()}' to ${file} failed: ${code}`,
      'the kernel log (dmesg) usually says why',
    );
  }
}

function requireDevice(bdf: string, env: BindEnv, verb: string): void {
  if (!sysfs.deviceExists(bdf, env)) throw new CliError(`no PCI device ${bdf}`, '`vfio list` lists the devices');
  if (env.uid !== 0) {
    throw new CliError(`${verb} writes to ${root(env)}/bus/pci and needs root`, `sudo vfio ${verb} ${bdf}`);
  }
}

function stateFile(bdf: string, env: BindEnv): string {
  return path.join(env.stateDir ?? DEFAULT_STATE_DIR, bdf);
}

function defaultLoadDriver(driver: string): void {
  spawnSync('modprobe', [driver], { stdio: 'ignore' });
}

function driverDir(driver: string, env: BindEnv): string {
  return path.join(root(env), 'bus/pci/drivers', driver);
}

function probe(bdf: string, env: BindEnv): void {
  write(path.join(root(env), 'bus/pci/drivers_probe'), bdf);
}

function unbindCurrent(bdf: string, env: BindEnv): void {
  if (sysfs.driverOf(bdf, env) !== undefined) write(path.join(sysfs.devicePath(bdf, env), 'driver/unbind'), bdf);
}

/** Binds `bdf` to `driver` (vfio-pci by default). Refuses without root or when its group is not all VFIO's. */
export function bind(bdf: string, env: BindEnv, driver = DEFAULT_DRIVER): BindResult {
  requireDevice(bdf, env, 'bind');
  const before = sysfs.driverOf(bdf, env);
  if (before === driver) {
    return {
      bdf,
      before,
      after: before,
      changed: false,
      previous: null,
      message: `${bdf} is already bound to ${driver}`,
    };
  }
  const group = sysfs.iommuGroupOf(bdf, env);
  // Without a group VFIO can take the device only in its (unsafe) no-IOMMU mode, which then
  // gives the device a group of its own: there are no other members to check.
  if (group === undefined && !sysfs.noIommuModeEnabled(env)) {
    throw new CliError(`${bdf} has no IOMMU group, so VFIO cannot take it`, noIommuGroupHint(bdf));
  }
  const blocking = group === undefined ? [] : blockingMembers(bdf, sysfs.groupMembers(group, env));
  if (blocking.length) {
    throw new CliError(
      `IOMMU group ${group} also holds ${blocking.map((m) => `${m.bdf} (bound to ${m.driver})`).join(', ')}; ` +
        'VFIO takes a group only when every device in it is bound to a VFIO driver or to none',
      `bind those first: ${blocking.map((m) => `vfio bind ${m.bdf}`).join(' && ')}`,
    );
  }
  if (!fs.existsSync(driverDir(driver, env))) {
    (env.loadDriver ?? defaultLoadDriver)(driver);
    if (!fs.existsSync(driverDir(driver, env)))
      throw new CliError(`driver ${driver} is not loaded`, `modprobe ${driver}`);
  }
  if (before !== undefined && !isVfioDriver(before)) {
    fs.mkdirSync(path.dirname(stateFile(bdf, env)), { recursive: true });
    fs.writeFileSync(stateFile(bdf, env), `${before}\n`);
  }
  write(path.join(sysfs.devicePath(bdf, env), 'driver_override'), driver);
  unbindCurrent(bdf, env);
  probe(bdf, env);
  const after = sysfs.driverOf(bdf, env);
  if (after !== driver) {
    // Leave the device as we found it: no override, and its own driver if it will take it back.
    write(path.join(sysfs.devicePath(bdf, env), 'driver_override'), '\n');
    if (sysfs.driverOf(bdf, env) === undefined) probe(bdf, env);
    throw new CliError(
      `${driver} did not take ${bdf} (it is now bound to ${sysfs.driverOf(bdf, env) ?? 'no driver'})`,
      'the kernel log (dmesg) says why the probe failed',
    );
  }
  return {
    bdf,
    before: before ?? null,
    after,
    changed: true,
    previous: null,
    message: `${bdf}: ${before ?? 'no driver'} -> ${after}`,
  };
}

/** Gives `bdf` back to the kernel: clears the override, unbinds from VFIO, reprobes. */
export function unbind(bdf: string, env: BindEnv): BindResult {
  requireDevice(bdf, env, 'unbind');
  const before = sysfs.driverOf(bdf, env);
  const override = sysfs.driverOverride(bdf, env);
  if (!isVfioDriver(before) && !isVfioDriver(override)) {
    const now = before ?? 'no driver';
    return {
      bdf,
      before: before ?? null,
      after: before ?? null,
      changed: false,
      previous: null,
      message: `${bdf} is not bound to VFIO (${now}); nothing to do`,
    };
  }
  if (isVfioDriver(before)) {
    const pids = (env.holders ?? vfioHolders)(bdf, sysfs.iommuGroupOf(bdf, env));
    if (pids.length) {
      throw new CliError(
        `${bdf} is in use: its VFIO group or device file is open in process ${pids.join(', ')}`,
        'stop that program first (unbinding would wait until it lets go)',
      );
    }
  }
  let previous: string | null = null;
  try {
    previous = fs.readFileSync(stateFile(bdf, env), 'utf8').trim() || null;
  } catch {
    /* not bound by us, or after a reboot: the reprobe decides */
  }
  write(path.join(sysfs.devicePath(bdf, env), 'driver_override'), '\n');
  unbindCurrent(bdf, env);
  probe(bdf, env);
  let after = sysfs.driverOf(bdf, env);
  if (after === undefined && previous && fs.existsSync(driverDir(previous, env))) {
    // The driver was bound by hand (new_id, its own bind file) rather than matched: ask it again.
    try {
      fs.writeFileSync(path.join(driverDir(previous, env), 'bind'), bdf);
    } catch {
      /* reported below */
    }
    after = sysfs.driverOf(bdf, env);
  }
  fs.rmSync(stateFile(bdf, env), { force: true });
  let message = `${bdf}: ${before ?? 'no driver'} -> ${after ?? 'no driver'}`;
  if (previous && after !== previous)
    message += ` (it was bound to ${previous} before \`vfio bind\`; ${previous} did not take it back)`;
  return { bdf, before: before ?? null, after: after ?? null, changed: true, previous, message };
}

/**
 * PIDs with /dev/vfio/<group> or the device's /dev/vfio/devices/vfioN open, found as fuser finds
 * them: by reading every process's fd links (processes we may not inspect are skipped).
 */
export function vfioHolders(
  bdf: string,
  group: number | undefined,
  o: sysfs.SysfsOptions & { proc?: string } = {},
): number[] {
  const targets = new Set<string>();
  if (group !== undefined) targets.add(`/dev/vfio/${group}`);
  try {
    for (const n of fs.readdirSync(path.join(sysfs.devicePath(bdf, o), 'vfio-dev')))
      targets.add(`/dev/vfio/devices/${n}`);
  } catch {
    /* no cdev interface */
  }
  const proc = o.proc ?? '/proc';
  const pids: number[] = [];
  for (const name of fs.readdirSync(proc)) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    let fds: string[];
    try {
      fds = fs.readdirSync(path.join(proc, name, 'fd'));
    } catch {
      continue;
    }
    if (
      fds.some((fd) => {
        try {
          return targets.has(fs.readlinkSync(path.join(proc, name, 'fd', fd)));
        } catch {
          return false;
        }
      })
    )
      pids.push(Number(name));
  }
  return pids;
}
