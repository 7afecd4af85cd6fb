// The PCI devices handed to the guest for VFIO: the default set and extra --device specs.
// Every device sits at a fixed address on the root bus, so each has a known BDF (exported to
// the command as VFIO_VM_<NAME>) and, behind the emulated VT-d, its own IOMMU group.
import { VmError } from '../core/errors';

/** Host resources some devices are backed by, created per run (or cached). */
export interface DeviceResources {
  /** Backing file of ivshmem's shared memory (the host sees the guest's writes in it). */
  ivshmemFile: string;
  /** Raw disk image behind the NVMe controller. */
  nvmeImage: string;
}

/** One of the devices every run gives the guest unless `noDefaultDevices` is set. */
export interface DefaultDevice {
  /** Its short name ('edu', 'ivshmem', 'nvme', 'pci-testdev'). */
  name: string;
  /** Environment variable holding the BDF inside the guest. */
  env: string;
  /** Its PCI address in the guest. */
  bdf: string;
  /** What tests use it for. */
  purpose: string;
  /** QEMU arguments that create it. */
  qemuArgs(res: DeviceResources): string[];
}

/** A device of this run: where it is and which driver the guest binds it to. */
export interface GuestDevice {
  /** Its short name. */
  name: string;
  /**
   * Its QEMU id (`-device …,id=ID`), stable across runs: the default devices' names (edu,
   * ivshmem, nvme, pci-testdev, igb, model), `device-N` for the Nth extra --device unless its
   * spec gives id=. The monitor removes devices by it (qemu/monitor.ts).
   */
  id: string;
  /** Environment variable holding the BDF inside the guest. */
  env: string;
  /** Its PCI address in the guest. */
  bdf: string;
  /** The driver the guest binds it to (vfio-pci unless the run names another). */
  driver: string;
  /** QEMU arguments that create it. */
  qemuArgs: string[];
}

export const IVSHMEM_SIZE = '4M';
const DEFAULT_DRIVER = 'vfio-pci';

/** The root-bus slot of the PCIe root port the default nvme sits behind. */
const NVME_ROOT_PORT_SLOT = 5;
/**
 * The root-bus slot of the root port ivshmem sits behind when asked (`ivshmemRootPort`): its own
 * slot. The firmware numbers root ports' buses from the highest slot down, so every other root
 * port sits below nvme's slot and nvme keeps bus 1.
 */
const IVSHMEM_ROOT_PORT_SLOT = 4;
/** Where ivshmem is behind its own root port. */
export const IVSHMEM_ROOT_PORT_BDF = '0000:02:00.0';
/** The root-bus slot of the root port the SR-IOV igb sits behind (`igb`): below the others, so its bus comes last. */
const IGB_ROOT_PORT_SLOT = 2;

export const slotBdf = (slot: number, fn = 0) =>
  `0000:00:${slot.toString(16).padStart(2, '0')}.${fn}`;

const ivshmemBackend = (r: DeviceResources) => [
  '-object', `memory-backend-file,id=ivshmem0,share=on,mem-path=${r.ivshmemFile},size=${IVSHMEM_SIZE}`,
];

/**
 * ivshmem behind a PCIe root port of its own instead of on the root bus: alone on its bus, it
 * gets the kernel's bus reset, so VFIO_DEVICE_RESET and hot reset work on it (on the root bus it
 * has no reset at all). Same memory backend, same env name.
 */
function ivshmemBehindRootPort(d: GuestDevice, r: DeviceResources): GuestDevice {
  const slot = IVSHMEM_ROOT_PORT_SLOT.toString(16);
  return {
    ...d,
    bdf: IVSHMEM_ROOT_PORT_BDF,
    qemuArgs: [
      ...ivshmemBackend(r),
      // x-speed=5 for the same reason as nvme's port: the link must report itself up after a reset.
      '-device', `pcie-root-port,id=rp${slot},chassis=${IVSHMEM_ROOT_PORT_SLOT},addr=0x${slot},x-speed=5`,
      '-device', `ivshmem-plain,id=ivshmem,memdev=ivshmem0,bus=rp${slot},addr=0x0`,
    ],
  };
}

