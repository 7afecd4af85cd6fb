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

/**
 * The root-bus slot of the PCIe root port the default nvme sits behind: the highest slot any
 * root port takes. The firmware numbers root ports' buses from the highest slot down, so nvme's
 * port, the first the allocator hands out, keeps bus 1 (defaultDevices announces 0000:01:00.0).
 */
const NVME_ROOT_PORT_SLOT = 5;

export const slotBdf = (slot: number, fn = 0) =>
  `0000:00:${slot.toString(16).padStart(2, '0')}.${fn}`;
const busBdf = (bus: number) => `0000:${bus.toString(16).padStart(2, '0')}:00.0`;

/** The -device of a PCIe root port at a root-bus slot, named rpSLOT. */
function rootPortDevice(slot: number): string[] {
  const hex = slot.toString(16);
  // x-speed=5: at QEMU's default link speed the link never reports itself up again after a
  // secondary bus reset, and the kernel fails the hot reset.
  return ['-device', `pcie-root-port,id=rp${hex},chassis=${slot},addr=0x${hex},x-speed=5`];
}

/** A PCIe root port of a run: its root-bus slot, the bus behind it, and its QEMU arguments. */
export interface RootPort {
  /** Its QEMU id, for `bus=` of the device behind it. */
  readonly id: string;
  /** Its slot on the root bus. */
  readonly slot: number;
  /** The bus number the firmware gives its secondary side. */
  readonly bus: number;
  /** The -device that creates it. */
  readonly qemuArgs: string[];
}

/** The root ports of a run, by what sits behind each (absent when the run has none of it). */
export interface RootPorts {
  nvme?: RootPort;
  ivshmem?: RootPort;
  igb?: RootPort;
  sharedGroup?: RootPort;
}

/**
 * The one allocator of root-bus slots for root ports: from nvme's slot down, skipping the slots
 * of devices on the root bus, highest first, in the order nvme, ivshmem, igb, shared group. As
 * the firmware numbers buses from the highest slot down, the n-th port handed out gets bus n, so
 * every BDF behind a port is known before the guest boots.
 */
export function rootPorts(withDefaults: boolean, layout: DeviceLayout = {}): RootPorts {
  const onRootBus = new Set(
    withDefaults
      ? defaultDevices
          .filter((d) => d.bdf.startsWith('0000:00:') && !(d.name === 'ivshmem' && layout.ivshmemRootPort))
          .map((d) => parseInt(d.bdf.slice(8, 10), 16))
      : [],
  );
  const free: number[] = [];
  for (let slot = NVME_ROOT_PORT_SLOT; slot >= 1; slot--) if (!onRootBus.has(slot)) free.push(slot);
  let handedOut = 0;
  const take = (what: string): RootPort => {
    const slot = free.shift();
    if (slot === undefined) {
      throw new VmError('options', `no root-bus slot left for the root port of ${what}: too many devices behind root ports`);
    }
    handedOut++;
    return { id: `rp${slot.toString(16)}`, slot, bus: handedOut, qemuArgs: rootPortDevice(slot) };
  };
  const ports: RootPorts = {};
  if (withDefaults) ports.nvme = take('nvme');
  if (layout.ivshmemRootPort) ports.ivshmem = take('ivshmem');
  if (layout.igb) ports.igb = take('the igb');
  if (layout.sharedGroup) ports.sharedGroup = take('the shared group');
  return ports;
}

const ivshmemBackend = (r: DeviceResources) => [
  '-object', `memory-backend-file,id=ivshmem0,share=on,mem-path=${r.ivshmemFile},size=${IVSHMEM_SIZE}`,
];

/**
 * ivshmem behind a PCIe root port of its own instead of on the root bus: alone on its bus, it
 * gets the kernel's bus reset, so VFIO_DEVICE_RESET and hot reset work on it (on the root bus it
 * has no reset at all). Same memory backend, same env name.
 */
function ivshmemBehindRootPort(d: GuestDevice, r: DeviceResources, port: RootPort): GuestDevice {
  return {
    ...d,
    bdf: busBdf(port.bus),
    qemuArgs: [...ivshmemBackend(r), ...port.qemuArgs, '-device', `ivshmem-plain,id=ivshmem,memdev=ivshmem0,bus=${port.id},addr=0x0`],
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
      // Behind a root port so a secondary bus reset (VFIO hot reset) has a bridge to act on; the
      // first port rootPorts() hands out, so its bus is 1.
      ...rootPortDevice(NVME_ROOT_PORT_SLOT),
      '-device', `nvme,id=nvme,serial=vfiovm0,drive=nvme0,bus=rp${NVME_ROOT_PORT_SLOT.toString(16)},addr=0x0`,
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
  /** The two-function pair behind a root port of its own (shared-group.ts); not bound by the guest. */
  sharedGroup?: boolean;
}

/**
 * The SR-IOV igb: a root port of its own, so its VFs (routing IDs 0x80, 0x82, … on the PF's bus:
 * slot 0x10 and up) stay off the root bus's infrastructure slots and get their own IOMMU groups
 * behind the port's ACS. Its bus is the one after the other root ports' buses.
 */
function igbDevice(port: RootPort): GuestDevice {
  return {
    name: 'igb',
    id: 'igb',
    env: 'VFIO_VM_IGB',
    bdf: busBdf(port.bus),
    driver: DEFAULT_DRIVER,
    qemuArgs: [...port.qemuArgs, '-device', `igb,id=igb,bus=${port.id},addr=0x0`],
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
  const ports = rootPorts(withDefaults, layout);
  if (ports.nvme && ports.nvme.slot !== NVME_ROOT_PORT_SLOT) throw new Error('nvme must get the first root port');
  const devices: GuestDevice[] = withDefaults
    ? defaultDevices.map((d) => {
        const g = { name: d.name, id: d.name, env: d.env, bdf: d.bdf, driver: DEFAULT_DRIVER, qemuArgs: d.qemuArgs(res) };
        return d.name === 'ivshmem' && ports.ivshmem ? ivshmemBehindRootPort(g, res, ports.ivshmem) : g;
      })
    : [];
  if (ports.igb) devices.push(igbDevice(ports.igb));
  const used = new Set(devices.map((d) => d.bdf));
  // The root ports are no VFIO devices, but their slots are taken all the same.
  for (const port of Object.values(ports) as RootPort[]) used.add(slotBdf(port.slot));
  const free = EXTRA_SLOTS.filter((s) => !used.has(slotBdf(s)));
  extra.forEach((spec, i) => {
    const { driver, props } = specProps(spec);
    if (!driver || driver.includes('=')) throw new VmError('options', `--device "${spec}": expected DRIVER[,PROP=VALUE…]`);
    if (props.has('bus')) throw new VmError('options', `--device "${spec}": bus= is not supported, devices go on the root bus`);
    let qemu = spec;
    const id = props.get('id') ?? `device-${i}`;
    if (!props.has('id')) qemu += `,id=${id}`;
    let bdf: string;
    const addr = props.get('addr');
    if (addr !== undefined) {
      bdf = slotBdf(...parseAddr(addr));
      if (parseAddr(addr)[0] >= INFRA_FIRST_SLOT) {
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
