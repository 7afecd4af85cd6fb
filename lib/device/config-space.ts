// PCI configuration space through the VFIO CONFIG region (pread/pwrite: vfio-pci virtualises
// parts of it, so it is never mmapped), with helpers for the command register.
import * as decode from '../decode';
import { Region } from './region';

/** PCI_COMMAND bits (PCI Local Bus spec). */
export const PCI_COMMAND = 0x04;
export const PCI_COMMAND_IO = 1 << 0;
export const PCI_COMMAND_MEMORY = 1 << 1;
export const PCI_COMMAND_MASTER = 1 << 2;
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
  capabilities(): { standard: decode.PciCapability[]; extended: decode.PciExtCapability[] } {
    const img = this.image();
    return { standard: decode.pciCapabilities(img), extended: decode.pciExtCapabilities(img) };
  }

  /** The command register (offset 0x04, 16 bits); setting it writes the whole register. */
  get command(): number {
    return this.read16(PCI_COMMAND);
  }
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
  set busMaster(on: boolean) {
    this.setCommandBit(PCI_COMMAND_MASTER, on);
  }

  /** The command register's memory-space enable bit: BAR memory decodes only while it is set. */
  get memorySpace(): boolean {
    return (this.command & PCI_COMMAND_MEMORY) !== 0;
  }
  set memorySpace(on: boolean) {
    this.setCommandBit(PCI_COMMAND_MEMORY, on);
  }

  /** The command register's I/O-space enable bit: I/O BARs decode only while it is set. */
  get ioSpace(): boolean {
    return (this.command & PCI_COMMAND_IO) !== 0;
  }
  set ioSpace(on: boolean) {
    this.setCommandBit(PCI_COMMAND_IO, on);
  }

  /** The command register's INTx-disable bit (vfio-pci keeps it virtual and masks INTx while it is set). */
  get intxDisabled(): boolean {
    return (this.command & PCI_COMMAND_INTX_DISABLE) !== 0;
  }
  set intxDisabled(on: boolean) {
    this.setCommandBit(PCI_COMMAND_INTX_DISABLE, on);
  }
}