/** The devices every run gives the guest by default, each bound to vfio-pci. */
export const defaultDevices: readonly DefaultDevice[] = [
  {
    name: 'edu', env: 'VFIO_VM_EDU', bdf: slotBdf(3),
    purpose: 'QEMU teaching device (1234:11e8): MMIO registers in BAR0, factorial, a DMA engine, INTx and MSI',
    qemuArgs: () => ['-device', 'edu,id=edu,addr=0x3'],
  },
  {
    name: 'ivshmem', env: 'VFIO_VM_IVSHMEM', bdf: slotBdf(4),
    purpose: `shared memory (BAR2, ${IVSHMEM_SIZE}, 64-bit prefetchable) backed by a host file: an independent witness of guest writes; write-combining`,
    qemuArgs: (r) => [...ivshmemBackend(r), '-device', 'ivshmem-plain,id=ivshmem,memdev=ivshmem0,addr=0x4'],
  },
  {
    name: 'nvme', env: 'VFIO_VM_NVME', bdf: '0000:01:00.0',
    purpose: 'NVMe controller behind a PCIe root port: BAR0 with an MSI-X mappable capability, 65 MSI-X vectors, function reset and a bus to hot-reset',
    qemuArgs: (r) => [
      // snapshot=on: each run sees the pristine image and concurrent runs do not lock each other out.
      '-drive', `file=${r.nvmeImage},if=none,id=nvme0,format=raw,snapshot=on`,
      // Behind a root port so a secondary bus reset (VFIO hot reset) has a bridge to act on.
      // x-speed=5: at QEMU's default link speed the link never reports itself up again after the
      // reset, and the kernel fails the hot reset.
      '-device', `pcie-root-port,id=rp5,chassis=5,addr=0x${NVME_ROOT_PORT_SLOT.toString(16)},x-speed=5`,
      '-device', 'nvme,id=nvme,serial=vfiovm0,drive=nvme0,bus=rp5,addr=0x0',
    ],
  },
  {
    name: 'pci-testdev', env: 'VFIO_VM_PCI_TESTDEV', bdf: slotBdf(6),
    purpose: 'QEMU PCI test device: an I/O and a memory BAR with ioeventfd-style test registers',
    qemuArgs: () => ['-device', 'pci-testdev,id=pci-testdev,addr=0x6'],
  },
];

/** Slots that extra devices without an addr= are given, in order. */
const EXTRA_SLOTS = [0x8, 0x9, 0xa, 0xb, 0xc, 0xd, 0xe, 0xf];
/** Slots of the guest's own plumbing (9p shares, consoles): never offered to devices. */
export const INFRA_FIRST_SLOT = 0x10;

/** "0x8", "08.0", "8.1" (QEMU's addr=SLOT[.FN], hex) → [slot, fn]. */
export function parseAddr(value: string): [number, number] {
  const m = /^(?:0x)?([0-9a-f]{1,2})(?:\.([0-7]))?$/i.exec(value);
  if (!m || parseInt(m[1], 16) > 0x1f) throw new VmError('options', `unsupported PCI addr "${value}" (use SLOT[.FN] in hex, slot below 0x20)`);
  return [parseInt(m[1], 16), m[2] ? Number(m[2]) : 0];
}

/** Splits a -device string into the driver and its properties (QEMU escapes ',' as ',,'). */
function specProps(spec: string): { driver: string; props: Map<string, string> } {
  const parts = spec.split(/(?<!,),(?!,)/);
  const props = new Map<string, string>();
  for (const p of parts.slice(1)) {
    const eq = p.indexOf('=');
    props.set(eq < 0 ? p : p.slice(0, eq), eq < 0 ? 'on' : p.slice(eq + 1));
  }
  return { driver: parts[0], props };
}

/** How the default set is laid out, and the optional devices. */
export interface DeviceLayout {
  /** ivshmem behind a PCIe root port of its own (IVSHMEM_ROOT_PORT_BDF), which gives it a reset. */
  ivshmemRootPort?: boolean;
  /** An igb (Intel 82576, SR-IOV with up to 8 VFs) behind a root port of its own: VFIO_VM_IGB. */
  igb?: boolean;
}

