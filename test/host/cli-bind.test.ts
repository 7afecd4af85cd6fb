// bind/unbind decisions and their sysfs writes, on a fixture sysfs tree (the success path, where
// the kernel really rebinds, is tested inside the emulated host: test/guest/cli.test.ts).
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { bind, unbind, vfioHolders } from '../../lib/cli/commands/bind';
import { prefetchableBars } from '../../lib/cli/commands/cookies';
import { colors } from '../../lib/cli/format';
import { formatList, gatherList, vfioAccess } from '../../lib/cli/commands/list';
import { CliError } from '../../lib/cli/report';
import { ivshmemResourceFile } from '../fixtures/devices';
import { SysfsTree } from './cli-fixture';
import { must } from '../support/must';

const GPU = '0000:01:00.0';
const AUDIO = '0000:01:00.1';
const NIC = '0000:02:00.0';
const PORT = '0000:00:01.0';

let tree: SysfsTree;
let stateDir: string;
const env = (uid = 0) => ({
  sysfs: tree.root,
  uid,
  stateDir,
  holders: () => [],
  loadDriver: () => undefined,
  invocation: { cli: 'vfio', root: uid === 0, sudo: true },
});

beforeEach(() => {
  tree = new SysfsTree([
    { bdf: PORT, class: 0x060400, driver: 'pcieport', group: 1 },
    { bdf: GPU, vendor: 0x10de, device: 0x1eb8, class: 0x030200, driver: 'nouveau', group: 2 },
    { bdf: AUDIO, vendor: 0x10de, device: 0x10f8, class: 0x040300, driver: 'snd_hda_intel', group: 2 },
    { bdf: NIC, vendor: 0x8086, device: 0x1533, class: 0x020000, driver: 'igb', group: 3 },
  ]);
  stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'vfio-cli-state-'));
});

afterEach(() => {
  tree.remove();
  fs.rmSync(stateDir, { recursive: true, force: true });
});

function failure(f: () => unknown): CliError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(CliError);
    return e as CliError;
  }
  throw new Error('expected a CliError');
}

describe('vfio bind refuses', () => {
  it('without root, touching nothing', () => {
    const e = failure(() => bind(NIC, env(1000)));
    expect(e.message).toMatch(/needs root/);
    expect(e.hint).toBe(`sudo vfio bind ${NIC}`);
    expect(tree.read(`bus/pci/devices/${NIC}/driver_override`)).toBe('(null)\n');
    expect(tree.read('bus/pci/drivers/igb/unbind')).toBe('');
  });

  it('when another device of the group is bound to a non-VFIO driver, listing it', () => {
    const e = failure(() => bind(GPU, env()));
    expect(e.message).toContain(`IOMMU group 2 also holds ${AUDIO} (bound to snd_hda_intel)`);
    expect(e.hint).toBe(`bind those first: vfio bind ${AUDIO}`);
    expect(tree.read(`bus/pci/devices/${GPU}/driver_override`)).toBe('(null)\n');
    expect(tree.read('bus/pci/drivers/nouveau/unbind')).toBe('');
    expect(tree.read('bus/pci/drivers_probe')).toBe('');
  });

  it('a device that does not exist', () => {
    expect(failure(() => bind('0000:09:00.0', env())).message).toBe('no PCI device 0000:09:00.0');
  });

  it('when the VFIO driver cannot be loaded', () => {
    fs.rmSync(tree.p('bus/pci/drivers/vfio-pci'), { recursive: true });
    let asked = '';
    const e = failure(() =>
      bind(NIC, {
        ...env(),
        loadDriver: (d: string) => {
          asked = d;
        },
      }),
    );
    expect(asked).toBe('vfio-pci');
    expect(e.message).toBe('driver vfio-pci is not loaded');
    expect(e.hint).toBe('modprobe vfio-pci');
  });
});

describe('vfio bind', () => {
  it('is a no-op when the device already has the driver', () => {
    tree.addDevice({ bdf: '0000:03:00.0', driver: 'vfio-pci', group: 4 });
    const r = bind('0000:03:00.0', env());
    expect(r).toMatchObject({ changed: false, before: 'vfio-pci', after: 'vfio-pci' });
    expect(tree.read('bus/pci/drivers_probe')).toBe('');
  });

  it('writes the override, unbinds, probes, and rolls the override back when the probe does not take', () => {
    // The fixture kernel never rebinds, so this walks the failure path after every write.
    const e = failure(() => bind(NIC, env()));
    expect(e.message).toBe(`vfio-pci did not take ${NIC} (it is now bound to igb)`);
    expect(tree.read('bus/pci/drivers/igb/unbind')).toBe(NIC);
    expect(tree.read('bus/pci/drivers_probe')).toBe(NIC);
    // Cleared: the kernel accepts a lone newline as "no override".
    expect(tree.read(`bus/pci/devices/${NIC}/driver_override`)).toBe('\n');
    // The previous driver is remembered for unbind.
    expect(fs.readFileSync(path.join(stateDir, NIC), 'utf8')).toBe('igb\n');
  });

  it('accepts a group whose other members are bridges on pcieport or unbound', () => {
    tree.addDevice({ bdf: '0000:05:00.0', class: 0x060400, driver: 'pcieport', group: 9 });
    tree.addDevice({ bdf: '0000:05:00.1', group: 9 });
    tree.addDevice({ bdf: '0000:05:00.2', driver: 'xhci_hcd', group: 9 });
    expect(failure(() => bind('0000:05:00.2', env())).message).toMatch(/did not take/);
  });
});

