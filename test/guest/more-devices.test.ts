// The library must describe any PCI device the kernel binds, not just ours: the 'default' test
// configuration adds an rtl8139 NIC (an I/O-port BAR), the standard VGA adapter (ROM and the legacy
// VGA region) and an xHCI controller (MSI-X) beyond the default devices.
import { native } from '../../lib/addon/native';
import { REGION_INFO_SIZE } from '../../lib/decode';
import { errnoName } from '../../lib/errors';
import * as sysfs from '../../lib/system/sysfs';
import { describeIf, openDevice } from './env';
import { must } from '../support/must';

function extra(vendor: number, device: number): string | undefined {
  const all = (process.env.VFIO_VM_DEVICES ?? '').split(' ').filter(Boolean);
  return all.find((bdf) => {
    const ids = sysfs.pciIds(bdf);
    return ids?.vendor === vendor && ids.device === device;
  });
}

const RTL8139 = extra(0x10ec, 0x8139);
const VGA = extra(0x1234, 0x1111);
const XHCI = extra(0x1b36, 0x000d);

describeIf(RTL8139, 'no rtl8139 in this configuration')('rtl8139: an I/O-port BAR reached through pread/pwrite', () => {
  it('the I/O BAR and the MMIO BAR show the same registers', async () => {
    await using dev = await openDevice(must(RTL8139, 'RTL8139'));
    const io = dev.bar(0);
    const mem = dev.bar(1);
    expect(io.size).toBe(0x100n);
    expect(io.flags).toEqual({ read: true, write: true, mmap: false });
    expect(() => io.map()).toThrow(/cannot be mmapped/);
    // IDR0-5: the MAC address, the same bytes through port I/O and through memory space.
    const macIo = [0, 1, 2, 3, 4, 5].map((i) => io.read8(i));
    const macMem = [0, 1, 2, 3, 4, 5].map((i) => mem.read8(i));
    expect(macIo).toEqual(macMem);
    expect(macIo.slice(0, 3)).toEqual([0x52, 0x54, 0x00]); // QEMU's locally administered prefix
    expect(io.read32(0)).toBe(mem.read32(0));
    // MAR0-7 (multicast filter, 0x08) is plain read/write: a write through I/O reads back via memory.
    io.write32(0x08, 0xa5a55a5a);
    expect(mem.read32(0x08)).toBe(0xa5a55a5a);
  });
});

describeIf(VGA, 'no std VGA in this configuration')('std VGA: option ROM and the legacy VGA region', () => {
  it('the ROM region starts with the 0x55 0xaa signature', async () => {
    await using dev = await openDevice(must(VGA, 'VGA'));
    const rom = dev.regions.find((r) => r.name === 'ROM');
    expect(rom).toBeDefined();
    expect(must(rom, 'rom').flags.mmap).toBe(false);
    expect([...must(rom, 'rom').readBytes(0, 2)]).toEqual([0x55, 0xaa]);
  });

  it('the VGA region (index 8) exposes the legacy ranges when the kernel offers VGA', async () => {
    await using dev = await openDevice(must(VGA, 'VGA'));
    const vga = dev.regions.find((r) => r.index === 8);
    // The device is a VGA controller (class 0x0300), so only the kernel can leave index 8 out:
    // one built without CONFIG_VFIO_PCI_VGA answers REGION_INFO for it with EINVAL. Ask it.
    expect(must(sysfs.pciIds(must(VGA, 'VGA')), "the VGA device's PCI ids").class >> 8).toBe(0x0300);
    const answer = native().VFIO_DEVICE_GET_REGION_INFO(dev.fd('test'), 8, new Uint8Array(REGION_INFO_SIZE));
    if (!vga) {
      expect(answer < 0 && errnoName(-answer)).toBe('EINVAL');
      return;
    }
    expect(answer).toBeGreaterThanOrEqual(0);
    expect(vga.name).toBe('VGA');
    expect(vga.size).toBe(0xc0000n);
    // 0x3c4/0x3c5: sequencer index/data. Register 2 (map mask) reads back what was written.
    vga.write8(0x3c4, 0x02);
    vga.write8(0x3c5, 0x0f);
    vga.write8(0x3c4, 0x02);
    expect(vga.read8(0x3c5) & 0x0f).toBe(0x0f);
  });

  it('BAR0 (framebuffer, prefetchable) round-trips through a mapping', async () => {
    await using dev = await openDevice(must(VGA, 'VGA'));
    const fb = dev.bar(0).map({ length: 0x10000 });
    fb.write32(0x100, 0xdeadbeef);
    expect(fb.read32(0x100)).toBe(0xdeadbeef);
    expect(dev.bar(0).read32(0x100)).toBe(0xdeadbeef);
  });
});

describeIf(XHCI, 'no xHCI in this configuration')('xHCI: MSI-X and a sparse or msix-mappable BAR', () => {
  it('lists its MSI-X vectors and maps only what the kernel allows', async () => {
    await using dev = await openDevice(must(XHCI, 'XHCI'));
    const msix = dev.irqs.find((i) => i.name === 'MSIX');
    expect(must(msix, 'msix').count).toBeGreaterThan(0);
    const bar0 = dev.bar(0);
    const total = bar0.mappableAreas.reduce((s, a) => s + a.size, 0n);
    expect(total).toBeGreaterThan(0n);
    expect(total).toBeLessThanOrEqual(bar0.size);
    // CAPLENGTH (byte 0) and HCIVERSION (bytes 2-3) of the capability registers.
    const caps = bar0.map({ offset: bar0.mappableAreas[0].offset, length: 0x1000 });
    expect(caps.read32(0) >>> 16).toBeGreaterThanOrEqual(0x0100);
  });
});
