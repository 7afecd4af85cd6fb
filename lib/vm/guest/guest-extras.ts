// What a run can change about the default guest, beyond its devices: no-IOMMU mode, extra
// kernel modules loaded at boot, and a driver other than vfio-pci per device (for testing a
// kernel driver of our own against the same emulated devices).
import * as fs from 'fs';
import * as path from 'path';
import { GuestDevice } from '../qemu/devices';
import { VmError } from '../core/errors';
import { KernelInfo } from '../core/kernel';
import { parseConfig } from '../core/kconfig';

/** The parameter that lets vfio-pci bind devices no IOMMU protects (the kernel taints itself). */
export const NOIOMMU_APPEND = 'vfio.enable_unsafe_noiommu_mode=1';

/** The extra kernel command line of a run. */
export function guestAppend(append: string | undefined, noIommu: boolean): string | undefined {
  return [append, noIommu ? NOIOMMU_APPEND : undefined].filter(Boolean).join(' ') || undefined;
}

/**
 * The .config a kernel was built with, where its source leaves one: beside a custom or path
 * kernel ("config"), or in a Debian kernel's unpacked packages (7.x: the modules directory's
 * "config"; older: boot/config-<release>).
 */
export function kernelConfigFile(kernel: KernelInfo): string | undefined {
  const candidates = [path.join(path.dirname(kernel.kernelImage), 'config')];
  if (kernel.modulesDir) {
    // <root>/usr/lib/modules/<rel> or <root>/lib/modules/<rel> → <root>/boot/config-<rel>
    let root = path.dirname(path.dirname(path.dirname(kernel.modulesDir)));
    if (path.basename(root) === 'usr') root = path.dirname(root);
    candidates.push(path.join(root, 'boot', `config-${kernel.kernelVersion}`), path.join(kernel.modulesDir, 'config'));
  }
  return candidates.find((f) => fs.existsSync(f));
}

/** Fails early, with the way out, when the kernel is known to lack no-IOMMU support. */
export function checkNoIommuSupport(kernel: KernelInfo): void {
  const file = kernelConfigFile(kernel);
  if (!file) return; // unknown: the guest's bind step reports it if the kernel cannot
  const value = parseConfig(fs.readFileSync(file, 'utf8')).get('CONFIG_VFIO_NOIOMMU');
  if (value !== 'y') {
    throw new VmError('options', `--no-iommu needs a kernel built with CONFIG_VFIO_NOIOMMU, and ${kernel.kernelVersion} `
      + 'is not (Debian\'s kernels never are): add --kernel custom');
  }
}

/** Parses "DEV=DRIVER" (the CLI's --driver). */
export function parseDriverAssignment(text: string): [string, string] {
  const m = /^([^=\s]+)=([\w-]+)$/.exec(text);
  if (!m) throw new VmError('options', `--driver expects DEVICE=DRIVER (e.g. edu=my_driver), got "${text}"`);
  return [m[1], m[2]];
}

/**
 * The devices with their drivers replaced as asked: keys are device names (edu, nvme, …),
 * their VFIO_VM_* variable, or BDFs. A key matching no device is an error, not ignored.
 */
export function applyDeviceDrivers(devices: GuestDevice[], drivers: Record<string, string>): GuestDevice[] {
  const matches = (d: GuestDevice, key: string) => d.name === key || d.env === key || d.bdf === key || d.bdf === `0000:${key}`;
  for (const key of Object.keys(drivers)) {
    if (!devices.some((d) => matches(d, key))) {
      throw new VmError('options', `--driver ${key}=…: no such device (devices: ${devices.map((d) => d.name).join(', ') || 'none'})`);
    }
  }
  return devices.map((d) => {
    const key = Object.keys(drivers).find((k) => matches(d, k));
    return key ? { ...d, driver: drivers[key] } : d;
  });
}
