// What the emulated host tells guest tests through the environment (see docs/emulated-host.md):
// which test configuration runs, the BDF of each default device, the ivshmem backing file; and
// openDevice(), through which every guest test opens devices with the configuration's backend.
import * as fs from 'fs';
import { BackendChoice, Device, DeviceOpenOptions } from '../../lib';

export interface GuestEnv {
  /** VFIO_TEST_CONFIG: the guest configuration of scripts/test/configs.js ("default", "6.1", …). */
  config: string;
  /**
   * VFIO_TEST_BACKEND: the IOMMU backend this configuration runs the suite on ('auto' when
   * unset). A setting of the test suite only (docs/backends.md): the library reads no variable.
   */
  backend: BackendChoice;
  /** The guest kernel release. */
  kernel: string;
  edu: string;
  ivshmem: string;
  nvme: string;
  pciTestdev: string;
  /** Every device bound for this run, defaults and extras, in order. */
  devices: string[];
  /** Host path of the ivshmem backing file, readable here at the same path. */
  ivshmemFile: string;
}

function required(name: string): string {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set: guest tests run inside \`vfio-vm run\` (npm test does that)`);
  return v;
}

export function guestEnv(): GuestEnv {
  return {
    config: process.env.VFIO_TEST_CONFIG ?? 'default',
    backend: testBackend(),
    kernel: required('VFIO_VM_KERNEL'),
    edu: required('VFIO_VM_EDU'),
    ivshmem: required('VFIO_VM_IVSHMEM'),
    nvme: required('VFIO_VM_NVME'),
    pciTestdev: required('VFIO_VM_PCI_TESTDEV'),
    devices: required('VFIO_VM_DEVICES').split(' ').filter(Boolean),
    ivshmemFile: required('VFIO_VM_IVSHMEM_FILE'),
  };
}

/** Whether this guest was booted with `word` on its kernel command line (e.g. "iomem=relaxed"). */
export function kernelArg(word: string): boolean {
  return fs.readFileSync('/proc/cmdline', 'utf8').trim().split(/\s+/).includes(word);
}

const BACKENDS: readonly BackendChoice[] = ['auto', 'type1', 'iommufd-compat', 'iommufd', 'noiommu'];

function testBackend(): BackendChoice {
  const v = process.env.VFIO_TEST_BACKEND || 'auto';
  if (!(BACKENDS as readonly string[]).includes(v))
    throw new Error(`VFIO_TEST_BACKEND=${v} is not one of ${BACKENDS.join(', ')}`);
  return v as BackendChoice;
}

/**
 * Device.open() with the configuration's backend (and, for 'noiommu', the unsafe opt-in), unless
 * the caller names a backend or joins a context itself.
 */
export function openDevice(address: string, o: DeviceOpenOptions = {}): Promise<Device> {
  if (o.iommu !== undefined || o.backend !== undefined)
    return Device.open(address, { unsafeNoIommu: o.iommu?.unsafe, ...o });
  const backend = testBackend();
  return Device.open(address, { backend, unsafeNoIommu: backend === 'noiommu', ...o });
}

/**
 * A second edu of this configuration (another bound device with edu's device ID), if there is
 * one: the no-IOMMU configuration adds one with a 32-bit DMA mask, because physical addresses
 * in a 2 GiB guest exceed the 28 bits the default edu drives.
 */
export function wideEdu(): string | undefined {
  const env = guestEnv();
  return env.devices.find(
    (d) => d !== env.edu && fs.readFileSync(`/sys/bus/pci/devices/${d}/device`, 'utf8').trim() === '0x11e8',
  );
}

/**
 * The edu a DMA test drives: the default one behind an IOMMU (the IOVAs it is given are
 * allocated below its 28-bit mask), the wide one without (device addresses are then physical
 * addresses, which the allocator does not choose); undefined when there is none.
 */
export function dmaEdu(): string | undefined {
  return hasIommu() ? guestEnv().edu : wideEdu();
}

/** Whether devices in this configuration sit behind an IOMMU (false in no-IOMMU mode). */
export function hasIommu(): boolean {
  return testBackend() !== 'noiommu';
}

/**
 * The highest IOVA of the emulated VT-d, from its capability register as the guest kernel shows
 * it (MGAW, bits 21:16, is the address width minus one): QEMU's default width changed from 39
 * bits (7.2) to 48 (11.x), so the geometry tests ask the device instead of assuming one.
 */
export function vtdIovaEnd(): bigint {
  const cap = BigInt(`0x${fs.readFileSync('/sys/class/iommu/dmar0/intel-iommu/cap', 'utf8').trim()}`);
  const width = Number((cap >> 16n) & 0x3fn) + 1;
  return (1n << BigInt(width)) - 1n;
}

// The only way a guest test is skipped: with a reason, which the summary of npm test lists
// (scripts/test/counts.js reads "[skipped: REASON]" from the titles). A host test
// (guest-skip-reasons.test.ts) refuses a bare `.skip` anywhere else under test/guest.

/**
 * `describe` when `condition` holds, else `describe.skip` with the reason in the title, so a
 * run's output says why a block did not apply to this configuration.
 */
export function describeIf(condition: unknown, reason: string): (title: string, fn: () => void) => void {
  if (!reason.trim()) throw new Error('describeIf needs a reason');
  return condition ? describe : (title, fn) => describe.skip(`${title} [skipped: ${reason}]`, fn);
}

/** `it` when `condition` holds, else `it.skip` with the reason in the title (as describeIf). */
export function itIf(
  condition: unknown,
  reason: string,
): (title: string, fn: jest.ProvidesCallback, timeout?: number) => void {
  if (!reason.trim()) throw new Error('itIf needs a reason');
  return condition ? it : (title, fn, timeout) => it.skip(`${title} [skipped: ${reason}]`, fn, timeout);
}

/** Writes a sysfs attribute (a module parameter, a hugepage count); returns its old value to restore. */
export function writeSysfs(file: string, value: string): string {
  const old = fs.readFileSync(file, 'utf8').trim();
  fs.writeFileSync(file, value);
  return old;
}
