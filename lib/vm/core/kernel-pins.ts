// The pinned guest kernels (vm/kernels.json): each stock Debian kernel by image package, exact
// package version and suite, the default one, and the linux-source the custom kernel is built
// from. A run boots exactly these; the archive's newest kernel never changes what runs.
import * as fs from 'fs';
import * as path from 'path';
import { packageRoot } from '../../addon/paths';
import { VmError } from './errors';

export interface KernelPin {
  /** What `--kernel NAME` and the test configurations call it, e.g. "6.12". */
  name: string;
  description: string;
  /** The generic amd64 image package, e.g. "linux-image-6.12.117+deb13-amd64". */
  package: string;
  /** The exact Debian package version, e.g. "6.12.117-1". */
  version: string;
  /** The suite that carries it (documentation and the archive listing). */
  suite: string;
}

export interface SourcePin {
  package: string;
  version: string;
  suite: string;
}

export interface KernelPins {
  default: string;
  kernels: KernelPin[];
  customSource: SourcePin;
}

export const kernelPinsFile = () => path.join(packageRoot(), 'vm', 'kernels.json');

const IMAGE = /^linux-image-(\S+-amd64)$/;

/** Reads and checks the pins: unique names, generic amd64 images, a default that exists. */
export function readKernelPins(file = kernelPinsFile()): KernelPins {
  return checkKernelPins(JSON.parse(fs.readFileSync(file, 'utf8')) as KernelPins, file);
}

export function checkKernelPins(pins: KernelPins, where = 'kernel pins'): KernelPins {
  const bad = (what: string) => new Error(`${where}: ${what}`);
  if (!Array.isArray(pins.kernels) || !pins.kernels.length) throw bad('expected a non-empty "kernels" list');
  const names = new Set<string>();
  for (const k of pins.kernels) {
    if (!k.name || !k.version || !k.suite) throw bad(`every kernel needs "name", "version" and "suite" (${JSON.stringify(k)})`);
    if (!IMAGE.test(k.package ?? '') || /-(cloud|rt)-amd64$/.test(k.package)) {
      throw bad(`${k.name}: "${k.package}" is not a generic amd64 linux-image package`);
    }
    if (names.has(k.name)) throw bad(`kernel name "${k.name}" appears twice`);
    names.add(k.name);
  }
  if (!names.has(pins.default)) throw bad(`"default" is "${pins.default}", not one of ${[...names].join(', ')}`);
  if (!pins.customSource?.package || !pins.customSource.version) throw bad('expected "customSource" with "package" and "version"');
  return pins;
}

/** The kernel release (uname -r) of a pin: its image package name without "linux-image-". */
export function pinRelease(pin: KernelPin): string {
  const m = IMAGE.exec(pin.package);
  if (!m) throw new VmError('provision', `kernel pin "${pin.name}": ${pin.package} is not a generic amd64 image package`);
  return m[1];
}

/** The pin called `name`, or undefined. */
export const findKernelPin = (pins: KernelPins, name: string) => pins.kernels.find((k) => k.name === name);

/** The default pin. */
export function defaultKernelPin(pins: KernelPins): KernelPin {
  const pin = findKernelPin(pins, pins.default);
  if (!pin) throw new VmError('provision', `kernel pins: "default" is "${pins.default}", which names no pin`);
  return pin;
}
