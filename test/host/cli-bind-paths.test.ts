// `vfio bind` cannot be steered into writing anywhere but the device's own sysfs files: the
// address and driver name are validated, the device directory must resolve under
// <sysfs>/devices, and no write follows a symlink (driver_override, state files).
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { bind, unbind } from '../../lib/cli/commands/bind';
import { checkBdf, checkDriverName } from '../../lib/cli/commands/bind-paths';
import { ruleFile, ruleText } from '../../lib/cli/commands/bind-persist';
import { CliError } from '../../lib/cli/report';
import { SysfsTree } from './cli-fixture';

const NIC = '0000:02:00.0';
let tree: SysfsTree;
let stateDir: string;
let victim: string;
const loaded: string[] = [];
const env = () => ({
  sysfs: tree.root,
  uid: 0,
  stateDir,
  holders: () => [],
  loadDriver: (d: string) => {
    loaded.push(d);
  },
  invocation: { cli: 'vfio', root: true, sudo: false },
});

beforeEach(() => {
  tree = new SysfsTree([{ bdf: NIC, vendor: 0x8086, device: 0x1533, class: 0x020000, driver: 'igb', group: 3 }]);
  stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'vfio-cli-state-'));
  victim = path.join(tree.root, 'victim');
  fs.writeFileSync(victim, 'precious\n');
  loaded.length = 0;
});

afterEach(() => {
  tree.remove();
  fs.rmSync(stateDir, { recursive: true, force: true });
});

function refused(f: () => unknown, message: RegExp): void {
  let err: unknown;
  try {
    f();
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(CliError);
  expect((err as Error).message).toMatch(message);
}

const untouched = () => {
  expect(fs.readFileSync(victim, 'utf8')).toBe('precious\n');
  expect(tree.read('bus/pci/drivers_probe')).toBe('');
  expect(tree.read('bus/pci/drivers/igb/unbind')).toBe('');
};

describe('validation', () => {
  it('PCI addresses: lspci short forms normalised, anything else refused', () => {
    expect(checkBdf('02:00.0')).toBe(NIC);
    expect(checkBdf('0000:AF:1f.7')).toBe('0000:af:1f.7');
    for (const bad of ['../../..', '0000:02:00.0/../..', '02:00.0/x', '', 'vfio-pci', '02:00.8', 42]) {
      expect(() => checkBdf(bad)).toThrow(CliError);
    }
  });

  it('driver names: letters, digits, _ and - only, no leading -', () => {
    expect(checkDriverName('vfio-pci')).toBe('vfio-pci');
    expect(checkDriverName('mlx5_vfio_pci')).toBe('mlx5_vfio_pci');
    for (const bad of ['../vfio-pci', 'vfio pci', '-r', 'vfio-pci\n', 'a/b', '', 'x'.repeat(65)]) {
      expect(() => checkDriverName(bad)).toThrow(CliError);
    }
  });
});

describe('vfio bind refuses to write outside the device', () => {
  it('a ../../.. address that reaches a directory shaped like a device', () => {
    // Everything the old bind needed: an IOMMU group link and a driver_override file.
    const fake = path.join(tree.root, 'fake');
    fs.mkdirSync(path.join(tree.root, 'kernel/iommu_groups/8/devices'), { recursive: true });
    fs.mkdirSync(fake);
    fs.symlinkSync('../kernel/iommu_groups/8', path.join(fake, 'iommu_group'));
    fs.symlinkSync(victim, path.join(fake, 'driver_override'));
    refused(() => bind('../../../fake', env()), /is not a PCI address/);
    untouched();
  });

  it('a driver_override replaced by a symlink', () => {
    const file = tree.dev(NIC, 'driver_override');
    fs.rmSync(file);
    fs.symlinkSync(victim, file);
    refused(() => bind(NIC, env()), /driver_override is a symbolic link/);
    untouched();
    expect(fs.existsSync(path.join(stateDir, NIC))).toBe(false);
  });

  it('a bus link that leaves <sysfs>/devices', () => {
    const elsewhere = path.join(tree.root, 'elsewhere/0000:0a:00.0');
    fs.mkdirSync(elsewhere, { recursive: true });
    fs.writeFileSync(path.join(elsewhere, 'driver_override'), '(null)\n');
    fs.symlinkSync(elsewhere, tree.p('bus/pci/devices/0000:0a:00.0'));
    refused(() => bind('0a:00.0', env()), /outside .*devices/);
    expect(fs.readFileSync(path.join(elsewhere, 'driver_override'), 'utf8')).toBe('(null)\n');
  });

  it('a state file planted as a symlink', () => {
    fs.symlinkSync(victim, path.join(stateDir, NIC));
    refused(() => bind(NIC, env()), /is a symbolic link/);
    untouched();
    expect(tree.read(`bus/pci/devices/${NIC}/driver_override`)).toBe('(null)\n');
  });

  it('a driver name with a path or an option in it, before loading anything', () => {
    for (const d of ['../../../victim', '-r', 'vfio-pci;reboot']) {
      refused(() => bind(NIC, env(), d), /is not a driver name/);
    }
    expect(loaded).toEqual([]);
    untouched();
  });

  it('a driver that is not a VFIO driver', () => {
    refused(() => bind(NIC, env(), 'e1000e'), /is not a VFIO driver/);
    expect(loaded).toEqual([]);
  });
});

describe('vfio unbind', () => {
  it('refuses a ../ address and never follows a state-file link when reading', () => {
    refused(() => unbind('../../..', env()), /is not a PCI address/);
    tree.addDevice({ bdf: '0000:06:00.0', driver: 'vfio-pci', override: 'vfio-pci', group: 6 });
    fs.symlinkSync(victim, path.join(stateDir, '0000:06:00.0'));
    const r = unbind('0000:06:00.0', env());
    expect(r.previous).toBeNull();
    expect(fs.readFileSync(victim, 'utf8')).toBe('precious\n');
  });
});

describe('--persist rule', () => {
  it('is per device and names only validated strings', () => {
    expect(ruleFile(NIC, '/etc/udev/rules.d')).toBe('/etc/udev/rules.d/70-vfio-bind-0000-02-00-0.rules');
    expect(ruleText(NIC, 'vfio-pci')).toContain(
      'KERNEL=="0000:02:00.0", RUN+="/sbin/modprobe -q vfio-pci", ATTR{driver_override}="vfio-pci"',
    );
    expect(() => ruleText(NIC, 'x"; RUN+="/bin/sh')).toThrow(CliError);
  });
});
