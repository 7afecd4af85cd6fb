// Backend selection on made-up facts, and the facts themselves read from a fixture sysfs and
// /dev: PCI functions and an mdev, with and without cdevs, in IOMMU and no-IOMMU mode.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { PermissionError } from '../../lib';
import { cdevOf, isUuid, resolveTarget } from '../../lib/device/target';
import { BackendFacts, backendFacts, chooseBackend, noIommuPath } from '../../lib/iommu/backend';
import { IommuContext, joinedBackend } from '../../lib/iommu/open';
import { thrown } from '../support/errors';

const EDU = '0000:00:03.0';
const UUID = '83b8f4f2-509f-382f-3c1e-e6bfe0fa1001';

function facts(f: Partial<BackendFacts>): BackendFacts {
  return { iommufd: false, container: false, cdev: undefined, group: undefined, noIommu: false, ...f };
}

describe('chooseBackend', () => {
  const debian = facts({ container: true, group: 3 });
  const custom = facts({ container: true, iommufd: true, group: 3, cdev: 'vfio0' });
  const noiommu = facts({ container: true, iommufd: true, group: 0, cdev: 'noiommu-vfio0', noIommu: true });

  it('auto: iommufd when /dev/iommu and the cdev exist, type1 on a kernel without them', () => {
    expect(chooseBackend(EDU, 'auto', custom, false)).toBe('iommufd');
    expect(chooseBackend(EDU, 'auto', debian, false)).toBe('type1');
    // iommufd present but the device has no cdev (CONFIG_VFIO_DEVICE_CDEV off): type1.
    expect(chooseBackend(EDU, 'auto', facts({ container: true, iommufd: true, group: 3 }), false)).toBe('type1');
    // No legacy container but iommufd: its container compatibility.
    expect(chooseBackend(EDU, 'auto', facts({ iommufd: true, group: 3 }), false)).toBe('iommufd-compat');
  });

  it('honours an explicit backend the kernel offers', () => {
    expect(chooseBackend(EDU, 'type1', custom, false)).toBe('type1');
    expect(chooseBackend(EDU, 'iommufd-compat', custom, false)).toBe('iommufd-compat');
    expect(chooseBackend(EDU, 'iommufd', custom, false)).toBe('iommufd');
  });

  it('refuses a backend the kernel lacks, naming what is missing', () => {
    const e = thrown(() => chooseBackend(EDU, 'iommufd', debian, false));
    expect(e.code).toBe('EOPNOTSUPP');
    expect(e.message).toMatch(/no \/dev\/iommu/);
    expect(e.hint).toMatch(/CONFIG_IOMMUFD and CONFIG_VFIO_DEVICE_CDEV/);
    const noCdev = thrown(() => chooseBackend(EDU, 'iommufd', facts({ iommufd: true, group: 3 }), false));
    expect(noCdev.message).toMatch(/has no VFIO cdev/);
    const noContainer = thrown(() =>
      chooseBackend(EDU, 'type1', facts({ iommufd: true, group: 3, cdev: 'vfio0' }), false),
    );
    expect(noContainer.hint).toMatch(/iommufd or iommufd-compat/);
    expect(thrown(() => chooseBackend(EDU, 'iommufd-compat', debian, false)).message).toMatch(/no \/dev\/iommu/);
  });

  it('without a group nor a cdev: VFIO_NO_IOMMU_GROUP with the IOMMU hint', () => {
    const e = thrown(() => chooseBackend(EDU, 'auto', facts({ container: true }), false));
    expect(e.code).toBe('VFIO_NO_IOMMU_GROUP');
    expect(e.errno).toBeUndefined();
    expect(e.hint).toMatch(/IOMMU is off or absent: `npx vfio doctor 0000:00:03\.0` names the fix/);
    const asUser = thrown(() =>
      chooseBackend(EDU, 'type1', facts({}), false, { cli: 'vfio', root: false, sudo: true }),
    );
    expect(asUser.hint).toMatch(/`vfio doctor 0000:00:03\.0`/);
  });

  it('refuses a no-IOMMU device without unsafeNoIommu, whatever was asked', () => {
    for (const b of ['auto', 'noiommu'] as const) {
      const e = thrown(() => chooseBackend(EDU, b, noiommu, false));
      expect(e).toBeInstanceOf(PermissionError);
      expect(e.code).toBe('EPERM');
      expect(e.hint).toMatch(/unsafeNoIommu: true/);
    }
    for (const b of ['type1', 'iommufd', 'iommufd-compat'] as const) {
      expect(thrown(() => chooseBackend(EDU, b, noiommu, true)).code).toBe('EOPNOTSUPP');
    }
  });

  it('opens a no-IOMMU device with unsafeNoIommu: the cdev path if there is one, else the group', () => {
    expect(chooseBackend(EDU, 'auto', noiommu, true)).toBe('noiommu');
    expect(chooseBackend(EDU, 'noiommu', noiommu, true)).toBe('noiommu');
    expect(noIommuPath(noiommu)).toBe('cdev');
    expect(noIommuPath({ ...noiommu, cdev: undefined })).toBe('group');
  });

  it('refuses noiommu for a device behind an IOMMU, and unknown names', () => {
    expect(thrown(() => chooseBackend(EDU, 'noiommu', custom, true)).code).toBe('EOPNOTSUPP');
    const e = thrown(() => chooseBackend(EDU, 'vfio' as never, custom, false));
    expect(e.code).toBe('EINVAL');
    expect(e.message).toMatch(/unknown backend "vfio"/);
  });
});