describe('vfio unbind', () => {
  beforeEach(() => {
    tree.addDevice({
      bdf: '0000:06:00.0',
      vendor: 0x8086,
      device: 0x1533,
      driver: 'vfio-pci',
      override: 'vfio-pci',
      group: 6,
    });
  });

  it('needs root', () => {
    expect(failure(() => unbind('0000:06:00.0', env(1000))).message).toMatch(/needs root/);
    expect(tree.read('bus/pci/devices/0000:06:00.0/driver_override')).toBe('vfio-pci\n');
  });

  it('refuses while a process holds the device, naming it', () => {
    const e = failure(() => unbind('0000:06:00.0', { ...env(), holders: () => [4242] }));
    expect(e.message).toBe('0000:06:00.0 is in use: its VFIO group or device file is open in process 4242');
    expect(tree.read('bus/pci/drivers/vfio-pci/unbind')).toBe('');
  });

  it('clears the override, unbinds from VFIO and reprobes', () => {
    const r = unbind('0000:06:00.0', env());
    expect(tree.read('bus/pci/devices/0000:06:00.0/driver_override')).toBe('\n');
    expect(tree.read('bus/pci/drivers/vfio-pci/unbind')).toBe('0000:06:00.0');
    expect(tree.read('bus/pci/drivers_probe')).toBe('0000:06:00.0');
    expect(r).toMatchObject({ changed: true, before: 'vfio-pci', previous: null });
  });

  it('asks the driver remembered by bind when the reprobe finds none, then forgets it', () => {
    // Override set but no driver bound: the state after a failed VFIO probe.
    tree.addDevice({ bdf: '0000:07:00.0', override: 'vfio-pci', group: 7 });
    fs.writeFileSync(path.join(stateDir, '0000:07:00.0'), 'igb\n');
    const r = unbind('0000:07:00.0', env());
    expect(tree.read('bus/pci/devices/0000:07:00.0/driver_override')).toBe('\n');
    expect(tree.read('bus/pci/drivers_probe')).toBe('0000:07:00.0');
    expect(tree.read('bus/pci/drivers/igb/bind')).toBe('0000:07:00.0');
    // The fixture kernel binds nothing, so the message says the old driver did not come back.
    expect(r).toMatchObject({ changed: true, before: null, after: null, previous: 'igb' });
    expect(r.message).toBe(
      '0000:07:00.0: no driver -> no driver (it was bound to igb before `vfio bind`; igb did not take it back)',
    );
    expect(fs.existsSync(path.join(stateDir, '0000:07:00.0'))).toBe(false);
  });

  it('has nothing to do on a device VFIO does not hold', () => {
    const r = unbind(NIC, env());
    expect(r).toMatchObject({ changed: false, before: 'igb', after: 'igb' });
    expect(r.message).toMatch(/nothing to do/);
    expect(tree.read('bus/pci/drivers/igb/unbind')).toBe('');
  });
});

describe('vfioHolders', () => {
  it('finds the processes with the group file or the device cdev open', () => {
    const proc = fs.mkdtempSync(path.join(os.tmpdir(), 'vfio-cli-proc-'));
    try {
      const fd = (pid: number, n: number, target: string) => {
        fs.mkdirSync(path.join(proc, String(pid), 'fd'), { recursive: true });
        fs.symlinkSync(target, path.join(proc, String(pid), 'fd', String(n)));
      };
      fd(100, 3, '/dev/null');
      fd(200, 7, '/dev/vfio/6');
      fd(300, 4, '/dev/vfio/devices/vfio0');
      fd(400, 5, '/dev/vfio/16');
      fs.mkdirSync(tree.p('bus/pci/devices/0000:06:00.0/vfio-dev/vfio0'), { recursive: true });
      fs.mkdirSync(path.join(proc, 'self'));
      expect(vfioHolders('0000:06:00.0', 6, { sysfs: tree.root, proc }).sort()).toEqual([200, 300]);
    } finally {
      fs.rmSync(proc, { recursive: true, force: true });
    }
  });
});

