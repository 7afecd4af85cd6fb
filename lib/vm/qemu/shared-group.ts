// An optional two-function device behind a PCIe root port of its own (RunOptions.sharedGroup),
// for the situations a single-function device on the root bus never shows. QEMU's endpoints
// have no ACS, so behind an IOMMU both functions land in one IOMMU group, and a hot reset of the
// port's secondary bus hits both. Function 0 is an edu; function 1 a virtio-rng, which the
// guest's virtio-pci driver (always loaded, for the 9p shares) claims, so that the group starts
// out not viable. Neither is bound to vfio-pci by the guest's init: the firmware numbers the
// port's bus, so their BDFs are only known inside the guest, where tests find them (a function 0
// with vendor:device 1234:11e8 and a function 1 with 1af4:1044 under one bridge) and bind them.
/** The variable that tells the guest command the pair is present. */
export const SHARED_GROUP_ENV = 'VFIO_VM_SHARED_GROUP';

/** The root-bus slot of the root port: below the default and extra devices' slots (devices.ts). */
const ROOT_PORT_SLOT = 2;

export function sharedGroupQemuArgs(): string[] {
  const port = `rp${ROOT_PORT_SLOT}`;
  return [
    // x-speed=5: at QEMU's default link speed the link never reports itself up again after a
    // secondary bus reset, and the kernel fails the hot reset (as for the default nvme).
    '-device', `pcie-root-port,id=${port},chassis=${ROOT_PORT_SLOT},addr=0x${ROOT_PORT_SLOT.toString(16)},x-speed=5`,
    '-device', `edu,bus=${port},addr=0x0.0,multifunction=on`,
    '-device', `virtio-rng-pci,bus=${port},addr=0x0.1`,
  ];
}
