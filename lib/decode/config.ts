// The PCI configuration header, from an image of config space read through the CONFIG region
// (64 bytes: the header; 256: conventional space; 4096: PCIe extended space).
import { u16, u32, u8 } from './bytes';
import { DecodeError } from './errors';

/** Command register bit 0: I/O space decoding. */
export const PCI_COMMAND_IO = 0x1;
/** Command register bit 1: memory space decoding. */
export const PCI_COMMAND_MEMORY = 0x2;
/** Command register bit 2: bus master (the device may DMA). */
export const PCI_COMMAND_MASTER = 0x4;
/** Command register bit 10: INTx disabled. */
export const PCI_COMMAND_INTX_DISABLE = 0x400;
/** Status register bit 3: the device asserts INTx. */
export const PCI_STATUS_INTERRUPT = 0x8;
/** Status register bit 4: a capability list is present (at the pointer 0x34). */
export const PCI_STATUS_CAP_LIST = 0x10;

const OP = 'pci config header';

/** One decoded base address register of a config header. */
export interface PciBar {
  /** BAR number (0-5 for an endpoint, 0-1 for a bridge). */
  readonly index: number;
  /** The register as read, flag bits included. */
  readonly raw: number;
  /** An I/O space BAR (bit 0 set). */
  readonly io: boolean;
  /** A 64-bit memory BAR; the next register holds its upper half. */
  readonly mem64: boolean;
  /** A prefetchable memory BAR. */
  readonly prefetchable: boolean;
  /** Base address (flag bits cleared; upper half merged for 64-bit BARs). */
  readonly address: bigint;
}

/** The PCI configuration header (the first 64 bytes of config space), decoded. */
export interface ConfigHeader {
  /** Vendor ID (offset 0x00, 16 bits). */
  readonly vendorId: number;
  /** Device ID (0x02, 16 bits). */
  readonly deviceId: number;
  /** Command register (0x04, 16 bits). */
  readonly command: number;
  /** Status register (0x06, 16 bits). */
  readonly status: number;
  /** Revision ID (0x08, 8 bits). */
  readonly revision: number;
  /** 24-bit class code: base class << 16 | subclass << 8 | programming interface. */
  readonly classCode: number;
  /** Cache line size in 32-bit words (0x0c). */
  readonly cacheLineSize: number;
  /** Latency timer (0x0d). */
  readonly latencyTimer: number;
  /** Layout type (0 endpoint, 1 PCI bridge, 2 CardBus), multi-function bit removed. */
  readonly headerType: number;
  /** The header type's multi-function bit (bit 7). */
  readonly multiFunction: boolean;
  /** Raw BAR registers: six for type 0, two for a bridge, none for CardBus. */
  readonly barRaw: readonly number[];
  /** Decoded BARs; the upper half of a 64-bit BAR is not listed as a BAR of its own. */
  readonly bars: readonly PciBar[];
  /** Type 0 only. */
  readonly subsystemVendorId: number | null;
  /** Subsystem ID (0x2e); type 0 only. */
  readonly subsystemId: number | null;
  /** The expansion ROM BAR register as read (0x30); type 0 only. */
  readonly romRaw: number | null;
  /** Pointer to the first standard capability (0x34), meaningful when status has CAP_LIST. */
  readonly capPointer: number;
  /** Interrupt line (0x3c): the IRQ routing value firmware wrote; not used by VFIO. */
  readonly interruptLine: number;
  /** 0 = no INTx pin, 1-4 = INTA#-INTD#. */
  readonly interruptPin: number;
}

/** Throws unless `image` is a config space image of a size VFIO can return. */
export function requireConfigImage(image: Uint8Array, op = OP): void {
  if (image.length < 64)
    throw new DecodeError(op, 0, `config image of ${image.length} bytes is smaller than the 64-byte header`);
}

function barCount(headerType: number): number {
  return headerType === 0 ? 6 : headerType === 1 ? 2 : 0;
}

/** Decodes the BAR registers, pairing the two halves of 64-bit BARs. */
export function decodeBars(raw: readonly number[]): PciBar[] {
  const bars: PciBar[] = [];
  for (let i = 0; i < raw.length; i++) {
    const r = raw[i];
    if (r & 1) {
      bars.push({ index: i, raw: r, io: true, mem64: false, prefetchable: false, address: BigInt((r & ~0x3) >>> 0) });
      continue;
    }
    const mem64 = ((r >> 1) & 3) === 2;
    const low = BigInt((r & ~0xf) >>> 0);
    const high = mem64 && i + 1 < raw.length ? BigInt(raw[i + 1] >>> 0) : 0n;
    bars.push({ index: i, raw: r, io: false, mem64, prefetchable: (r & 0x8) !== 0, address: (high << 32n) | low });
    if (mem64) i++;
  }
  return bars;
}

/** Decodes the header of a config image. */
export function decodeConfigHeader(image: Uint8Array): ConfigHeader {
  requireConfigImage(image);
  const rawType = u8(image, 0x0e, OP);
  const headerType = rawType & 0x7f;
  const barRaw: number[] = [];
  for (let i = 0; i < barCount(headerType); i++) barRaw.push(u32(image, 0x10 + i * 4, OP));
  const type0 = headerType === 0;
  return {
    vendorId: u16(image, 0x00, OP),
    deviceId: u16(image, 0x02, OP),
    command: u16(image, 0x04, OP),
    status: u16(image, 0x06, OP),
    revision: u8(image, 0x08, OP),
    classCode: u32(image, 0x08, OP) >>> 8,
    cacheLineSize: u8(image, 0x0c, OP),
    latencyTimer: u8(image, 0x0d, OP),
    headerType,
    multiFunction: (rawType & 0x80) !== 0,
    barRaw,
    bars: decodeBars(barRaw),
    subsystemVendorId: type0 ? u16(image, 0x2c, OP) : null,
    subsystemId: type0 ? u16(image, 0x2e, OP) : null,
    romRaw: type0 ? u32(image, 0x30, OP) : headerType === 1 ? u32(image, 0x38, OP) : null,
    capPointer: u8(image, 0x34, OP),
    interruptLine: u8(image, 0x3c, OP),
    interruptPin: u8(image, 0x3d, OP),
  };
}

/** 'vvvv:dddd' as lspci -n prints it. */
export function pciIdString(h: Pick<ConfigHeader, 'vendorId' | 'deviceId'>): string {
  return `${h.vendorId.toString(16).padStart(4, '0')}:${h.deviceId.toString(16).padStart(4, '0')}`;
}