describe('vfio list on the same tree', () => {
  it('explains per device why VFIO cannot use it', () => {
    tree.addDevice({ bdf: '0000:06:00.0', driver: 'vfio-pci', group: 6 });
    const byBdf = Object.fromEntries(
      gatherList({ sysfs: tree.root, pciIds: [], canOpen: () => true }).map((e) => [e.bdf, e]),
    );
    expect(byBdf[PORT].vfio).toEqual({ usable: false, reasons: ['a bridge (not assignable)'], hint: null });
    expect(byBdf[GPU].vfio).toEqual({
      usable: false,
      reasons: ['bound to nouveau', `IOMMU group 2 also holds ${AUDIO} (snd_hda_intel)`],
      hint: `vfio bind ${GPU}`,
    });
    expect(byBdf[NIC]).toMatchObject({
      driver: 'igb',
      iommuGroup: 3,
      className: 'Ethernet controller',
      vendor: 0x8086,
      device: 0x1533,
    });
    expect(byBdf['0000:06:00.0'].vfio).toEqual({ usable: true, reasons: [], hint: null });
  });

  it('reports a VFIO device this user may not open', () => {
    tree.addDevice({ bdf: '0000:06:00.0', driver: 'vfio-pci', group: 6 });
    const e = must(
      gatherList({ sysfs: tree.root, pciIds: [], canOpen: () => false }).find((x) => x.bdf === '0000:06:00.0'),
      '0000:06:00.0 in the gathered list',
    );
    expect(e.vfio).toEqual({
      usable: false,
      reasons: ['no access to /dev/vfio/6'],
      hint: expect.stringMatching(
        /^run as root, or give your user \/dev\/vfio\/6: chown \$USER \/dev\/vfio\/6 \(until the next bind/,
      ),
    });
  });

  it('access through the group file, or the cdev with /dev/iommu; no-IOMMU groups have their own file', () => {
    const only =
      (...files: string[]) =>
      (f: string) =>
        files.includes(f);
    expect(vfioAccess(6, false, 'vfio0', only('/dev/vfio/6'))).toEqual({ ok: true, file: '/dev/vfio/6' });
    expect(vfioAccess(6, false, 'vfio0', only('/dev/vfio/devices/vfio0', '/dev/iommu'))).toEqual({
      ok: true,
      file: '/dev/vfio/devices/vfio0',
    });
    expect(vfioAccess(6, false, 'vfio0', only('/dev/vfio/devices/vfio0'))).toEqual({ ok: false, file: '/dev/vfio/6' });
    expect(vfioAccess(3, true, undefined, only('/dev/vfio/noiommu-3'))).toEqual({
      ok: true,
      file: '/dev/vfio/noiommu-3',
    });
  });

  it('marks a device VFIO runs in no-IOMMU mode', () => {
    tree.addDevice({ bdf: '0000:06:00.0', driver: 'vfio-pci', group: 6 });
    // VFIO names the group's node noiommu-N in no-IOMMU mode (the IOMMU group's own name,
    // 'vfio-noiommu', is shared with mdev groups and does not tell).
    fs.writeFileSync(tree.p('kernel/iommu_groups/6/name'), 'vfio-noiommu\n');
    fs.mkdirSync(tree.p('class/vfio/noiommu-6'), { recursive: true });
    const e = must(
      gatherList({ sysfs: tree.root, pciIds: [], canOpen: () => true }).find((x) => x.bdf === '0000:06:00.0'),
      '0000:06:00.0 in the gathered list',
    );
    expect(e).toMatchObject({ noIommu: true, vfio: { usable: true } });
    expect(formatList([e], colors(false))).toContain('yes, no-IOMMU mode (unsafe: --unsafe-noiommu)');
  });
});

describe('vfio cookies --reserve-wc', () => {
  it('reserves the prefetchable memory BARs (ivshmem: BAR2 only), or the one asked for', () => {
    tree.addDevice({ bdf: '0000:00:04.0', vendor: 0x1af4, device: 0x1110, driver: 'vfio-pci', group: 2 });
    fs.writeFileSync(tree.p('bus/pci/devices/0000:00:04.0/resource'), ivshmemResourceFile());
    expect(prefetchableBars('0000:00:04.0', { sysfs: tree.root })).toEqual([2]);
    expect(prefetchableBars('0000:00:04.0', { sysfs: tree.root }, 2)).toEqual([2]);
    expect(prefetchableBars('0000:00:04.0', { sysfs: tree.root }, 0)).toEqual([]);
    expect(prefetchableBars(NIC, { sysfs: tree.root })).toEqual([]);
  });
});