describe('joinedBackend: a device joining a context', () => {
  const ctx = (backend: string, unsafe = false, closed = false) =>
    ({ backend, unsafe, closed }) as unknown as IommuContext;

  it("takes the context's backend; an explicit one must agree", () => {
    expect(joinedBackend(EDU, ctx('iommufd'), undefined, false)).toBe('iommufd');
    expect(joinedBackend(EDU, ctx('type1'), 'auto', false)).toBe('type1');
    expect(joinedBackend(EDU, ctx('type1'), 'type1', false)).toBe('type1');
    const e = thrown(() => joinedBackend(EDU, ctx('type1'), 'iommufd', false));
    expect([e.code, e.message]).toEqual([
      'EINVAL',
      'Device.open: backend iommufd was asked for, but the context to join is type1',
    ]);
  });

  it('a no-IOMMU context still needs the opt-in; a closed one is refused', () => {
    expect(thrown(() => joinedBackend(EDU, ctx('noiommu', true), undefined, false))).toBeInstanceOf(PermissionError);
    expect(joinedBackend(EDU, ctx('noiommu', true), undefined, true)).toBe('noiommu');
    expect(thrown(() => joinedBackend(EDU, ctx('iommufd', false, true), undefined, false)).code).toBe('ECLOSED');
  });
});

/** A sysfs and /dev fixture: what the custom kernel showed for edu, a no-IOMMU device and the mtty mdev. */
class Fixture {
  readonly root = fs.mkdtempSync(path.join(os.tmpdir(), 'vfio-backend-'));
  readonly sysfs = path.join(this.root, 'sys');
  readonly dev = path.join(this.root, 'dev');

  p(rel: string): string {
    return path.join(this.sysfs, rel);
  }

  link(target: string, at: string): void {
    fs.mkdirSync(path.dirname(at), { recursive: true });
    fs.symlinkSync(path.relative(path.dirname(at), target), at);
  }

  device(
    dir: string,
    o: {
      bus: 'pci' | 'mdev';
      driver?: string;
      group?: number;
      noIommuGroup?: boolean;
      cdev?: string;
      devNode?: boolean;
    },
  ): void {
    fs.mkdirSync(dir, { recursive: true });
    this.link(this.p(`bus/${o.bus}`), path.join(dir, 'subsystem'));
    if (o.driver) this.link(this.p(`bus/${o.bus}/drivers/${o.driver}`), path.join(dir, 'driver'));
    if (o.group !== undefined) {
      const g = this.p(`kernel/iommu_groups/${o.group}`);
      fs.mkdirSync(g, { recursive: true });
      // VFIO names the software group of a no-IOMMU device and of an mdev alike; only the no-IOMMU
      // one's VFIO group node is noiommu-N.
      if (o.noIommuGroup !== undefined) fs.writeFileSync(path.join(g, 'name'), 'vfio-noiommu\n');
      if (o.noIommuGroup) fs.mkdirSync(this.p(`class/vfio/noiommu-${o.group}`), { recursive: true });
      this.link(g, path.join(dir, 'iommu_group'));
    }
    if (o.cdev) {
      fs.mkdirSync(path.join(dir, 'vfio-dev', o.cdev), { recursive: true });
      if (o.devNode !== false) {
        fs.mkdirSync(path.join(this.dev, 'vfio/devices'), { recursive: true });
        fs.writeFileSync(path.join(this.dev, 'vfio/devices', o.cdev), '');
      }
    }
  }

  remove(): void {
    fs.rmSync(this.root, { recursive: true, force: true });
  }
}

