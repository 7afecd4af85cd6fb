// Core device tests against the real kernel in the emulated VFIO host.
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import { BusyError, ClosedError, Device, Mapping, VfioError } from '../../lib';
import { decodeConfigHeader, pciCapabilities, pciExtCapabilities } from '../../lib/decode';
import * as sysfs from '../../lib/system/sysfs';
import { guestEnv, openDevice } from './env';
import { sleep } from '../support/time';
import { must } from '../support/must';

const EDU = must(process.env.VFIO_VM_EDU, 'process.env.VFIO_VM_EDU');
const IVSHMEM = must(process.env.VFIO_VM_IVSHMEM, 'process.env.VFIO_VM_IVSHMEM');
const NVME = must(process.env.VFIO_VM_NVME, 'process.env.VFIO_VM_NVME');

describe('edu (BAR0 through a mapping)', () => {
  let dev: Device;
  let bar0: Mapping;
  beforeAll(async () => {
    dev = await openDevice(EDU);
    bar0 = dev.bar(0).map();
  });
  afterAll(() => dev?.close());

  it('describes the device as the kernel does', () => {
    expect(dev.bdf).toBe(EDU);
    expect(dev.info.flags.pci).toBe(true);
    expect(dev.info.numRegions).toBeGreaterThanOrEqual(9);
    expect(dev.info.numIrqs).toBeGreaterThanOrEqual(5);
    const r = dev.bar(0);
    expect([r.name, r.size, r.flags]).toEqual(['BAR0', 1n << 20n, { read: true, write: true, mmap: true }]);
    expect(r.mappableAreas).toEqual([{ offset: 0n, size: 1n << 20n }]);
    // Offsets come from the kernel: the config region's is whatever REGION_INFO said.
    expect(dev.region(7).name).toBe('CONFIG');
    expect(dev.region(7).size).toBe(256n);
    // edu has no VGA region: the index is absent rather than an error.
    expect(dev.regions.some((x) => x.index === 8)).toBe(false);
  });

  it('reads the identification register 0x00 = 0x010000ed, mapped and by pread', () => {
    expect(bar0.read32(0)).toBe(0x010000ed);
    expect(dev.bar(0).read32(0)).toBe(0x010000ed);
    // edu answers only 32- and 64-bit accesses below 0x80; narrow widths are checked on ivshmem.
  });

  it('the liveness register 0x04 returns the bitwise NOT of what was written', () => {
    for (const v of [0x12345678, 0, 0xffffffff, 0xa5a5a5a5]) {
      bar0.write32(4, v);
      expect(bar0.read32(4)).toBe(~v >>> 0);
    }
    dev.bar(0).write32(4, 0x0badf00d);
    expect(dev.bar(0).read32(4)).toBe(~0x0badf00d >>> 0);
  });

  it('computes 5! = 120 with the factorial unit', async () => {
    bar0.write32(0x08, 5);
    for (let i = 0; i < 200 && (bar0.read32(0x20) & 1) !== 0; i++) await sleep(5);
    expect(bar0.read32(0x20) & 1).toBe(0);
    expect(bar0.read32(0x08)).toBe(120);
  });

  it('checks offsets and alignment before touching the device', () => {
    expect(() => bar0.read32(1 << 20)).toThrow(expect.objectContaining({ code: 'ERANGE' }));
    expect(() => bar0.read32(2)).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    expect(() => bar0.write16(0, 0x10000)).toThrow(/does not fit in 16 bits/);
    expect(() => dev.bar(0).map({ offset: 0x800, length: 0x1000 })).toThrow(/not page-aligned/);
    expect(() => dev.bar(0).map({ offset: 0, length: (1 << 20) + 4096 })).toThrow(
      expect.objectContaining({ code: 'ERANGE' }),
    );
    expect(() => dev.bar(5).map()).toThrow(/cannot be mmapped/);
  });

  it('maps a window of the BAR that starts past offset 0', () => {
    const w = dev.bar(0).map({ offset: 0, length: 0x1000 });
    expect(w.length).toBe(0x1000);
    expect(w.read32(0)).toBe(0x010000ed);
    w.close();
  });
});

