// The emulated host itself, as the guest suite sees it: devices bound to vfio-pci, one IOMMU
// group each, the environment, the shares. Needs nothing of the native addon.
import * as fs from 'fs';
import * as path from 'path';
import { guestEnv, kernelArg } from './env';

const env = guestEnv();
const sysDev = (bdf: string) => path.join('/sys/bus/pci/devices', bdf);
const linkName = (p: string) => path.basename(fs.readlinkSync(p));
const attr = (bdf: string, name: string) => fs.readFileSync(path.join(sysDev(bdf), name), 'utf8').trim();

describe('emulated VFIO host', () => {
  it("exports the BDF of every default device, and the run's device list", () => {
    const bdf = /^0000:0[01]:[0-9a-f]{2}\.[0-7]$/; // nvme sits behind a root port, on bus 1
    const defaults = [env.edu, env.ivshmem, env.nvme, env.pciTestdev];
    for (const b of defaults) expect(b).toMatch(bdf);
    expect(new Set(defaults).size).toBe(4);
    expect(env.devices.slice(0, 4)).toEqual(defaults);
    expect(process.env.VFIO_VM).toBe('1');
    expect(process.env.NO_COLOR).toBe('1');
  });

  it('puts the expected device at each BDF', () => {
    expect([attr(env.edu, 'vendor'), attr(env.edu, 'device')]).toEqual(['0x1234', '0x11e8']);
    expect([attr(env.ivshmem, 'vendor'), attr(env.ivshmem, 'device')]).toEqual(['0x1af4', '0x1110']);
    expect(attr(env.nvme, 'class')).toBe('0x010802');
    expect([attr(env.pciTestdev, 'vendor'), attr(env.pciTestdev, 'device')]).toEqual(['0x1b36', '0x0005']);
  });

  it('binds every device to vfio-pci', () => {
    for (const b of env.devices) expect([b, linkName(path.join(sysDev(b), 'driver'))]).toEqual([b, 'vfio-pci']);
  });

  it('gives each device its own IOMMU group, and /dev/vfio has exactly those groups plus vfio (and the cdevs)', () => {
    const groups = env.devices.map((b) => linkName(path.join(sysDev(b), 'iommu_group')));
    expect(new Set(groups).size).toBe(env.devices.length);
    for (const g of groups) {
      expect(fs.readdirSync(path.join('/sys/kernel/iommu_groups', g, 'devices'))).toHaveLength(1);
    }
    // A kernel with the VFIO cdev has /dev/vfio/devices too; no-IOMMU groups are named noiommu-N.
    const cdevs = fs.existsSync('/dev/vfio/devices');
    const nodes = groups.map((g) => (env.backend === 'noiommu' ? `noiommu-${g}` : g));
    expect(fs.readdirSync('/dev/vfio').sort()).toEqual([...nodes, 'vfio', ...(cdevs ? ['devices'] : [])].sort());
    if (cdevs) {
      const names = env.devices.map((b) => fs.readdirSync(path.join(sysDev(b), 'vfio-dev'))[0]);
      expect(fs.readdirSync('/dev/vfio/devices').sort()).toEqual(expect.arrayContaining(names));
    }
  });

  it('shares the ivshmem backing file read-only at its host path', () => {
    expect(fs.statSync(env.ivshmemFile).size).toBe(4 << 20);
    expect(() => fs.writeFileSync(env.ivshmemFile, 'x')).toThrow(expect.objectContaining({ code: 'EROFS' }));
  });

  it('mounts debugfs with the PAT memtype list', () => {
    expect(fs.existsSync('/sys/kernel/debug/x86/pat_memtype_list')).toBe(true);
  });

  it('boots with the kernel arguments of the test configuration', () => {
    expect(kernelArg('intel_iommu=on')).toBe(true);
    expect(kernelArg('iomem=relaxed')).toBe(env.config === 'relaxed');
  });
});
