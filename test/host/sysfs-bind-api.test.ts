// The public bind API (sysfs.bind/unbind/groupViability) on a fixture sysfs: typed results and
// refusals as VfioErrors with their own code.
import { VfioError, sysfs } from '../../lib';
import { SysfsTree } from './cli-fixture';

describe('sysfs bind API', () => {
  let tree: SysfsTree;
  beforeAll(() => {
    tree = new SysfsTree([
      { bdf: '0000:02:00.0', vendor: 0x8086, device: 0x1533, class: 0x020000, driver: 'igb', group: 3 },
      { bdf: '0000:02:00.1', vendor: 0x8086, device: 0x1533, class: 0x020000, driver: 'igb', group: 3 },
      { bdf: '0000:03:00.0', vendor: 0x1b36, device: 0x0010, class: 0x010802, driver: 'vfio-pci', group: 4 },
    ]);
  });
  afterAll(() => tree.remove());

  it('groupViability lists the members and what blocks the group', () => {
    const v = sysfs.groupViability('0000:02:00.0', { sysfs: tree.root });
    expect(v.group).toBe(3);
    expect(v.members.map((m) => m.bdf)).toEqual(['0000:02:00.0', '0000:02:00.1']);
    expect(v.blocking).toEqual([{ bdf: '0000:02:00.1', driver: 'igb' }]);
    expect(v.viable).toBe(false);
    expect(sysfs.groupViability('0000:03:00.0', { sysfs: tree.root })).toMatchObject({
      group: 4,
      blocking: [],
      viable: true,
    });
  });

  it('bind refuses with VFIO_BIND_REFUSED and the reason', () => {
    let e: unknown;
    try {
      sysfs.bind('0000:09:00.0', { sysfs: tree.root, dryRun: true });
    } catch (err) {
      e = err;
    }
    expect(e).toBeInstanceOf(VfioError);
    expect(e).toMatchObject({ code: 'VFIO_BIND_REFUSED', op: 'sysfs.bind', device: '0000:09:00.0', errno: undefined });
    expect((e as VfioError).message).toMatch(/no PCI device/);
  });

  it('bind of a device already on the driver changes nothing', () => {
    const r = sysfs.bind('0000:03:00.0', { sysfs: tree.root, dryRun: true });
    expect(r).toMatchObject({ bdf: '0000:03:00.0', before: 'vfio-pci', after: 'vfio-pci', changed: false });
  });
});
