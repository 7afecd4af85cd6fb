// What the guest's /init (vm/init.sh) reads from the per-run work share: the mode, the 9p
// mounts, the devices to bind and the command script. The init itself stays the same file for
// every run; all variation lives here.
import * as fs from 'fs';
import * as path from 'path';
import { GuestDevice } from './devices';

/** A host directory shared into the guest over 9p. */
export interface Share {
  tag: string;
  hostPath: string;
  guestPath: string;
  readonly: boolean;
  /**
   * 9p cache mode: "loose" caches in the guest (fast, for trees nobody changes during the run,
   * like /usr); "none" always asks the host (for files the host or QEMU change underneath).
   */
  cache: 'loose' | 'mmap' | 'none';
}

/** The 9p tag of the work share; the init mounts it first, at /run/vfio-vm. */
export const WORK_TAG = 'vmwork';
export const GUEST_WORK_DIR = '/run/vfio-vm';

export interface GuestSpec {
  mode: 'run' | 'shell';
  shares: Share[];
  devices: GuestDevice[];
  cwd: string;
  env: Record<string, string>;
  /** The command (run mode) or the interactive shell (shell mode). */
  command: string[];
}

/** Single-quotes a word for sh. */
export const shQuote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/** The mounts file: parents before children, so nested shares land on their parent mount. */
export function mountsFile(shares: Share[]): string {
  return [...shares]
    .sort((a, b) => a.guestPath.split('/').length - b.guestPath.split('/').length)
    .map((s) => `${s.tag} ${s.guestPath} ${s.readonly ? 'ro' : 'rw'} ${s.cache}\n`).join('');
}

export function bindFile(devices: GuestDevice[]): string {
  return devices.map((d) => `${d.bdf} ${d.driver}\n`).join('');
}

/**
 * The command script: enters the working directory and execs the command with exactly the
 * given environment (env -i), so nothing of the init's own environment leaks into it.
 */
export function commandScript(cwd: string, env: Record<string, string>, command: string[]): string {
  const assignments = Object.entries(env).map(([k, v]) => shQuote(`${k}=${v}`));
  return [
    `cd ${shQuote(cwd)} || exit 127`,
    `exec /bin/env -i ${[...assignments, ...command.map(shQuote)].join(' ')}`,
    '',
  ].join('\n');
}

/** Writes the files the init reads into the host side of the work share. */
export function writeGuestSpec(shareDir: string, spec: GuestSpec): void {
  const shares = spec.shares.filter((s) => s.tag !== WORK_TAG);
  fs.writeFileSync(path.join(shareDir, 'mode'), spec.mode + '\n');
  fs.writeFileSync(path.join(shareDir, 'mounts'), mountsFile(shares));
  fs.writeFileSync(path.join(shareDir, 'bind'), bindFile(spec.devices));
  fs.writeFileSync(path.join(shareDir, 'cmd'), commandScript(spec.cwd, spec.env, spec.command));
}

/** What the init wrote back: "exit N", "error KIND DETAIL", or undefined when it wrote nothing. */
export function readGuestStatus(shareDir: string): string | undefined {
  try {
    return fs.readFileSync(path.join(shareDir, 'status'), 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}
