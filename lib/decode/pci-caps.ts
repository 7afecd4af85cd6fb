// Walkers for the PCI standard capability list (from 0x34) and the PCIe extended capability
// list (from 0x100) in a config space image. Both lists are linked by "next" pointers read from
// the device, so both walkers refuse loops and pointers outside the image instead of trusting them.
import { u16, u32, u8 } from './bytes';
import { PCI_STATUS_CAP_LIST, requireConfigImage } from './config';
import { DecodeError } from './errors';

/** Standard capability id: power management. */
export const PCI_CAP_ID_PM = 0x01;
/** Standard capability id: MSI. */
export const PCI_CAP_ID_MSI = 0x05;
/** Standard capability id: vendor-specific. */
export const PCI_CAP_ID_VNDR = 0x09;
/** Standard capability id: PCI Express. */
export const PCI_CAP_ID_EXP = 0x10;
/** Standard capability id: MSI-X. */
export const PCI_CAP_ID_MSIX = 0x11;

/** Extended capability id: advanced error reporting. */
export const PCI_EXT_CAP_ID_ERR = 0x01;
/** Extended capability id: SR-IOV. */
export const PCI_EXT_CAP_ID_SRIOV = 0x10;
/** Extended capability id: address translation services. */
export const PCI_EXT_CAP_ID_ATS = 0x0f;
/** Extended capability id: PASID. */
export const PCI_EXT_CAP_ID_PASID = 0x1b;

const STD_NAMES: Readonly<Record<number, string>> = {
  0x01: 'PM',
  0x02: 'AGP',
  0x03: 'VPD',
  0x04: 'SlotID',
  0x05: 'MSI',
  0x06: 'CompactPCI-HotSwap',
  0x07: 'PCI-X',
  0x08: 'HyperTransport',
  0x09: 'Vendor',
  0x0a: 'DebugPort',
  0x0b: 'CompactPCI-CRC',
  0x0c: 'SHPC',
  0x0d: 'SSVID',
  0x0e: 'AGP3',
  0x0f: 'SecureDevice',
  0x10: 'PCIe',
  0x11: 'MSI-X',
  0x12: 'SATA',
  0x13: 'AF',
  0x14: 'EA',
};

const EXT_NAMES: Readonly<Record<number, string>> = {
  0x01: 'AER',
  0x02: 'VC',
  0x03: 'DSN',
  0x04: 'PowerBudget',
  0x05: 'RCLD',
  0x06: 'RCILC',
  0x07: 'RCEC',
  0x08: 'MFVC',
  0x09: 'VC9',
  0x0a: 'RCRB',
  0x0b: 'Vendor',
  0x0c: 'CAC',
  0x0d: 'ACS',
  0x0e: 'ARI',
  0x0f: 'ATS',
  0x10: 'SR-IOV',
  0x11: 'MR-IOV',
  0x12: 'Multicast',
  0x13: 'PRI',
  0x15: 'ReBAR',
  0x16: 'DPA',
  0x17: 'TPH',
  0x18: 'LTR',
  0x19: 'SecondaryPCIe',
  0x1a: 'PMUX',
  0x1b: 'PASID',
  0x1d: 'DPC',
  0x1e: 'L1SS',
  0x1f: 'PTM',
  0x23: 'DVSEC',
  0x24: 'VF-ReBAR',
  0x25: 'DLF',
  0x26: 'PL-16GT',
  0x29: 'NPEM',
  0x2a: 'PL-32GT',
  0x2e: 'DOE',
  0x2f: 'Device3',
  0x30: 'IDE',
  0x31: 'PL-64GT',
};

/** 'MSI-X', 'PCIe', … for a standard capability id, else `cap<0xNN>`. */
export function pciCapName(id: number): string {
  return STD_NAMES[id] ?? `cap0x${id.toString(16).padStart(2, '0')}`;
}

/** 'AER', 'SR-IOV', 'PASID', … for an extended capability id, else `ecap<0xNNNN>`. */
export function pciExtCapName(id: number): string {
  return EXT_NAMES[id] ?? `ecap0x${id.toString(16).padStart(4, '0')}`;
}

/** A standard capability found in config space. */
export interface PciCapability {
  /** Capability id (8 bits standard, 16 bits extended). */
  readonly id: number;
  /** Its name ('MSI-X', 'PCIe', …), or `cap0xNN` / `ecap0xNNNN` for ids without one. */
  readonly name: string;
  /** Offset of the capability in config space. */
  readonly offset: number;
}

/** An extended (PCIe) capability found from offset 0x100 on. */
export interface PciExtCapability extends PciCapability {
  /** Capability version (4 bits). */
  readonly version: number;
}

// Standard caps live above the 64-byte header; a list cannot hold more than (256-64)/4 entries.
const STD_FIRST = 0x40;
const STD_END = 0x100;
const EXT_FIRST = 0x100;
const EXT_END = 0x1000;

/**
 * The standard capability list. Empty when the status register lacks CAP_LIST. Pointers have
 * their two low bits masked, as the PCI spec reserves them; a pointer into the header, past the
 * image or back to a visited cap is a DecodeError.
 */
export function pciCapabilities(image: Uint8Array): PciCapability[] {
  const op = 'pci capability list';
  requireConfigImage(image, op);
  if ((u16(image, 0x06, op) & PCI_STATUS_CAP_LIST) === 0) return [];
  const caps: PciCapability[] = [];
  const seen = new Set<number>();
  for (let ptr = u8(image, 0x34, op) & 0xfc; ptr !== 0;) {
    if (ptr < STD_FIRST || ptr >= STD_END) throw new DecodeError(op, ptr, 'capability pointer outside 0x40-0xff');
    if (ptr + 2 > image.length)
      throw new DecodeError(op, ptr, `capability pointer beyond the ${image.length}-byte image`);
    if (seen.has(ptr)) throw new DecodeError(op, ptr, 'capability list loops back on itself');
    seen.add(ptr);
    const id = u8(image, ptr, op);
    caps.push({ id, name: pciCapName(id), offset: ptr });
    ptr = u8(image, ptr + 1, op) & 0xfc;
  }
  return caps;
}

/**
 * The PCIe extended capability list. Empty when the image stops at 256 bytes (conventional
 * device, or extended space not read) or the first header is 0 or all-ones (none present).
 */
export function pciExtCapabilities(image: Uint8Array): PciExtCapability[] {
  const op = 'pci extended capability list';
  if (image.length < EXT_END) return [];
  const first = u32(image, EXT_FIRST, op);
  if (first === 0 || first === 0xffffffff) return [];
  const caps: PciExtCapability[] = [];
  const seen = new Set<number>();
  for (let ptr = EXT_FIRST; ptr !== 0;) {
    if (ptr < EXT_FIRST || ptr + 4 > EXT_END) throw new DecodeError(op, ptr, 'capability pointer outside 0x100-0xfff');
    if (seen.has(ptr)) throw new DecodeError(op, ptr, 'capability list loops back on itself');
    seen.add(ptr);
    const header = u32(image, ptr, op);
    const id = header & 0xffff;
    caps.push({ id, name: pciExtCapName(id), version: (header >>> 16) & 0xf, offset: ptr });
    ptr = (header >>> 20) & 0xffc;
  }
  return caps;
}

/** The first standard cap with `id`, if any. */
export function findPciCap(image: Uint8Array, id: number): PciCapability | undefined {
  return pciCapabilities(image).find((c) => c.id === id);
}

/** The first extended cap with `id`, if any. */
export function findPciExtCap(image: Uint8Array, id: number): PciExtCapability | undefined {
  return pciExtCapabilities(image).find((c) => c.id === id);
}