describe('ivshmem (BAR2: shared memory the host can see)', () => {
  it('a pattern written through BAR2 appears in the host backing file', async () => {
    await using dev = await openDevice(IVSHMEM);
    const bar2 = dev.bar(2);
    expect(bar2.size).toBe(4n << 20n);
    const m = bar2.map();
    const base = 0x1000;
    for (let i = 0; i < 64; i++) m.write32(base + i * 4, (0xc0de0000 | i) >>> 0);
    m.write64(base + 0x200, 0x0123456789abcdefn);
    m.write16(base + 0x210, 0xbeef);
    m.write8(base + 0x212, 0x7a);
    expect(m.read64(base + 0x200)).toBe(0x0123456789abcdefn);
    expect([m.read8(base + 0x212), m.read16(base + 0x210), m.read8(base + 0x200)]).toEqual([0x7a, 0xbeef, 0xef]);
    // The same bytes through the region's pread path.
    expect([bar2.read8(base + 0x212), bar2.read16(base + 0x210), bar2.read32(base + 4)]).toEqual([
      0x7a, 0xbeef, 0xc0de0001,
    ]);
    const file = fs.readFileSync(must(process.env.VFIO_VM_IVSHMEM_FILE, 'process.env.VFIO_VM_IVSHMEM_FILE'));
    for (let i = 0; i < 64; i++) expect(file.readUInt32LE(base + i * 4)).toBe((0xc0de0000 | i) >>> 0);
    expect(file.readBigUInt64LE(base + 0x200)).toBe(0x0123456789abcdefn);
    expect(file.readUInt16LE(base + 0x210)).toBe(0xbeef);
    expect(file[base + 0x212]).toBe(0x7a);
  });
});

describe('nvme (caps, mappable areas, IRQ info)', () => {
  it('decodes BAR0 caps and lists 65 MSI-X vectors', async () => {
    await using dev = await openDevice(NVME);
    const bar0 = dev.bar(0);
    expect(bar0.size).toBe(16n * 1024n);
    expect(bar0.caps.map((c) => c.type)).toContain('msix-mappable');
    expect(bar0.mappableAreas).toEqual([{ offset: 0n, size: bar0.size }]);
    const byName = Object.fromEntries(dev.irqs.map((i) => [i.name, i]));
    expect(byName.MSIX.count).toBe(65);
    expect(byName.INTX).toMatchObject({ count: 1, flags: { eventfd: true, maskable: true, automasked: true } });
    expect(byName.ERR.count).toBe(1);
    expect(byName.REQ.count).toBe(1);
    expect(dev.info.flags.reset).toBe(true);
    // NVMe CAP register (BAR0 offset 0) is 64-bit; its MQES field is non-zero on any controller.
    const m = bar0.map();
    expect(Number(m.read64(0) & 0xffffn)).toBeGreaterThan(0);
  });
});

/**
 * The extended capabilities vfio-pci hid from `bdf`'s virtual config space ("id@offset"), from
 * the kernel's own debug message (vfio_ecap_init: "hiding ecap 0xID@0xOFFSET"), printed when
 * the device is opened while dynamic debug is on for vfio_pci_config.c (debugAllFromVfioConfig).
 */
function hiddenExtCaps(bdf: string): string[] {
  const log = execFileSync('dmesg', { encoding: 'utf8' });
  const out: string[] = [];
  for (const m of log.matchAll(/ (\S+): vfio_ecap_init: hiding ecap (0x[0-9a-f]+)@(0x[0-9a-f]+)/g)) {
    if (m[1] === bdf) out.push(`${Number(m[2])}@${Number(m[3])}`);
  }
  return out;
}

/**
 * Turns on vfio-pci's config-space debug messages, so the kernel says what it hides; false when
 * the kernel has no dynamic debug (the custom kernel), and nothing can say it.
 */
function debugVfioConfig(): boolean {
  const control = '/sys/kernel/debug/dynamic_debug/control';
  const mounted = fs.readFileSync('/proc/mounts', 'utf8').includes(' /sys/kernel/debug debugfs ');
  if (!mounted) execFileSync('mount', ['-t', 'debugfs', 'none', '/sys/kernel/debug']);
  if (!fs.existsSync(control)) return false;
  fs.writeFileSync(control, 'file drivers/vfio/pci/vfio_pci_config.c +p');
  return true;
}

