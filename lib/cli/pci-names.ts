// Names for PCI class codes (built in: the PCI Code and ID Assignment specification is short and
// stable) and, when the pci.ids database is installed, for vendors and devices as lspci shows them.
import * as fs from 'fs';

interface ClassEntry {
  readonly name: string;
  readonly sub: Readonly<Record<number, string>>;
}

const CLASSES: Readonly<Record<number, ClassEntry>> = {
  0x00: {
    name: 'Unclassified device',
    sub: { 0x00: 'Non-VGA unclassified device', 0x01: 'VGA compatible unclassified device' },
  },
  0x01: {
    name: 'Mass storage controller',
    sub: {
      0x00: 'SCSI storage controller',
      0x01: 'IDE interface',
      0x02: 'Floppy disk controller',
      0x03: 'IPI bus controller',
      0x04: 'RAID bus controller',
      0x05: 'ATA controller',
      0x06: 'SATA controller',
      0x07: 'Serial Attached SCSI controller',
      0x08: 'Non-Volatile memory controller',
      0x09: 'Universal Flash Storage controller',
    },
  },
  0x02: {
    name: 'Network controller',
    sub: {
      0x00: 'Ethernet controller',
      0x01: 'Token ring network controller',
      0x02: 'FDDI network controller',
      0x03: 'ATM network controller',
      0x04: 'ISDN controller',
      0x07: 'Infiniband controller',
      0x08: 'Fabric controller',
    },
  },
  0x03: {
    name: 'Display controller',
    sub: { 0x00: 'VGA compatible controller', 0x01: 'XGA compatible controller', 0x02: '3D controller' },
  },
  0x04: {
    name: 'Multimedia controller',
    sub: { 0x00: 'Multimedia video controller', 0x01: 'Multimedia audio controller', 0x03: 'Audio device' },
  },
  0x05: { name: 'Memory controller', sub: { 0x00: 'RAM memory', 0x01: 'FLASH memory', 0x02: 'CXL' } },
  0x06: {
    name: 'Bridge',
    sub: {
      0x00: 'Host bridge',
      0x01: 'ISA bridge',
      0x02: 'EISA bridge',
      0x04: 'PCI bridge',
      0x05: 'PCMCIA bridge',
      0x07: 'CardBus bridge',
      0x09: 'Semi-transparent PCI-to-PCI bridge',
    },
  },
  0x07: {
    name: 'Communication controller',
    sub: { 0x00: 'Serial controller', 0x01: 'Parallel controller', 0x02: 'Multiport serial controller', 0x03: 'Modem' },
  },
  0x08: {
    name: 'Generic system peripheral',
    sub: {
      0x00: 'PIC',
      0x01: 'DMA controller',
      0x02: 'Timer',
      0x03: 'RTC',
      0x04: 'PCI Hot-plug controller',
      0x05: 'SD Host controller',
      0x06: 'IOMMU',
    },
  },
  0x09: { name: 'Input device controller', sub: {} },
  0x0a: { name: 'Docking station', sub: {} },
  0x0b: { name: 'Processor', sub: {} },
  0x0c: {
    name: 'Serial bus controller',
    sub: {
      0x00: 'FireWire (IEEE 1394)',
      0x03: 'USB controller',
      0x04: 'Fibre Channel',
      0x05: 'SMBus',
      0x06: 'InfiniBand',
      0x07: 'IPMI Interface',
    },
  },
  0x0d: { name: 'Wireless controller', sub: {} },
  0x0e: { name: 'Intelligent controller', sub: {} },
  0x0f: { name: 'Satellite communications controller', sub: {} },
  0x10: { name: 'Encryption controller', sub: {} },
  0x11: { name: 'Signal processing controller', sub: {} },
  0x12: { name: 'Processing accelerators', sub: {} },
  0x13: { name: 'Non-Essential Instrumentation', sub: {} },
  0x40: { name: 'Coprocessor', sub: {} },
  0xff: { name: 'Unassigned class', sub: {} },
};

/** 'Non-Volatile memory controller' for 0x010802; the base class name when the subclass is unknown. */
export function className(classCode: number): string {
  const base = (classCode >>> 16) & 0xff;
  const sub = (classCode >>> 8) & 0xff;
  const e = CLASSES[base];
  if (!e) return `Class ${base.toString(16).padStart(2, '0')}${sub.toString(16).padStart(2, '0')}`;
  return e.sub[sub] ?? e.name;
}

/** PCI-to-PCI and host bridges route traffic; they are never assigned to a userspace driver. */
export function isBridge(classCode: number): boolean {
  return classCode >>> 16 === 0x06;
}

export interface IdNames {
  readonly vendor?: string;
  readonly device?: string;
}

/** Where distributions install pci.ids (pciutils, hwdata). */
export const PCI_IDS_PATHS = ['/usr/share/misc/pci.ids', '/usr/share/hwdata/pci.ids', '/usr/share/pci.ids'];

/**
 * Vendor and device names from pci.ids text for the requested id pairs, in one pass. The format:
 * vendor lines start at column 0 ('8086  Intel Corporation'), their devices follow indented by
 * one tab, subsystems by two; the class section starts with 'C '.
 */
export function parsePciIds(text: string, wanted: readonly { vendor: number; device: number }[]): Map<string, IdNames> {
  const want = new Map<number, Set<number>>();
  for (const w of wanted) {
    const devices = want.get(w.vendor) ?? new Set<number>();
    devices.add(w.device);
    want.set(w.vendor, devices);
  }
  const out = new Map<string, IdNames>();
  // The wanted devices of the vendor whose section the loop is in (undefined: not a wanted vendor).
  let vendor: number | undefined;
  let devices: Set<number> | undefined;
  let vendorName = '';
  for (const line of text.split('\n')) {
    if (line.startsWith('C ')) break;
    if (line === '' || line.startsWith('#')) continue;
    if (line[0] !== '\t') {
      const v = parseInt(line.slice(0, 4), 16);
      devices = want.get(v);
      vendor = devices ? v : undefined;
      vendorName = line.slice(4).trim();
      if (devices) for (const d of devices) out.set(idKey(v, d), { vendor: vendorName });
      continue;
    }
    if (vendor === undefined || devices === undefined || line[1] === '\t') continue;
    const d = parseInt(line.slice(1, 5), 16);
    if (devices.has(d)) out.set(idKey(vendor, d), { vendor: vendorName, device: line.slice(5).trim() });
  }
  return out;
}

export function idKey(vendor: number, device: number): string {
  return `${vendor.toString(16).padStart(4, '0')}:${device.toString(16).padStart(4, '0')}`;
}

/** Names for these ids from the first pci.ids found; an empty map when none is installed. */
export function lookupPciIds(
  wanted: readonly { vendor: number; device: number }[],
  paths = PCI_IDS_PATHS,
): Map<string, IdNames> {
  for (const p of paths) {
    let text: string;
    try {
      text = fs.readFileSync(p, 'utf8');
    } catch {
      continue;
    }
    return parsePciIds(text, wanted);
  }
  return new Map();
}
