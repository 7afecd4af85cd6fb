// PCI configuration space built from a model's description: the bytes a client reads, and a
// write mask per byte that says which bits a write may change (read-only ids, BAR address bits
// as wide as the BAR's size allows, capability control bits). Pure: no socket, no device.
import type { BarDescription, Capability, DeviceDescription } from './model';

/** Standard config space; 4 KiB when the device has a PCI Express capability. */
export const CONFIG_SIZE = 256;
/** Config space size in bytes with a PCI Express capability (extended config space). */
export const CONFIG_SIZE_EXPRESS = 4096;

const CAP_ID_MSI = 0x05;
const CAP_ID_MSIX = 0x11;
const CAP_ID_EXP = 0x10;
const FIRST_CAP = 0x40;

/** Where each capability landed, for models that read their own state (MSI enable). */
export interface CapabilityLayout {
  /** The capability's kind. */
  type: Capability['type'];
  /** Its byte offset in config space (0x40 or above, 4-byte aligned). */
  offset: number;
}

/**
 * A device's PCI configuration space built from its description: the bytes a client reads, and a
 * per-byte write mask. 256 bytes, or 4096 with a PCI Express capability.
 */
export class ConfigSpace {
  /** The current contents, little-endian as on the bus. */
  readonly bytes: Uint8Array;
  /** Per byte, the bits a write may change (1 = writable); same length as `bytes`. */
  readonly mask: Uint8Array;
  /** Where each capability landed, in list order. */
  readonly caps: CapabilityLayout[] = [];

  /** Builds the header, BAR registers and capability list from `desc` (assumed valid). */
  constructor(desc: DeviceDescription) {
    const express = (desc.capabilities ?? []).some((c) => c.type === 'pcie');
    this.bytes = new Uint8Array(express ? CONFIG_SIZE_EXPRESS : CONFIG_SIZE);
    this.mask = new Uint8Array(this.bytes.length);
    this.header(desc);
    this.bars(desc.bars ?? []);
    this.capabilities(desc.capabilities ?? []);
  }

  private set(offset: number, size: number, value: number, mask = 0): void {
    for (let i = 0; i < size; i++) {
      this.bytes[offset + i] = (value >>> (8 * i)) & 0xff;
      this.mask[offset + i] = (mask >>> (8 * i)) & 0xff;
    }
  }

  private header(d: DeviceDescription): void {
    this.set(0x00, 2, d.vendorId);
    this.set(0x02, 2, d.deviceId);
    // Command: I/O and memory decoding, bus master, parity and SERR response, INTx disable.
    this.set(0x04, 2, 0, 0x0547);
    this.set(0x06, 2, (d.capabilities ?? []).length ? 0x0010 : 0); // capabilities list
    this.set(0x08, 1, d.revision ?? 0);
    this.set(0x09, 3, d.classCode);
    this.set(0x0c, 1, 0, 0xff); // cache line size
    this.set(0x2c, 2, d.subsystemVendorId ?? 0);
    this.set(0x2e, 2, d.subsystemId ?? 0);
    this.set(0x3c, 1, 0, 0xff); // interrupt line: scratch for the OS
    this.set(0x3d, 1, d.interruptPin ?? 0);
  }

  private bars(bars: readonly BarDescription[]): void {
    for (const bar of bars) {
      const reg = 0x10 + 4 * bar.index;
      if (bar.kind === 'io') {
        this.set(reg, 4, 0x1, ~(bar.size - 1) & ~0x3);
        continue;
      }
      const type = (bar.kind === 'mem64' ? 0x4 : 0) | (bar.prefetchable ? 0x8 : 0);
      const size = BigInt(bar.size);
      const lowMask = Number(~(size - 1n) & 0xfffffff0n);
      this.set(reg, 4, type, lowMask);
      if (bar.kind === 'mem64') this.set(reg + 4, 4, 0, Number((~(size - 1n) >> 32n) & 0xffffffffn));
    }
  }

  private capabilities(caps: readonly Capability[]): void {
    let offset = FIRST_CAP;
    let prevNext = 0x34;
    for (const cap of caps) {
      const size = cap.type === 'msi' ? (cap.perVectorMask ? 0x18 : 0x0e) : cap.type === 'msix' ? 0x0c : 0x3c;
      this.bytes[prevNext] = offset;
      this.caps.push({ type: cap.type, offset });
      if (cap.type === 'msi') {
        const mmc = Math.log2(cap.vectors);
        const ctrl = (mmc << 1) | 0x80 | (cap.perVectorMask ? 0x100 : 0);
        this.set(offset, 1, CAP_ID_MSI);
        this.set(offset + 2, 2, ctrl, 0x0071); // enable, multiple message enable
        this.set(offset + 4, 4, 0, 0xfffffffc); // message address
        this.set(offset + 8, 4, 0, 0xffffffff); // upper address
        this.set(offset + 12, 2, 0, 0xffff); // data
        if (cap.perVectorMask) this.set(offset + 16, 4, 0, cap.vectors === 32 ? 0xffffffff : (1 << cap.vectors) - 1);
      } else if (cap.type === 'msix') {
        this.set(offset, 1, CAP_ID_MSIX);
        this.set(offset + 2, 2, cap.vectors - 1, 0xc000); // enable, function mask
        this.set(offset + 4, 4, cap.tableOffset | cap.tableBar);
        this.set(offset + 8, 4, cap.pbaOffset | cap.pbaBar);
      } else {
        this.set(offset, 1, CAP_ID_EXP);
        this.set(offset + 2, 2, 0x0002); // version 2, endpoint
        this.set(offset + 4, 4, 0x00008000); // device capabilities: role-based error reporting
        this.set(offset + 8, 2, 0x2810, 0x7cff); // device control: payload and read request sizes
        this.set(offset + 0x12, 2, 0x0011); // link status: 2.5 GT/s, x1
        this.set(offset + 0x0c, 4, 0x00000011); // link capabilities: 2.5 GT/s, x1
      }
      prevNext = offset + 1;
      offset += (size + 3) & ~3;
    }
  }

  /** The capability of that type, if the device has one. */
  capability(type: Capability['type']): CapabilityLayout | undefined {
    return this.caps.find((c) => c.type === type);
  }

  /** A copy of `length` bytes from `offset`, truncated at the end of config space. */
  read(offset: number, length: number): Uint8Array {
    return this.bytes.slice(offset, offset + length);
  }

  /** Applies a write byte by byte through the mask: read-only bits keep their value. */
  write(offset: number, data: Uint8Array): void {
    for (let i = 0; i < data.length; i++) {
      const at = offset + i;
      const m = this.mask[at];
      this.bytes[at] = (this.bytes[at] & ~m) | (data[i] & m);
    }
  }

  /** The little-endian 16-bit value at `offset`. */
  u16(offset: number): number {
    return this.bytes[offset] | (this.bytes[offset + 1] << 8);
  }

  /** Bus mastering on: the device may do DMA (and signal MSI). */
  get busMaster(): boolean {
    return (this.u16(0x04) & 0x4) !== 0;
  }
}