describe('config space', () => {
  let kernelSays = false;
  beforeAll(() => {
    kernelSays = debugVfioConfig();
  });

  // Every device of the run: the extra ones (xHCI, VGA, a second nvme) are PCIe endpoints with
  // extended capabilities.
  it.each(guestEnv().devices.map((bdf) => [sysfs.pciIds(bdf)?.device.toString(16), bdf]))(
    '%s at %s: ids, class and capabilities match sysfs',
    async (_name, bdf) => {
      await using dev = await openDevice(bdf);
      const ids = must(sysfs.pciIds(bdf), 'sysfs.pciIds(bdf)');
      expect(dev.config.vendorId).toBe(ids.vendor);
      expect(dev.config.deviceId).toBe(ids.device);
      expect(dev.config.classCode).toBe(ids.class);
      const hdr = dev.config.header();
      expect([hdr.vendorId, hdr.deviceId]).toEqual([ids.vendor, ids.device]);
      // The kernel's own view of config space, read through sysfs (root reads all of it).
      const raw = new Uint8Array(fs.readFileSync(`/sys/bus/pci/devices/${bdf}/config`));
      const fromSysfs = pciCapabilities(raw).map((c) => c.id);
      const mine = dev.config.capabilities();
      expect(mine.standard.map((c) => c.id)).toEqual(fromSysfs);
      // Unfiltered: every extended capability sysfs shows, except those vfio-pci says it hides.
      // A hidden first one stays in the chain as an anchor with ID 0 while real ones follow it;
      // with none following the whole list is empty.
      const hidden = hiddenExtCaps(bdf);
      const kept = pciExtCapabilities(raw)
        .map((c) => `${c.id}@${c.offset}`)
        .map((c) => (hidden.includes(c) ? (c.endsWith('@256') ? '0@256' : undefined) : c))
        .filter((c): c is string => c !== undefined);
      const expected = kept.some((c) => c !== '0@256') ? kept : [];
      const seen = mine.extended.map((c) => `${c.id}@${c.offset}`);
      if (kernelSays) expect(seen).toEqual(expected);
      // Without the kernel's word on what it hides: every capability seen is one sysfs shows
      // (or the ID-0 anchor at 0x100), in sysfs's order.
      else {
        const real = seen.filter((c) => c !== '0@256');
        expect(real).toEqual(kept.filter((c) => real.includes(c)));
      }
      expect(decodeConfigHeader(raw).classCode).toBe(ids.class);
    },
  );

  it('edu has MSI and PCIe capabilities; nvme has MSI-X', async () => {
    await using edu = await openDevice(EDU);
    expect(edu.config.capabilities().standard.map((c) => c.name)).toEqual(expect.arrayContaining(['MSI']));
    await using nvme = await openDevice(NVME);
    expect(nvme.config.capabilities().standard.map((c) => c.name)).toEqual(expect.arrayContaining(['MSI-X', 'PCIe']));
  });

  it('toggles bus mastering through the command register', async () => {
    await using dev = await openDevice(EDU);
    dev.config.busMaster = true;
    expect(dev.config.busMaster).toBe(true);
    expect(dev.config.command & 0x4).toBe(4);
    dev.config.busMaster = false;
    expect(dev.config.busMaster).toBe(false);
  });
});

describe('safety and errors', () => {
  it('every accessor throws after the mapping or the device is closed', async () => {
    const dev = await openDevice(EDU);
    const m = dev.bar(0).map();
    const m2 = dev.bar(0).map();
    m.close();
    expect(() => m.read32(0)).toThrow(ClosedError);
    expect(() => m.write32(4, 1)).toThrow(ClosedError);
    expect(() => m.read64(0)).toThrow(ClosedError);
    m.close(); // idempotent
    expect(m2.read32(0)).toBe(0x010000ed);
    dev.close();
    expect(m2.closed).toBe(true);
    expect(() => m2.read32(0)).toThrow(ClosedError);
    expect(() => m2.write32(4, 1)).toThrow(ClosedError);
    expect(() => dev.bar(0).read32(0)).toThrow(ClosedError);
    expect(() => dev.config.vendorId).toThrow(ClosedError);
    expect(() => dev.bar(0).map()).toThrow(ClosedError);
  });

  it('a write after close is refused, never silently dropped', async () => {
    const dev = await openDevice(EDU);
    const m = dev.bar(0).map();
    m.write32(4, 0x11111111);
    dev.close();
    expect(() => m.write32(4, 0x22222222)).toThrow(ClosedError);
    await using again = await openDevice(EDU);
    expect(again.bar(0).read32(4)).toBe(~0x11111111 >>> 0);
  });

  it('a second open of a group that is in use is a busy error with a hint', async () => {
    await using dev = await openDevice(EDU);
    const err = await openDevice(EDU).catch((e) => e);
    expect(err).toBeInstanceOf(BusyError);
    expect(err.code).toBe('EBUSY');
    expect(err.hint).toMatch(/already open/);
    expect(dev.bar(0).read32(0)).toBe(0x010000ed);
  });

  it('a device not bound to vfio-pci gives the binding hint', async () => {
    // An endpoint: for a bridge (pcieport) the root cause is that VFIO does not assign bridges.
    const other = sysfs.listPciDevices().find((b) => {
      const d = sysfs.driverOf(b);
      return d !== undefined && !d.includes('vfio') && d !== 'pcieport';
    });
    expect(other).toBeDefined();
    const err = await openDevice(must(other, 'other')).catch((e) => e);
    expect(err).toBeInstanceOf(VfioError);
    expect(err.code).toBe('VFIO_NOT_BOUND');
    expect(err.hint).toMatch(new RegExp(`vfio bind ${other}`));
  });

  it('rejects what is not a PCI address', async () => {
    await expect(openDevice('not-a-bdf')).rejects.toMatchObject({ code: 'EINVAL' });
    await expect(openDevice('0000:7f:1f.7')).rejects.toMatchObject({ code: 'VFIO_NO_DEVICE', errno: undefined });
  });
});
