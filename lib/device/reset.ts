// Device resets: VFIO_DEVICE_RESET (function-level: FLR, PM or a bus reset that hits only this
// device) and the PCI hot reset of a whole slot or bus, which needs every affected group.
//
// What a reset does to what we hold (decided, and checked by the guest tests):
// - BAR mappings stay valid. vfio-pci zaps their page tables for the duration of the reset and
//   faults them back in on the next access, so the same Mapping reads the device's reset values.
// - DMA mappings stay valid: they live in the IOMMU, which a device reset does not touch.
// - Config space (command register, bus mastering included) is saved and restored by the PCI
//   core around the reset; the device's own registers return to their reset values.
// So nothing is closed or remapped; the device emits 'reset' so a driver can re-initialise.
import { HOT_RESET_INFO_SIZE, HotResetInfo, decodeHotResetInfo, hotResetInfoRequiredSize } from '../decode';
import { PermissionError, VfioError, check, errnoError, errnoName, notSupported } from '../errors';
import { native } from '../addon/native';

/** What resets need from a device (Device satisfies it). */
export interface ResetTarget {
  readonly bdf: string;
  readonly info: { readonly flags: { readonly reset: boolean } };
  fd(op: string): number;
  readonly iommu: { groupFds(): Map<number, number> };
  emit(event: 'reset', kind: ResetKind): boolean;
}

/** Which reset completed: `'function'` (VFIO_DEVICE_RESET) or `'hot'` (VFIO_DEVICE_PCI_HOT_RESET, the bus or slot). */
export type ResetKind = 'function' | 'hot';

/** VFIO_DEVICE_RESET on the thread pool; refused up front when the device advertises no reset. */
export async function resetDevice(dev: ResetTarget): Promise<void> {
  const op = 'Device.reset';
  const fd = dev.fd(op);
  if (!dev.info.flags.reset) {
    throw notSupported(op, `${dev.bdf} advertises no reset (VFIO_DEVICE_FLAGS_RESET is clear)`, {
      device: dev.bdf,
      hint:
        'the device has no FLR, PM reset or bus reset of its own; if hotResetInfo() lists only groups ' +
        'this process holds, hotReset() resets the whole slot or bus instead',
    });
  }
  check(await native().VFIO_DEVICE_RESET(fd), 'VFIO_DEVICE_RESET', { device: dev.bdf });
  dev.emit('reset', 'function');
}

const NO_BUS_RESET_HINT =
  'no slot or bus reset reaches this device: it sits on a root bus with no bridge ' +
  'above it (or the bridge cannot reset its bus); reset() is the only reset there';

/** VFIO_DEVICE_GET_PCI_HOT_RESET_INFO: the devices (and their groups) a hot reset would hit. */
export function hotResetInfo(dev: ResetTarget): HotResetInfo {
  const op = 'VFIO_DEVICE_GET_PCI_HOT_RESET_INFO';
  const fd = dev.fd('Device.hotResetInfo');
  let buf = new Uint8Array(HOT_RESET_INFO_SIZE);
  // The kernel answers a short buffer with ENOSPC and the count it needs; the device list can
  // change between calls (hotplug), hence a few tries.
  for (let attempt = 0; attempt < 4; attempt++) {
    const r = native().VFIO_DEVICE_GET_PCI_HOT_RESET_INFO(fd, buf);
    if (r >= 0) return decodeHotResetInfo(buf);
    if (errnoName(-r) !== 'ENOSPC') {
      throw errnoError(-r, op, { device: dev.bdf, hint: errnoName(-r) === 'ENODEV' ? NO_BUS_RESET_HINT : undefined });
    }
    buf = new Uint8Array(hotResetInfoRequiredSize(buf));
  }
  throw new VfioError({
    code: 'ENOSPC',
    op,
    device: dev.bdf,
    message: `${op}: the list of affected devices kept growing`,
  });
}

/**
 * VFIO_DEVICE_PCI_HOT_RESET. A device opened through a group proves with the group fds this
 * process holds that it owns every device the reset hits (each must be in a group open in this
 * device's IOMMU context; otherwise the error names the groups that are missing). A device
 * opened through its cdev passes no fds: the kernel checks ownership through the iommufd.
 */
export async function hotReset(dev: ResetTarget): Promise<void> {
  const op = 'Device.hotReset';
  const info = hotResetInfo(dev);
  const fds = info.devIdForm ? devIdProof(dev, info, op) : groupProof(dev, info, op);
  const r = await native().VFIO_DEVICE_PCI_HOT_RESET(dev.fd(op), fds);
  if (r < 0) {
    throw errnoError(-r, 'VFIO_DEVICE_PCI_HOT_RESET', {
      device: dev.bdf,
      // The kernel reports a reset whose link never came back (or a device that stayed
      // unready) as ENOTTY, and says which in its log.
      hint:
        errnoName(-r) === 'ENOTTY'
          ? 'the slot or bus reset did not complete: the kernel log (dmesg) says why, e.g. ' +
            '"Data Link Layer Link Active not set" when the bridge never reported the link back up'
          : undefined,
    });
  }
  dev.emit('reset', 'hot');
}

function groupProof(dev: ResetTarget, info: HotResetInfo, op: string): Int32Array {
  const held = dev.iommu.groupFds();
  const needed = [...new Set(info.devices.map((d) => d.groupId).filter((g): g is number => g !== null))];
  const missing = needed.filter((g) => !held.has(g));
  if (missing.length) {
    const who = info.devices
      .filter((d) => d.groupId !== null && missing.includes(d.groupId))
      .map((d) => `${d.bdf} (group ${d.groupId})`);
    throw new PermissionError({
      code: 'EPERM',
      op,
      device: dev.bdf,
      message: `${op}: the reset would also hit ${who.join(', ')}, whose IOMMU group(s) this process does not hold`,
      hint: `open a device of each of those groups in the same IOMMU context (Device.open(bdf, { iommu: dev.iommu })), then retry`,
    });
  }
  return Int32Array.from(needed.map((g) => held.get(g) ?? -1));
}

/** The cdev form: every affected device must be owned through this device's iommufd (or its group). */
function devIdProof(dev: ResetTarget, info: HotResetInfo, op: string): Int32Array {
  if (!info.allOwned) {
    const who = info.devices.filter((d) => d.owned === false).map((d) => d.bdf);
    throw new PermissionError({
      code: 'EPERM',
      op,
      device: dev.bdf,
      message: `${op}: the reset would also hit ${who.join(', ') || 'devices'} not bound to this device's iommufd`,
      hint: 'open each of them in the same IOMMU context (Device.open(bdf, { iommu: dev.iommu })), then retry',
    });
  }
  return new Int32Array(0);
}
