// sysfs readers and the hints built from them, on a fixture tree shaped like /sys.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { groupNotViableHint } from '../../lib/system/hints';
import * as sysfs from '../../lib/system/sysfs';

let root: string;

function device(bdf: string, o: { driver?: string; group: number; vendor?: string; device?: string; cls?: string }) {
  const dir = path.join(root, 'bus/pci/devices', bdf);
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'vendor'), `${o.vendor ?? '0x1234'}\n`);
  fs.writeFileSync(path.join(dir, 'device'), `${o.device ?? '0x11e8'}\n`);
  fs.writeFileSync(path.join(dir, 'class'), `${o.cls ?? '0x00ff00'}\n`);
  if (o.driver) {
    fs.mkdirSync(path.join(root, 'bus/pci/drivers', o.driver), { recursive: true });
    fs.symlinkSync(path.join(root, 'bus/pci/drivers', o.driver), path.join(dir, 'driver'));
  }
  const g = path.join(root, 'kernel/iommu_groups', String(o.group));
  fs.mkdirSync(path.join(g, 'devices'), { recursive: true });
  fs.symlinkSync(g, path.join(dir, 'iommu_group'));
  fs.symlinkSync(dir, path.join(g, 'devices', bdf));
}

beforeEach(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'vfio-sysfs-'));
  device('0000:00:03.0', { driver: 'vfio-pci', group: 5 });
  device('0000:00:03.1', { driver: 'e1000e', group: 5, vendor: '0x8086', device: '0x10d3', cls: '0x020000' });
  device('0000:00:03.2', { group: 5 });
  device('0000:00:04.0', { driver: 'nvme', group: 6 });
});
afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

it('reads drivers, groups, ids and group members', () => {
  const o = { sysfs: root };
  expect(sysfs.driverOf('0000:00:03.0', o)).toBe('vfio-pci');
  expect(sysfs.driverOf('0000:00:03.2', o)).toBeUndefined();
  expect(sysfs.iommuGroupOf('0000:00:04.0', o)).toBe(6);
  expect(sysfs.pciIds('0000:00:03.1', o)).toMatchObject({ vendor: 0x8086, device: 0x10d3, class: 0x020000 });
  expect(sysfs.groupMembers(5, o)).toEqual([
    { bdf: '0000:00:03.0', driver: 'vfio-pci' },
    { bdf: '0000:00:03.1', driver: 'e1000e' },
    { bdf: '0000:00:03.2', driver: undefined },
  ]);
  expect(sysfs.listPciDevices(o)).toHaveLength(4);
});

it('the not-viable hint lists exactly the group members bound to other drivers', () => {
  const hint = groupNotViableHint(5, '0000:00:03.0', { sysfs: root });
  expect(hint).toMatch(/IOMMU group 5/);
  expect(hint).toMatch(/bind these too: 0000:00:03\.1 \(e1000e\): (sudo )?(npx )?vfio bind 0000:00:03\.1$/);
  expect(groupNotViableHint(5, '0000:00:03.0', { sysfs: root }, { cli: 'npx vfio', root: false, sudo: true })).toMatch(
    /: sudo npx vfio bind 0000:00:03\.1$/,
  );
  expect(hint).not.toMatch(/03\.2/); // no driver is fine for viability
});
