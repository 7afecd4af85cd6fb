// Field decoders for the PCI capabilities a userspace driver acts on: MSI-X (where the vector
// table and PBA live, which the sparse-mmap layout of a BAR works around), MSI, PCIe and PM.
// Each takes the config image and the capability's offset (from pciCapabilities).
import { u16, u32 } from './bytes';
import { DecodeError } from './errors';

function requireSpan(image: Uint8Array, offset: number, size: number, op: string): void {
  if (offset + size > image.length) {
    throw new DecodeError(op, offset, `${size}-byte capability runs past the ${image.length}-byte image`);
  }
}

/** The MSI-X capability, decoded. */
export interface MsixCap {
  /** Number of vectors (the encoded N-1 plus one). */
  readonly tableSize: number;
  /** MSI-X Enable. */
  readonly enabled: boolean;
  /** Function Mask: every vector masked. */
  readonly functionMasked: boolean;
  /** BAR index (BIR) holding the vector table, and the table's offset within it. */
  readonly tableBar: number;
  /** Byte offset of the vector table within its BAR. */
  readonly tableOffset: number;
  /** BAR index holding the pending bit array. */
  readonly pbaBar: number;
  /** Byte offset of the pending bit array within its BAR. */
  readonly pbaOffset: number;
}

/** Bytes per MSI-X table entry (address lo/hi, data, vector control). */
export const MSIX_ENTRY_SIZE = 16;

/** Decodes the MSI-X capability at `offset` of a config image; {@link DecodeError} when it does not fit. */
export function decodeMsixCap(image: Uint8Array, offset: number): MsixCap {
  const op = 'pci config: MSI-X cap';
  requireSpan(image, offset, 12, op);
  const ctrl = u16(image, offset + 2, op);
  const table = u32(image, offset + 4, op);
  const pba = u32(image, offset + 8, op);
  return {
    tableSize: (ctrl & 0x7ff) + 1,
    enabled: (ctrl & 0x8000) !== 0,
    functionMasked: (ctrl & 0x4000) !== 0,
    tableBar: table & 0x7,
    tableOffset: (table & ~0x7) >>> 0,
    pbaBar: pba & 0x7,
    pbaOffset: (pba & ~0x7) >>> 0,
  };
}

/** Byte size of the MSI-X vector table and of the PBA (one bit per vector, in u64 words). */
export function msixTableBytes(cap: MsixCap): {
  /** Bytes of the vector table: 16 per vector. */
  readonly table: number;
  /** Bytes of the pending bit array: one bit per vector, in whole u64 words. */
  readonly pba: number;
} {
  return { table: cap.tableSize * MSIX_ENTRY_SIZE, pba: Math.ceil(cap.tableSize / 64) * 8 };
}

/** The MSI capability, decoded. */
export interface MsiCap {
  /** MSI Enable. */
  readonly enabled: boolean;
  /** Vectors the function can request (1, 2, 4 … 32). */
  readonly vectorsCapable: number;
  /** Vectors software enabled. */
  readonly vectorsEnabled: number;
  /** 64-bit message address capable. */
  readonly addr64: boolean;
  /** Per-vector masking capable. */
  readonly perVectorMasking: boolean;
  /** Message address (as programmed; vfio-pci virtualises it). */
  readonly address: bigint;
  /** Message data (16 bits). */
  readonly data: number;
  /** Present only with per-vector masking. */
  readonly maskBits: number | null;
  /** Pending bits; present only with per-vector masking. */
  readonly pendingBits: number | null;
}

/** Decodes the MSI capability at `offset` of a config image; {@link DecodeError} when it does not fit. */
export function decodeMsiCap(image: Uint8Array, offset: number): MsiCap {
  const op = 'pci config: MSI cap';
  requireSpan(image, offset, 4, op);
  const ctrl = u16(image, offset + 2, op);
  const addr64 = (ctrl & 0x80) !== 0;
  const perVectorMasking = (ctrl & 0x100) !== 0;
  // Layout grows by 4 bytes for the upper address and by 8 for mask + pending bits.
  requireSpan(image, offset, (addr64 ? 14 : 10) + (perVectorMasking ? 10 : 0), op);
  const lo = BigInt(u32(image, offset + 4, op));
  const hi = addr64 ? BigInt(u32(image, offset + 8, op)) : 0n;
  const dataAt = offset + (addr64 ? 12 : 8);
  const maskAt = offset + (addr64 ? 16 : 12);
  return {
    enabled: (ctrl & 0x1) !== 0,
    vectorsCapable: 1 << Math.min((ctrl >> 1) & 0x7, 5),
    vectorsEnabled: 1 << Math.min((ctrl >> 4) & 0x7, 5),
    addr64,
    perVectorMasking,
    address: (hi << 32n) | lo,
    data: u16(image, dataAt, op),
    maskBits: perVectorMasking ? u32(image, maskAt, op) : null,
    pendingBits: perVectorMasking ? u32(image, maskAt + 4, op) : null,
  };
}

const PCIE_TYPES: Readonly<Record<number, string>> = {
  0x0: 'endpoint',
  0x1: 'legacy-endpoint',
  0x4: 'root-port',
  0x5: 'upstream-port',
  0x6: 'downstream-port',
  0x7: 'pcie-to-pci-bridge',
  0x8: 'pci-to-pcie-bridge',
  0x9: 'rc-integrated-endpoint',
  0xa: 'rc-event-collector',
};

/** The PCI Express capability, decoded (the fields a driver asks about). */
export interface PcieCap {
  /** Capability version (1 or 2). */
  readonly version: number;
  /** Device/port type (0 endpoint, 4 root port, …). */
  readonly portType: number;
  /** The port type's name ('endpoint', 'root-port', …; `type<N>` otherwise). */
  readonly portTypeName: string;
  /** Max payload size supported, in bytes (from Device Capabilities). */
  readonly maxPayloadSupported: number;
  /** Function Level Reset capable. */
  readonly flr: boolean;
}

/** Decodes the PCIe capability at `offset` of a config image; {@link DecodeError} when it does not fit. */
export function decodePcieCap(image: Uint8Array, offset: number): PcieCap {
  const op = 'pci config: PCIe cap';
  requireSpan(image, offset, 8, op);
  const flags = u16(image, offset + 2, op);
  const devCap = u32(image, offset + 4, op);
  const portType = (flags >> 4) & 0xf;
  return {
    version: flags & 0xf,
    portType,
    portTypeName: PCIE_TYPES[portType] ?? `type${portType}`,
    maxPayloadSupported: 128 << (devCap & 0x7),
    flr: (devCap & 0x10000000) !== 0,
  };
}

/** The power management capability, decoded. */
export interface PmCap {
  /** PM specification version (PMC bits 2:0). */
  readonly version: number;
  /** Current power state: 0-3 for D0-D3hot. */
  readonly powerState: number;
  /** PMCSR No_Soft_Reset: D3hot→D0 keeps device state. */
  readonly noSoftReset: boolean;
}

/** Decodes the PM capability at `offset` of a config image; {@link DecodeError} when it does not fit. */
export function decodePmCap(image: Uint8Array, offset: number): PmCap {
  const op = 'pci config: PM cap';
  requireSpan(image, offset, 8, op);
  const pmc = u16(image, offset + 2, op);
  const pmcsr = u16(image, offset + 4, op);
  return { version: pmc & 0x7, powerState: pmcsr & 0x3, noSoftReset: (pmcsr & 0x8) !== 0 };
}
