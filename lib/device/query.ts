// The device's info, regions and IRQ info, read once at open (the device's getters are then
// cheap and synchronous).
import { pciIrqIndexName } from '../abi';
import { DeviceInfo, IRQ_INFO_SIZE, decodeDeviceInfo, decodeIrqInfo, decodeRegionInfo } from '../decode';
import { errnoError, errnoName } from '../errors';
import type { DeviceIrqInfo } from '../irq/backend';
import { InfoBuffer } from '../addon/info-buffer';
import { native } from '../addon/native';
import { Region, RegionHost } from './region';

export function queryDeviceInfo(fd: number, bdf: string, infoBuffer: InfoBuffer): DeviceInfo {
  const r = infoBuffer.query((b) => native().VFIO_DEVICE_GET_INFO(fd, b));
  if (typeof r === 'number') throw errnoError(-r, 'VFIO_DEVICE_GET_INFO', { device: bdf });
  return decodeDeviceInfo(r);
}

export function queryRegions(
  fd: number,
  bdf: string,
  numRegions: number,
  infoBuffer: InfoBuffer,
  host: RegionHost,
): Region[] {
  const out: Region[] = [];
  for (let i = 0; i < numRegions; i++) {
    const r = infoBuffer.query((b) => native().VFIO_DEVICE_GET_REGION_INFO(fd, i, b));
    if (typeof r === 'number') {
      // The kernel refuses indexes a device does not implement (VGA on a non-VGA device).
      if (errnoName(-r) === 'EINVAL') continue;
      throw errnoError(-r, 'VFIO_DEVICE_GET_REGION_INFO', { device: bdf, detail: `region ${i}` });
    }
    out.push(new Region(decodeRegionInfo(r), host));
  }
  return out;
}

export function queryIrqs(fd: number, bdf: string, info: DeviceInfo): DeviceIrqInfo[] {
  const out: DeviceIrqInfo[] = [];
  for (let i = 0; i < info.numIrqs; i++) {
    const buf = new Uint8Array(IRQ_INFO_SIZE);
    const r = native().VFIO_DEVICE_GET_IRQ_INFO(fd, i, buf);
    if (r < 0) {
      if (errnoName(-r) === 'EINVAL') continue;
      throw errnoError(-r, 'VFIO_DEVICE_GET_IRQ_INFO', { device: bdf, detail: `irq index ${i}` });
    }
    const decoded = decodeIrqInfo(buf);
    out.push({ ...decoded, name: info.flags.pci ? pciIrqIndexName(i) : `IRQ${i}` });
  }
  return out;
}
