// Whether the host itself is using a PCI device, as dpdk-devbind asks before it takes one: a
// block device under it (or a device stacked on one: LVM, md, dm-crypt) with a mounted file
// system or active swap, a virtio 9p share mounted through it, a network interface under it that is up or carries a route, or the
// boot VGA device. And, for a device VFIO holds, which processes have its VFIO files open.
import * as fs from 'fs';
import * as path from 'path';
import * as sysfs from '../system/sysfs';
import { HostRoots, listDir, procPath, readText, realpath, sysPath, within } from './roots';

/** One way the host uses the device, as a sentence fragment ('sda1 is mounted on /boot'). */
export type UseReason = string;

interface BlockDev {
  name: string;
  dev: string | undefined;
}

function blockDevicesUnder(devDir: string, r: HostRoots): BlockDev[] {
  const out: BlockDev[] = [];
  const seen = new Set<string>();
  const add = (name: string) => {
    if (seen.has(name)) return;
    seen.add(name);
    const dir = sysPath(r, `class/block/${name}`);
    out.push({ name, dev: readText(path.join(dir, 'dev'))?.trim() });
    // What is stacked on it (dm, md) is in use through it.
    for (const holder of listDir(path.join(dir, 'holders'))) add(holder);
  };
  for (const name of listDir(sysPath(r, 'class/block'))) {
    const real = realpath(sysPath(r, `class/block/${name}`));
    if (real !== undefined && within(devDir, real)) add(name);
  }
  return out;
}

interface Mount {
  dev: string;
  at: string;
  fstype: string;
  source: string;
}

// mountinfo escapes blanks in paths as octal (\040).
const unescape = (s: string) => s.replace(/\\([0-7]{3})/g, (_s, o: string) => String.fromCharCode(parseInt(o, 8)));

function mounts(r: HostRoots): Mount[] {
  const out: Mount[] = [];
  for (const line of (readText(procPath(r, 'self/mountinfo')) ?? '').split('\n')) {
    const f = line.split(' ');
    const sep = f.indexOf('-', 6);
    if (f.length < 5) continue;
    out.push({
      dev: f[2],
      at: unescape(f[4]),
      fstype: sep < 0 ? '' : (f[sep + 1] ?? ''),
      source: sep < 0 ? '' : unescape(f[sep + 2] ?? ''),
    });
  }
  return out;
}

/** Mount points by the "major:minor" of their source. */
function mountsByDev(all: Mount[]): Map<string, string[]> {
  const m = new Map<string, string[]>();
  for (const x of all) m.set(x.dev, [...(m.get(x.dev) ?? []), x.at]);
  return m;
}

function swapNames(r: HostRoots): Set<string> {
  const lines = (readText(procPath(r, 'swaps')) ?? '').split('\n').slice(1);
  return new Set(
    lines
      .map((l) => l.split(/\s+/)[0])
      .filter(Boolean)
      .map((f) => path.basename(f)),
  );
}

function routedInterfaces(r: HostRoots): Set<string> {
  const names = new Set<string>();
  for (const line of (readText(procPath(r, 'net/route')) ?? '').split('\n').slice(1)) {
    const iface = line.split(/\s+/)[0];
    if (iface) names.add(iface);
  }
  for (const line of (readText(procPath(r, 'net/ipv6_route')) ?? '').split('\n')) {
    const f = line.trim().split(/\s+/);
    // The kernel lists the loopback routes of every address on 'lo'; the last field is the device.
    if (f.length >= 10 && f[9] !== 'lo') names.add(f[9]);
  }
  return names;
}

/** Why the host is using device `bdf`; empty when it is not (as far as these signs tell). */
export function hostUses(bdf: string, r: HostRoots = {}): UseReason[] {
  const devDir = realpath(sysfs.devicePath(bdf, r));
  if (devDir === undefined) return [];
  const reasons: UseReason[] = [];
  const all = mounts(r);
  // A virtio 9p transport has no block device: its mount tag is what the mount names.
  for (const v of listDir(devDir).filter((n) => /^virtio\d+$/.test(n))) {
    const tag = readText(path.join(devDir, v, 'mount_tag'))
      ?.replace(/\0/g, '')
      .trim();
    const at = tag ? all.filter((m) => m.fstype === '9p' && m.source === tag).map((m) => m.at) : [];
    if (at.length) reasons.push(`9p share ${tag} is mounted on ${at.join(', ')}`);
  }
  const blocks = blockDevicesUnder(devDir, r);
  if (blocks.length) {
    const mounts = mountsByDev(all);
    const swaps = swapNames(r);
    for (const b of blocks) {
      const at = b.dev === undefined ? [] : (mounts.get(b.dev) ?? []);
      if (at.length) reasons.push(`block device ${b.name} is mounted on ${at.join(', ')}`);
      if (swaps.has(b.name)) reasons.push(`block device ${b.name} is active swap`);
    }
  }
  const routed = routedInterfaces(r);
  for (const name of listDir(sysPath(r, 'class/net'))) {
    const real = realpath(sysPath(r, `class/net/${name}`));
    if (real === undefined || !within(devDir, real)) continue;
    const flags = Number.parseInt(readText(path.join(real, 'flags'))?.trim() ?? '0', 16);
    // IFF_UP: the administrative state, which `ip link set dev X up` sets.
    if ((flags & 0x1) !== 0) reasons.push(`network interface ${name} is up`);
    if (routed.has(name)) reasons.push(`network interface ${name} carries a route`);
  }
  if (readText(path.join(devDir, 'boot_vga'))?.trim() === '1')
    reasons.push('it is the boot VGA device (the console may be on it)');
  return reasons;
}

/** hostUses for the device and every other member of its IOMMU group, those in use only. */
export function groupUses(bdf: string, r: HostRoots = {}): { bdf: string; reasons: UseReason[] }[] {
  const group = sysfs.iommuGroupOf(bdf, r);
  const all =
    group === undefined
      ? [bdf]
      : [
          bdf,
          ...sysfs
            .groupMembers(group, r)
            .map((m) => m.bdf)
            .filter((m) => m !== bdf),
        ];
  return all.map((b) => ({ bdf: b, reasons: hostUses(b, r) })).filter((u) => u.reasons.length > 0);
}

/**
 * PIDs with /dev/vfio/<group> or the device's /dev/vfio/devices/vfioN open, found as fuser finds
 * them: by reading every process's fd links (processes we may not inspect are skipped).
 */
export function vfioHolders(bdf: string, group: number | undefined, r: HostRoots = {}): number[] {
  const targets = new Set<string>();
  if (group !== undefined) {
    targets.add(`/dev/vfio/${group}`);
    targets.add(`/dev/vfio/noiommu-${group}`);
  }
  for (const n of listDir(path.join(sysfs.devicePath(bdf, r), 'vfio-dev'))) targets.add(`/dev/vfio/devices/${n}`);
  const proc = r.proc ?? '/proc';
  const pids: number[] = [];
  for (const name of listDir(proc)) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    const fds = listDir(path.join(proc, name, 'fd'));
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
  return pids.sort((a, b) => a - b);
}