/**
 * The SR-IOV igb: a root port of its own, so its VFs (routing IDs 0x80, 0x82, … on the PF's bus:
 * slot 0x10 and up) stay off the root bus's infrastructure slots and get their own IOMMU groups
 * behind the port's ACS. Its bus is the one after the other root ports' buses.
 */
function igbDevice(bus: number): GuestDevice {
  const slot = IGB_ROOT_PORT_SLOT.toString(16);
  return {
    name: 'igb',
    id: 'igb',
    env: 'VFIO_VM_IGB',
    bdf: `0000:${bus.toString(16).padStart(2, '0')}:00.0`,
    driver: DEFAULT_DRIVER,
    qemuArgs: [
      '-device', `pcie-root-port,id=rp${slot},chassis=${IGB_ROOT_PORT_SLOT},addr=0x${slot},x-speed=5`,
      '-device', `igb,id=igb,bus=rp${slot},addr=0x0`,
    ],
  };
}

/** The devices of a run: the default set (unless excluded) and the extra specs. */
export function guestDevices(
  extra: string[],
  withDefaults: boolean,
  res: DeviceResources,
  layout: DeviceLayout = {},
): GuestDevice[] {
  if (layout.ivshmemRootPort && !withDefaults) {
    throw new VmError('options', 'ivshmemRootPort moves the default ivshmem, which noDefaultDevices leaves out');
  }
  const devices: GuestDevice[] = withDefaults
    ? defaultDevices.map((d) => {
        const g = { name: d.name, id: d.name, env: d.env, bdf: d.bdf, driver: DEFAULT_DRIVER, qemuArgs: d.qemuArgs(res) };
        return d.name === 'ivshmem' && layout.ivshmemRootPort ? ivshmemBehindRootPort(g, res) : g;
      })
    : [];
  const used = new Set(devices.map((d) => d.bdf));
  // The root ports are no VFIO devices, but their slots are taken all the same.
  if (withDefaults) used.add(slotBdf(NVME_ROOT_PORT_SLOT));
  if (layout.ivshmemRootPort) used.add(slotBdf(IVSHMEM_ROOT_PORT_SLOT));
  if (layout.igb) {
    // Buses go from the highest slot down: nvme's port (with the defaults), ivshmem's, then this one.
    devices.push(igbDevice(1 + (withDefaults ? 1 : 0) + (layout.ivshmemRootPort ? 1 : 0)));
    used.add(slotBdf(IGB_ROOT_PORT_SLOT));
  }
  const free = EXTRA_SLOTS.filter((s) => !used.has(slotBdf(s)));
  extra.forEach((spec, i) => {
    const { driver, props } = specProps(spec);
    if (!driver || driver.includes('=')) throw new VmError('options', `--device "${spec}": expected DRIVER[,PROP=VALUE…]`);
    if (props.has('bus')) throw new VmError('options', `--device "${spec}": bus= is not supported, devices go on the root bus`);
    let qemu = spec;
    const id = props.get('id') ?? `device-${i}`;
    if (!props.has('id')) qemu += `,id=${id}`;
    let bdf: string;
    if (props.has('addr')) {
      bdf = slotBdf(...parseAddr(props.get('addr')!));
      if (parseAddr(props.get('addr')!)[0] >= INFRA_FIRST_SLOT) {
        throw new VmError('options', `--device "${spec}": slots from 0x${INFRA_FIRST_SLOT.toString(16)} are reserved`);
      }
    } else {
      const slot = free.find((s) => !used.has(slotBdf(s)));
      if (slot === undefined) throw new VmError('options', 'too many extra devices without addr=');
      bdf = slotBdf(slot);
      qemu += `,addr=0x${slot.toString(16)}`;
    }
    if (used.has(bdf)) throw new VmError('options', `--device "${spec}": ${bdf} is already taken`);
    used.add(bdf);
    devices.push({ name: driver, id, env: `VFIO_VM_DEVICE_${i}`, bdf, driver: DEFAULT_DRIVER, qemuArgs: ['-device', qemu] });
  });
  return devices;
}
