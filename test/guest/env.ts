// What the emulated host tells guest tests through the environment (see docs/emulated-host.md):
// which test configuration runs, the BDF of each default device, the ivshmem backing file.
import * as fs from 'fs';

export interface GuestEnv {
  /** VFIO_TEST_CONFIG: the guest configuration of scripts/test.js ("default", "relaxed", …). */
  config: string;
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
