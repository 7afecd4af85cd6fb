// A mediated device: the kernel's mtty sample (a virtual serial card, loaded by the custom
// configurations). Opened by UUID and by sysfs path through the configuration's backend (its
// cdev on iommufd, its group on type1); config space, regions and IRQ info as the sample
// defines them.
import * as fs from 'fs';
import {
  VFIO_IRQ_INFO_AUTOMASKED,
  VFIO_IRQ_INFO_EVENTFD,
  VFIO_IRQ_INFO_MASKABLE,
  VFIO_IRQ_INFO_NORESIZE,
} from '../../lib/abi';
import { describeIf, guestEnv, openDevice } from './env';

const env = guestEnv();
const PARENT = '/sys/class/mdev_bus/mtty';
const UUID = 'a9d2c6f0-6b4e-4c1f-9d0e-3f1b2c7d8e01';
const DEV = `/sys/bus/mdev/devices/${UUID}`;
const withMtty = describeIf(fs.existsSync(PARENT), 'no mtty module loaded (the custom-kernel configurations load it)');

withMtty('mtty mdev', () => {
  beforeAll(() => {
    // mtty-2: a card with two ports (BAR0 and BAR1).
    if (!fs.existsSync(DEV)) fs.writeFileSync(`${PARENT}/mdev_supported_types/mtty-2/create`, UUID);
  });
  afterAll(() => {
    if (fs.existsSync(DEV)) fs.writeFileSync(`${DEV}/remove`, '1');
  });

  it('sysfs: mtty driver, an IOMMU group and a VFIO cdev', () => {
    expect(fs.readlinkSync(`${DEV}/driver`)).toMatch(/\/mtty$/);
    expect(fs.readdirSync(`${DEV}/vfio-dev`)[0]).toMatch(/^vfio\d+$/);
  });

  it('opens by UUID: config space reads vendor 4348, device 3253', async () => {
    await using dev = await openDevice(UUID);
    expect([dev.bus, dev.bdf, dev.sysfsPath]).toEqual(['mdev', UUID, DEV]);
    expect(dev.backend).toBe(env.backend === 'auto' ? 'iommufd' : env.backend);
    expect(dev.info.flags.pci).toBe(true);
    expect(dev.config.read16(0)).toBe(0x4348);
    expect(dev.config.read16(2)).toBe(0x3253);
    expect(dev.config.read32(0x2c)).toBe(0x32534348); // subsystem ids
    expect(dev.config.read8(0x3d)).toBe(1); // INTA#
  });

  it('regions: two 8-byte I/O BARs and a 255-byte config space, read/write, nothing mappable', async () => {
    await using dev = await openDevice(UUID.toUpperCase());
    const sized = dev.regions.filter((r) => r.size > 0n).map((r) => [r.name, r.size]);
    expect(sized).toEqual([
      ['BAR0', 8n],
      ['BAR1', 8n],
      ['CONFIG', 0xffn],
    ]);
    for (const r of dev.regions) {
      expect(r.flags.read && r.flags.write).toBe(true);
      expect(r.flags.mmap).toBe(false);
    }
  });

  it('IRQs: INTx (maskable, automasked) and one MSI vector', async () => {
    await using dev = await openDevice(DEV);
    expect(dev.irqs.map((i) => [i.name, i.count, i.rawFlags])).toEqual([
      ['INTX', 1, VFIO_IRQ_INFO_EVENTFD | VFIO_IRQ_INFO_MASKABLE | VFIO_IRQ_INFO_AUTOMASKED],
      ['MSI', 1, VFIO_IRQ_INFO_EVENTFD | VFIO_IRQ_INFO_NORESIZE],
    ]);
  });

  it('the UART answers through BAR0: scratch register round trip', async () => {
    await using dev = await openDevice(UUID);
    const bar0 = dev.bar(0);
    // 16550 scratch register (offset 7) keeps what is written.
    bar0.write8(7, 0x5a);
    expect(bar0.read8(7)).toBe(0x5a);
  });
});
