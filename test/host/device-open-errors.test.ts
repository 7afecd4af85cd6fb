// Device.open's refusals before any VFIO call, on a fixture sysfs: each cause has its own code,
// and the hint is the fix for the first thing the fixture host lacks.
import * as fs from 'fs';
import { Device, VfioError } from '../../lib';
import { SysfsTree } from './cli-fixture';

describe('Device.open refusals have distinct codes', () => {
  let tree: SysfsTree;
  beforeAll(() => {
    tree = new SysfsTree([
      { bdf: '0000:02:00.0', vendor: 0x8086, device: 0x1533, class: 0x020000, driver: 'igb', group: 3 },
    ]);
    // A host with VFIO loaded: the modules in sysfs and the container node in a fixture /dev.
    for (const m of ['vfio', 'vfio_pci', 'vfio_iommu_type1']) fs.mkdirSync(tree.p(`module/${m}`), { recursive: true });
    fs.mkdirSync(tree.p('dev/vfio'), { recursive: true });
    fs.writeFileSync(tree.p('dev/vfio/vfio'), '');
  });
  afterAll(() => tree.remove());

  const refusal = (bdf: string, sysfs = tree.root) =>
    Device.open(bdf, { sysfs, vfioDir: tree.p('dev/vfio') }).then(
      () => {
        throw new Error(`${bdf} opened`);
      },
      (e: unknown) => e as VfioError,
    );

  it('a device bound to another driver: VFIO_NOT_BOUND with the binding hint', async () => {
    const e = await refusal('0000:02:00.0');
    expect(e).toBeInstanceOf(VfioError);
    expect(e).toMatchObject({ code: 'VFIO_NOT_BOUND', errno: undefined, op: 'Device.open', device: '0000:02:00.0' });
    expect(e.hint).toMatch(/vfio bind 0000:02:00\.0/);
  });

  it('the same device on a host without vfio loaded: the modules are the root cause', async () => {
    const bare = new SysfsTree([{ bdf: '0000:02:00.0', driver: 'igb', group: 3 }], []);
    try {
      const e = await refusal('0000:02:00.0', bare.root);
      expect(e).toMatchObject({ code: 'VFIO_NOT_BOUND', device: '0000:02:00.0' });
      expect(e.message).toMatch(/vfio and vfio-pci modules: not loaded: .*vfio_pci/);
      expect(e.hint).not.toMatch(/vfio bind/);
    } finally {
      bare.remove();
    }
  });

  it('no device at the address: VFIO_NO_DEVICE', async () => {
    const e = await refusal('0000:02:01.0');
    expect(e).toBeInstanceOf(VfioError);
    expect(e).toMatchObject({ code: 'VFIO_NO_DEVICE', errno: undefined, op: 'Device.open' });
    expect(e.message).toMatch(/no PCI device 0000:02:01\.0/);
  });
});
