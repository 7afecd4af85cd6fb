// Pure parsers for text found under /sys/bus/pci/devices: PCI addresses and the `resource` file.
// Reading the files is the caller's job; these functions only interpret text.
import { DecodeError } from './errors';

/** A PCI address, parsed. */
export interface Bdf {
  /** PCI domain (segment), up to 32 bits. */
  readonly domain: number;
  /** Bus number, 0-255. */
  readonly bus: number;
  /** Device (slot) number, 0-31. */
  readonly device: number;
  /** Function number, 0-7. */
  readonly func: number;
  /** Normalised 'dddd:bb:dd.f' (lower-case hex, domain at least 4 digits), as sysfs names it. */
  readonly bdf: string;
}

function hex(n: number, width: number): string {
  return n.toString(16).padStart(width, '0');
}

/** 'dddd:bb:dd.f' from its parts (devfn split into slot and function). */
export function formatBdf(domain: number, bus: number, device: number, func: number): string {
  return `${hex(domain, 4)}:${hex(bus, 2)}:${hex(device, 2)}.${func.toString(16)}`;
}

// Domains above 0xffff exist (e.g. Intel VMD uses 0x10000+), so up to 8 domain digits are accepted.
const BDF_RE = /^(?:([0-9a-f]{1,8}):)?([0-9a-f]{2}):([0-9a-f]{2})\.([0-7])$/i;

/** Parses 'bb:dd.f' or 'dddd:bb:dd.f' (surrounding whitespace ignored); throws DecodeError on junk. */
export function parseBdf(text: string): Bdf {
  const m = BDF_RE.exec(text.trim());
  if (!m) throw new DecodeError('pci address', -1, `'${text}' is not a PCI address like 0000:00:03.0`);
  const domain = m[1] === undefined ? 0 : parseInt(m[1], 16);
  const bus = parseInt(m[2], 16);
  const device = parseInt(m[3], 16);
  const func = parseInt(m[4], 16);
  if (device > 0x1f)
    throw new DecodeError('pci address', -1, `'${text}': device number 0x${hex(device, 2)} is above 0x1f`);
  return { domain, bus, device, func, bdf: formatBdf(domain, bus, device, func) };
}

/** The normalised 'dddd:bb:dd.f' form of a PCI address. */
export function normalizeBdf(text: string): string {
  return parseBdf(text).bdf;
}

/** True when the text parses as a PCI address. */
export function isBdf(text: string): boolean {
  try {
    parseBdf(text);
    return true;
  } catch {
    return false;
  }
}

// struct resource flag bits (include/linux/ioport.h) that describe a BAR.
/** struct resource flag: an I/O port range. */
export const IORESOURCE_IO = 0x100;
/** struct resource flag: a memory range. */
export const IORESOURCE_MEM = 0x200;
/** struct resource flag: prefetchable memory. */
export const IORESOURCE_PREFETCH = 0x2000;
/** struct resource flag: a 64-bit memory BAR. */
export const IORESOURCE_MEM_64 = 0x100000;

/** One line of a device's sysfs `resource` file. */
export interface PciResource {
  /** 0-5 for BARs, 6 for the expansion ROM. */
  readonly index: number;
  /** Its name: 'BAR0'…'BAR5' or 'ROM' (bridge windows after the ROM line are not parsed). */
  readonly name: string;
  /** First address. */
  readonly start: bigint;
  /** Inclusive end address, as the kernel prints it. */
  readonly end: bigint;
  /** 0n for an unused resource. */
  readonly size: bigint;
  /** The struct resource flags as printed. */
  readonly flags: number;
  /** An I/O port range. */
  readonly io: boolean;
  /** A memory range. */
  readonly mem: boolean;
  /** Prefetchable. */
  readonly prefetch: boolean;
  /** A 64-bit BAR. */
  readonly mem64: boolean;
}

const RESOURCE_NAMES = ['BAR0', 'BAR1', 'BAR2', 'BAR3', 'BAR4', 'BAR5', 'ROM'];
const LINE_RE = /^0x([0-9a-f]{1,16})\s+0x([0-9a-f]{1,16})\s+0x([0-9a-f]{1,16})$/i;

function resourceLine(line: string, index: number): PciResource {
  const m = LINE_RE.exec(line.trim());
  if (!m) throw new DecodeError('pci resource file', index, `line ${index + 1} is not 'start end flags': '${line}'`);
  const start = BigInt(`0x${m[1]}`);
  const end = BigInt(`0x${m[2]}`);
  // Flags above bit 31 are not BAR attributes; the low word carries everything decoded here.
  const flags = Number(BigInt(`0x${m[3]}`) & 0xffffffffn);
  if (end < start) throw new DecodeError('pci resource file', index, `line ${index + 1} ends before it starts`);
  const used = !(start === 0n && end === 0n);
  return {
    index,
    name: RESOURCE_NAMES[index],
    start,
    end,
    size: used ? end - start + 1n : 0n,
    flags,
    io: (flags & IORESOURCE_IO) !== 0,
    mem: (flags & IORESOURCE_MEM) !== 0,
    prefetch: (flags & IORESOURCE_PREFETCH) !== 0,
    mem64: (flags & IORESOURCE_MEM_64) !== 0,
  };
}

/**
 * Parses a device's sysfs `resource` file into BAR0-5 and ROM. Later lines (SR-IOV VF BARs,
 * bridge windows) are not BARs of this function and are ignored.
 */
export function parseResourceFile(text: string): PciResource[] {
  const lines = text.split('\n').filter((l) => l.trim() !== '');
  if (lines.length < RESOURCE_NAMES.length) {
    throw new DecodeError(
      'pci resource file',
      lines.length,
      `${lines.length} lines, expected at least ${RESOURCE_NAMES.length} (BAR0-5 and ROM)`,
    );
  }
  return lines.slice(0, RESOURCE_NAMES.length).map(resourceLine);
}
