// Device.open's refusals before any VFIO call, on a fixture sysfs: each cause has its own code.
import { Device, VfioError } from '../../lib';
import { SysfsTree } from './cli-fixture';

describe('Device.open refusals have distinct codes', () => {
  let tree: SysfsTree;
  beforeAll(() => {
    tree = new SysfsTree([
      { bdf: '0000:02:00.0', vendor: 0x8086, device: 0x1533, class: 0x020000, driver: 'igb', group: 3 },
    ]);
  });
  afterAll(() => tree.remove());

  const refusal = (bdf: string) =>
    Device.open(bdf, { sysfs: tree.root }).then(
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

  it('no device at the address: VFIO_NO_DEVICE', async () => {
    const e = await refusal('0000:02:01.0');
    expect(e).toBeInstanceOf(VfioError);
    expect(e).toMatchObject({ code: 'VFIO_NO_DEVICE', errno: undefined, op: 'Device.open' });
    expect(e.message).toMatch(/no PCI device 0000:02:01\.0/);
  });
});
