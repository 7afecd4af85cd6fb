// Where the doctor reads the machine: sysfs, procfs, /dev, /etc and the modules tree, each
// replaceable so every check runs on a fixture tree. Readers here never throw: a missing file
// is an answer (undefined, empty) the checks interpret.
import * as fs from 'fs';
import * as path from 'path';
import { SysfsOptions } from '../system/sysfs';

export interface HostRoots extends SysfsOptions {
  /** Root of procfs; '/proc'. */
  proc?: string;
  /** Root of the device nodes; '/dev'. */
  dev?: string;
  /** Root of the configuration files (boot loader, limits); '/etc'. */
  etc?: string;
  /** The kernel modules trees, one directory per release; '/lib/modules'. */
  modules?: string;
  /** Where the kernels' build configurations are (config-RELEASE); '/boot'. */
  boot?: string;
}

export const sysPath = (r: HostRoots, rel: string) => path.join(r.sysfs ?? '/sys', rel);
export const procPath = (r: HostRoots, rel: string) => path.join(r.proc ?? '/proc', rel);
export const devPath = (r: HostRoots, rel: string) => path.join(r.dev ?? '/dev', rel);
export const etcPath = (r: HostRoots, rel: string) => path.join(r.etc ?? '/etc', rel);
export const modulesPath = (r: HostRoots, rel: string) => path.join(r.modules ?? '/lib/modules', rel);
export const bootPath = (r: HostRoots, rel: string) => path.join(r.boot ?? '/boot', rel);

export function readText(file: string): string | undefined {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

export function readBytes(file: string): Uint8Array | undefined {
  try {
    return fs.readFileSync(file);
  } catch {
    return undefined;
  }
}

export function listDir(dir: string): string[] {
  try {
    return fs.readdirSync(dir).sort();
  } catch {
    return [];
  }
}

export function exists(p: string): boolean {
  return fs.existsSync(p);
}

export function realpath(p: string): string | undefined {
  try {
    return fs.realpathSync(p);
  } catch {
    return undefined;
  }
}

/** True when `p` lies strictly inside directory `dir`. */
export const within = (dir: string, p: string) => p.startsWith(dir.endsWith(path.sep) ? dir : dir + path.sep);
