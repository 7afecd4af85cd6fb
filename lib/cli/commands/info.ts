// `vfio info BDF`: what the kernel says about an open device (VFIO_DEVICE_GET_INFO, every region
// and IRQ index, device features) and what its config space says (header, capabilities). This
// file gathers it into plain data; info-format.ts turns the data into text.
import type { Device, DeviceIrqInfo } from '../../device/device';
import type { Region } from '../../device/region';
import * as decode from '../../decode';
import { DeviceCap, DeviceFlags, MappableArea, RegionCap } from '../../decode';
import * as sysfs from '../../system/sysfs';
import { FeatureData, supportedFeatures } from './features';
import { className, idKey, lookupPciIds } from '../pci-names';

export interface RegionData {
  readonly index: number;
  readonly name: string;
  readonly size: bigint;
  readonly offset: bigint;
  readonly flags: { readonly read: boolean; readonly write: boolean; readonly mmap: boolean; readonly caps: boolean };
  readonly caps: readonly RegionCap[];
  readonly mappableAreas: readonly MappableArea[];
  /** For BARs and the ROM: how sysfs `resource` describes it ('mem64 prefetch', 'io', …). */
  readonly resource: { readonly type: string; readonly start: bigint } | null;
}

export interface IrqData {
  readonly index: number;
  readonly name: string;
  readonly count: number;
  readonly flags: {
    readonly eventfd: boolean;
    readonly maskable: boolean;
    readonly automasked: boolean;
    readonly noresize: boolean;
  };
}

export type { FeatureData };

export interface CapData {
  readonly id: number;
  readonly name: string;
  readonly offset: number;
  /** Extended capabilities only. */
  readonly version?: number;
  /** Decoded fields for the capabilities a driver acts on (MSI, MSI-X, PCIe, PM). */
  readonly details: Record<string, unknown> | null;
}

export interface InfoData {
  readonly bdf: string;
  /** null for a device without a group (a cdev-only no-IOMMU device). */
  readonly group: number | null;
  /** The IOMMU backend the device was opened through ('type1', 'iommufd', …). */
  readonly backend: string;
  readonly driver: string | null;
  readonly ids: {
    readonly vendor: number;
    readonly device: number;
    readonly subsystemVendor: number | null;
    readonly subsystemDevice: number | null;
    readonly class: number;
    readonly revision: number;
  };
  readonly className: string;
  readonly vendorName: string | null;
  readonly deviceName: string | null;
  readonly device: {
    readonly flags: DeviceFlags;
    readonly numRegions: number;
    readonly numIrqs: number;
    readonly caps: readonly DeviceCap[];
  };
  readonly regions: readonly RegionData[];
  readonly irqs: readonly IrqData[];
  /** The device features the driver offers (PROBE answered 0). */
  readonly features: readonly FeatureData[];
  readonly config: {
    readonly size: number;
    readonly command: number;
    readonly status: number;
    readonly interruptPin: number;
    readonly capabilities: readonly CapData[];
    readonly extended: readonly CapData[];
  };
}

function resourceType(r: decode.PciResource): string {
  if (r.io) return 'io';
  return [r.mem64 ? 'mem64' : 'mem32', ...(r.prefetch ? ['prefetch'] : [])].join(' ');
}

/** A region as `info` reports it: the kernel's answer plus what sysfs says of the same BAR. */
export function regionData(r: Region, resources: readonly decode.PciResource[] = []): RegionData {
  const res = r.index <= 6 ? resources.find((x) => x.index === r.index && x.size > 0n) : undefined;
  return {
    index: r.index,
    name: r.name,
    size: r.size,
    offset: r.offset,
    flags: { ...r.flags, caps: r.info.flags.caps },
    caps: r.caps,
    mappableAreas: r.mappableAreas,
    resource: res ? { type: resourceType(res), start: res.start } : null,
  };
}

export function irqData(i: DeviceIrqInfo): IrqData {
  return { index: i.index, name: i.name, count: i.count, flags: i.flags };
}

/** Decoded fields of the capabilities worth showing; null when undecodable or not decoded. */
export function capDetails(image: Uint8Array, cap: decode.PciCapability): Record<string, unknown> | null {
  try {
    switch (cap.id) {
      case decode.PCI_CAP_ID_MSI:
        return { ...decode.decodeMsiCap(image, cap.offset) };
      case decode.PCI_CAP_ID_MSIX:
        return { ...decode.decodeMsixCap(image, cap.offset) };
      case decode.PCI_CAP_ID_EXP:
        return { ...decode.decodePcieCap(image, cap.offset) };
      case decode.PCI_CAP_ID_PM:
        return { ...decode.decodePmCap(image, cap.offset) };
      default:
        return null;
    }
  } catch {
    return null;
  }
}

/** Capability lists of a config image (what `info` shows under "Capabilities"). */
export function configData(image: Uint8Array): InfoData['config'] {
  const hdr = decode.decodeConfigHeader(image);
  let standard: decode.PciCapability[] = [];
  let extended: decode.PciExtCapability[] = [];
  // A broken list is reported as what could be walked, not as a failure of the whole command.
  try {
    standard = decode.pciCapabilities(image);
  } catch {
    /* leave empty */
  }
  try {
    extended = decode.pciExtCapabilities(image);
  } catch {
    /* leave empty */
  }
  return {
    size: image.length,
    command: hdr.command,
    status: hdr.status,
    interruptPin: hdr.interruptPin,
    capabilities: standard.map((c) => ({ id: c.id, name: c.name, offset: c.offset, details: capDetails(image, c) })),
    extended: extended.map((c) => ({ id: c.id, name: c.name, offset: c.offset, version: c.version, details: null })),
  };
}

function parseResources(bdf: string, o: sysfs.SysfsOptions): decode.PciResource[] {
  const text = sysfs.resourceText(bdf, o);
  if (text === undefined) return [];
  try {
    return decode.parseResourceFile(text);
  } catch {
    return [];
  }
}

/** Everything `vfio info` shows about an open device. */
export function gatherInfo(dev: Device, o: sysfs.SysfsOptions & { pciIds?: string[] } = {}): InfoData {
  const image = dev.config.image();
  const hdr = decode.decodeConfigHeader(image);
  const names = lookupPciIds([{ vendor: hdr.vendorId, device: hdr.deviceId }], o.pciIds).get(
    idKey(hdr.vendorId, hdr.deviceId),
  );
  const resources = parseResources(dev.bdf, o);
  return {
    bdf: dev.bdf,
    group: dev.group ?? null,
    backend: dev.backend,
    driver: sysfs.driverOf(dev.bdf, o) ?? null,
    ids: {
      vendor: hdr.vendorId,
      device: hdr.deviceId,
      subsystemVendor: hdr.subsystemVendorId,
      subsystemDevice: hdr.subsystemId,
      class: hdr.classCode,
      revision: hdr.revision,
    },
    className: className(hdr.classCode),
    vendorName: names?.vendor ?? null,
    deviceName: names?.device ?? null,
    device: { flags: dev.info.flags, numRegions: dev.info.numRegions, numIrqs: dev.info.numIrqs, caps: dev.info.caps },
    regions: dev.regions.map((r) => regionData(r, resources)),
    irqs: dev.irqs.map(irqData),
    features: supportedFeatures(dev),
    config: configData(image),
  };
}
