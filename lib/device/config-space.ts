// PCI configuration space through the VFIO CONFIG region (pread/pwrite: vfio-pci virtualises
// parts of it, so it is never mmapped), with helpers for the command register.
import * as decode from '../decode';
import { Region } from './region';

/** Offset of the PCI command register in config space (PCI Local Bus spec); 16 bits wide. */
export const PCI_COMMAND = 0x04;
/** Command register bit 0, I/O Space: the device decodes its I/O BARs while set. */
export const PCI_COMMAND_IO = 1 << 0;
/** Command register bit 1, Memory Space: the device decodes its memory BARs while set. */
export const PCI_COMMAND_MEMORY = 1 << 1;
/** Command register bit 2, Bus Master: the device may issue DMA while set. */
export const PCI_COMMAND_MASTER = 1 << 2;
/** Command register bit 10, Interrupt Disable: the device may not assert INTx while set. */
export const PCI_COMMAND_INTX_DISABLE = 1 << 10;

/**
 * A device's PCI configuration space (`dev.config`), read and written through the CONFIG region
 * (vfio-pci virtualises parts of it: the BARs, the command register's INTx bit, MSI/MSI-X).
 * Every accessor throws {@link ClosedError} after the device closed.
 */
export class ConfigSpace {
  /** The CONFIG region it reads through. */
  readonly region: Region;

  /** @internal Devices create their config space. */
  constructor(region: Region) {
    this.region = region;
  }

  /** Size of config space: 256 bytes (conventional) or 4096 (PCIe extended). */
  get size(): number {
    return Number(this.region.size);
  }

  /** Reads 8 bits at byte offset `off` (0 … size-1); errors as {@link Region.read8}. */
  read8(off: number): number {
    return this.region.read8(off);
  }
  /** Reads 16 bits at byte offset `off` (0 … size-2, aligned); errors as {@link Region.read16}. */
  read16(off: number): number {
    return this.region.read16(off);
  }
  /** Reads 32 bits at byte offset `off` (0 … size-4, aligned); errors as {@link Region.read32}. */
  read32(off: number): number {
    return this.region.read32(off);
  }
  /** Writes 8 bits (`v`: an integer of at most 8 bits) at byte offset `off` (0 … size-1); errors as {@link Region.write8}. */
  write8(off: number, v: number): void {
    this.region.write8(off, v);
  }
  /** Writes 16 bits (`v`: an integer of at most 16 bits) at byte offset `off` (0 … size-2, aligned); errors as {@link Region.write16}. */
  write16(off: number, v: number): void {
    this.region.write16(off, v);
  }
  /** Writes 32 bits (`v`: an integer of at most 32 bits) at byte offset `off` (0 … size-4, aligned); errors as {@link Region.write32}. */
  write32(off: number, v: number): void {
    this.region.write32(off, v);
  }

  /** The vendor ID (offset 0x00, 16 bits). */
  get vendorId(): number {
    return this.read16(0x00);
  }
  /** The device ID (offset 0x02, 16 bits). */
  get deviceId(): number {
    return this.read16(0x02);
  }
  /** The 24-bit class code (base class, subclass, programming interface). */
  get classCode(): number {
    return this.read32(0x08) >>> 8;
  }

  /** A copy of the whole config space as the device (and vfio-pci's virtualisation) shows it. */
  image(): Uint8Array {
    // Dword reads: some devices misbehave on wide bulk reads of config space.
    const out = new Uint8Array(this.size);
    const dv = new DataView(out.buffer);
    for (let off = 0; off < out.length; off += 4) dv.setUint32(off, this.read32(off), true);
    return out;
  }

  /** Decoded header fields (ids, class, command/status, BARs, interrupt pin). */
  header(): decode.ConfigHeader {
    return decode.decodeConfigHeader(this.image());
  }

  /** Standard and extended capabilities, walked over a fresh config image. */
  capabilities(): {
    /** The standard capabilities (from the pointer at 0x34), in chain order. */
    standard: decode.PciCapability[];
    /** The PCIe extended capabilities (from 0x100), in chain order; empty for 256-byte config space. */
    extended: decode.PciExtCapability[];
  } {
    const img = this.image();
    return { standard: decode.pciCapabilities(img), extended: decode.pciExtCapabilities(img) };
  }

  /** The command register (offset 0x04, 16 bits); setting it writes the whole register. */
  get command(): number {
    return this.read16(PCI_COMMAND);
  }
  /** Writes the whole 16-bit command register (a read-modify-write is the caller's job). */
  set command(v: number) {
    this.write16(PCI_COMMAND, v);
  }

  private setCommandBit(bit: number, on: boolean): void {
    const cmd = this.command;
    this.command = on ? cmd | bit : cmd & ~bit & 0xffff;
  }

  /** Bus mastering: the device may only DMA while it is set. */
  get busMaster(): boolean {
    return (this.command & PCI_COMMAND_MASTER) !== 0;
  }
  /** Sets or clears the Bus Master bit (a read-modify-write of the command register). */
  set busMaster(on: boolean) {
    this.setCommandBit(PCI_COMMAND_MASTER, on);
  }

  /** The command register's memory-space enable bit: BAR memory decodes only while it is set. */
  get memorySpace(): boolean {
    return (this.command & PCI_COMMAND_MEMORY) !== 0;
  }
  /** Sets or clears the Memory Space bit (a read-modify-write of the command register). */
  set memorySpace(on: boolean) {
    this.setCommandBit(PCI_COMMAND_MEMORY, on);
  }

  /** The command register's I/O-space enable bit: I/O BARs decode only while it is set. */
  get ioSpace(): boolean {
    return (this.command & PCI_COMMAND_IO) !== 0;
  }
  /** Sets or clears the I/O Space bit (a read-modify-write of the command register). */
  set ioSpace(on: boolean) {
    this.setCommandBit(PCI_COMMAND_IO, on);
  }

  /** The command register's INTx-disable bit (vfio-pci keeps it virtual and masks INTx while it is set). */
  get intxDisabled(): boolean {
    return (this.command & PCI_COMMAND_INTX_DISABLE) !== 0;
  }
  /** Sets or clears the Interrupt Disable bit (a read-modify-write of the command register). */
  set intxDisabled(on: boolean) {
    this.setCommandBit(PCI_COMMAND_INTX_DISABLE, on);
  }
}
