// An optional two-function device behind a PCIe root port of its own (RunOptions.sharedGroup),
// for the situations a single-function device on the root bus never shows. QEMU's endpoints
// have no ACS, so behind an IOMMU both functions land in one IOMMU group, and a hot reset of the
// port's secondary bus hits both. Function 0 is an edu; function 1 a virtio-rng, which the
// guest's virtio-pci driver (always loaded, for the 9p shares) claims, so that the group starts
// out not viable. Neither is bound to vfio-pci by the guest's init; tests find them in the guest
// (a function 0 with vendor:device 1234:11e8 and a function 1 with 1af4:1044 under one bridge)
// and bind them.
import type { RootPort } from './devices';

/** The variable that tells the guest command the pair is present. */
export const SHARED_GROUP_ENV = 'VFIO_VM_SHARED_GROUP';

/** The pair behind its root port, which rootPorts() (devices.ts) hands out with the others. */
export function sharedGroupQemuArgs(port: RootPort): string[] {
  return [
    ...port.qemuArgs,
    '-device', `edu,bus=${port.id},addr=0x0.0,multifunction=on`,
    '-device', `virtio-rng-pci,bus=${port.id},addr=0x0.1`,
  ];
}
