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

export class ConfigSpace {
  readonly region: Region;

  /** @internal Devices create their config space. */
  constructor(region: Region) {
    this.region = region;
  }

  /** Size of config space: 256 bytes (conventional) or 4096 (PCIe extended). */
  get size(): number {
    return Number(this.region.size);
  }

  read8(off: number): number {
    return this.region.read8(off);
  }
  read16(off: number): number {
    return this.region.read16(off);
  }
  read32(off: number): number {
    return this.region.read32(off);
  }
  write8(off: number, v: number): void {
    this.region.write8(off, v);
  }
  write16(off: number, v: number): void {
    this.region.write16(off, v);
  }
  write32(off: number, v: number): void {
    this.region.write32(off, v);
  }

  get vendorId(): number {
    return this.read16(0x00);
  }
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

  get memorySpace(): boolean {
    return (this.command & PCI_COMMAND_MEMORY) !== 0;
  }
  set memorySpace(on: boolean) {
    this.setCommandBit(PCI_COMMAND_MEMORY, on);
  }

  get ioSpace(): boolean {
    return (this.command & PCI_COMMAND_IO) !== 0;
  }
  set ioSpace(on: boolean) {
    this.setCommandBit(PCI_COMMAND_IO, on);
  }

  get intxDisabled(): boolean {
    return (this.command & PCI_COMMAND_INTX_DISABLE) !== 0;
  }
  set intxDisabled(on: boolean) {
    this.setCommandBit(PCI_COMMAND_INTX_DISABLE, on);
  }
}
