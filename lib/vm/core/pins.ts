// The pinned userland of the emulated host (vm/pins.json): the one QEMU every run uses, the
// packages of the guest's userland, and the custom kernel's build tools.
import * as fs from 'fs';
import * as path from 'path';
import { packageRoot } from '../../addon/paths';

export interface Pins {
  qemu: { package: string; version: string; suite: string };
  userland: { suite: string; packages: string[] };
  kernelTools: { suite: string; packages: string[] };
}

export const pinsFile = () => path.join(packageRoot(), 'vm', 'pins.json');

export function readPins(file = pinsFile()): Pins {
  const pins = JSON.parse(fs.readFileSync(file, 'utf8')) as Pins;
  if (!pins.qemu?.version || !pins.userland?.packages || !pins.kernelTools?.packages) {
    throw new Error(`${file}: expected "qemu", "userland" and "kernelTools" entries`);
  }
  return pins;
}

/** The upstream part of a Debian version ("1:11.1.3+ds-2~bpo13+1" → "11.1.3"). */
export function upstreamVersion(debian: string): string {
  return debian.replace(/^\d+:/, '').replace(/[+~-].*$/, '');
}