describe('device targets and facts from sysfs', () => {
  let fx: Fixture;
  beforeAll(() => {
    fx = new Fixture();
    fx.device(fx.p(`devices/pci0000:00/${EDU}`), { bus: 'pci', driver: 'vfio-pci', group: 5, cdev: 'vfio0' });
    fx.link(fx.p(`devices/pci0000:00/${EDU}`), fx.p(`bus/pci/devices/${EDU}`));
    fx.device(fx.p('bus/pci/devices/0000:00:04.0'), {
      bus: 'pci',
      driver: 'vfio-pci',
      group: 0,
      noIommuGroup: true,
      cdev: 'noiommu-vfio1',
    });
    fx.device(fx.p('bus/pci/devices/0000:00:06.0'), { bus: 'pci', driver: 'vfio-pci', group: 1, noIommuGroup: true });
    fx.device(fx.p('bus/pci/devices/0000:00:05.0'), {
      bus: 'pci',
      driver: 'vfio-pci',
      group: 6,
      cdev: 'vfio2',
      devNode: false,
    });
    fx.device(fx.p(`devices/virtual/mtty/mtty/${UUID}`), {
      bus: 'mdev',
      driver: 'mtty',
      group: 7,
      noIommuGroup: false,
      cdev: 'vfio3',
    });
    fx.link(fx.p(`devices/virtual/mtty/mtty/${UUID}`), fx.p(`bus/mdev/devices/${UUID}`));
    fs.mkdirSync(path.join(fx.dev, 'vfio'), { recursive: true });
    fs.writeFileSync(path.join(fx.dev, 'vfio/vfio'), '');
    fs.writeFileSync(path.join(fx.dev, 'iommu'), '');
  });
  afterAll(() => fx.remove());

  const nodes = () => ({ vfioDir: path.join(fx.dev, 'vfio'), iommufdPath: path.join(fx.dev, 'iommu') });

  it('a PCI function by address: driver, group, cdev; auto picks iommufd', () => {
    const t = resolveTarget('00:03.0', { sysfs: fx.sysfs });
    expect(t).toEqual({
      name: EDU,
      bus: 'pci',
      sysfsPath: fx.p(`bus/pci/devices/${EDU}`),
      driver: 'vfio-pci',
      group: 5,
      noIommu: false,
      cdev: 'vfio0',
    });
    const f = backendFacts(t, nodes());
    expect(f).toEqual({ iommufd: true, container: true, cdev: 'vfio0', group: 5, noIommu: false });
    expect(chooseBackend(t.name, 'auto', f, false)).toBe('iommufd');
  });

  it('a cdev sysfs lists but /dev lacks does not count', () => {
    const t = resolveTarget('0000:00:05.0', { sysfs: fx.sysfs });
    expect(t.cdev).toBe('vfio2');
    const f = backendFacts(t, nodes());
    expect(f.cdev).toBeUndefined();
    expect(chooseBackend(t.name, 'auto', f, false)).toBe('type1');
  });

  it('no-IOMMU mode is read from the cdev name, or from the VFIO group node without a cdev', () => {
    const t = resolveTarget('0000:00:04.0', { sysfs: fx.sysfs });
    expect(t).toMatchObject({ group: 0, noIommu: true, cdev: 'noiommu-vfio1' });
    expect(chooseBackend(t.name, 'auto', backendFacts(t, nodes()), true)).toBe('noiommu');
    const groupOnly = resolveTarget('0000:00:06.0', { sysfs: fx.sysfs });
    expect(groupOnly).toMatchObject({ group: 1, noIommu: true, cdev: undefined });
    expect(noIommuPath(backendFacts(groupOnly, nodes()))).toBe('group');
  });

  it('an mdev by UUID (any case) and by sysfs path; its software group is not no-IOMMU mode', () => {
    const byUuid = resolveTarget(UUID.toUpperCase(), { sysfs: fx.sysfs });
    expect(byUuid).toEqual({
      name: UUID,
      bus: 'mdev',
      sysfsPath: fx.p(`bus/mdev/devices/${UUID}`),
      driver: 'mtty',
      group: 7,
      noIommu: false,
      cdev: 'vfio3',
    });
    const byPath = resolveTarget(fx.p(`devices/virtual/mtty/mtty/${UUID}`), { sysfs: fx.sysfs });
    expect(byPath).toMatchObject({ name: UUID, bus: 'mdev', group: 7, cdev: 'vfio3' });
    expect(isUuid(UUID)).toBe(true);
    expect(isUuid('0000:00:03.0')).toBe(false);
  });

  it('a PCI function by sysfs path', () => {
    expect(resolveTarget(fx.p(`devices/pci0000:00/${EDU}`), { sysfs: fx.sysfs })).toMatchObject({
      name: EDU,
      bus: 'pci',
      group: 5,
    });
  });

  it('names what is wrong with an address', () => {
    expect(() => resolveTarget('nonsense', { sysfs: fx.sysfs })).toThrow(
      /is not a PCI address \(expected DDDD:BB:DD.F\), an mdev UUID or a sysfs path/,
    );
    const missing = thrown(() => resolveTarget('0000:00:1f.0', { sysfs: fx.sysfs }));
    expect(missing.code).toBe('VFIO_NO_DEVICE');
    expect(missing.message).toMatch(/no PCI device 0000:00:1f.0/);
    const noMdev = thrown(() => resolveTarget('00000000-0000-0000-0000-000000000000', { sysfs: fx.sysfs }));
    expect(noMdev.code).toBe('VFIO_NO_DEVICE');
    expect(noMdev.hint).toMatch(/mdev_supported_types/);
    expect(thrown(() => resolveTarget(path.join(fx.sysfs, 'nope'), { sysfs: fx.sysfs })).code).toBe('VFIO_NO_DEVICE');
  });

  it('cdevOf is undefined without a vfio-dev directory', () => {
    expect(cdevOf(fx.p('kernel'))).toBeUndefined();
  });
});
