// `vfio bind` refuses a device the host uses (or whose group holds one) unless --force, writes
// nothing before every check passed, --dry-run lists the writes, --persist writes a udev rule
// that unbind removes; and `vfio doctor` through the CLI: its table, JSON and exit status.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { bind, unbind } from '../../lib/cli/commands/bind';
import { main } from '../../lib/cli/program';
import { CliError, Runtime } from '../../lib/cli/report';
import { HostTree } from './doctor-fixture';

const NIC = '0000:02:00.0';
const DISK = '0000:01:00.0';
let t: HostTree;
let state: string;
let rules: string;

beforeEach(() => {
  t = new HostTree([
    { bdf: '0000:00:03.0', driver: 'vfio-pci', override: 'vfio-pci', group: 1 },
    { bdf: NIC, vendor: 0x8086, device: 0x1533, class: 0x020000, driver: 'igb', group: 3 },
    { bdf: DISK, class: 0x010802, driver: 'nvme', group: 4 },
    { bdf: '0000:01:00.1', class: 0x010802, group: 4 },
  ]);
  state = fs.mkdtempSync(path.join(os.tmpdir(), 'vfio-bind-state-'));
  rules = fs.mkdtempSync(path.join(os.tmpdir(), 'vfio-bind-rules-'));
});
afterEach(() => {
  t.remove();
  fs.rmSync(state, { recursive: true, force: true });
  fs.rmSync(rules, { recursive: true, force: true });
});

const env = () => ({
  sysfs: t.root,
  proc: t.h('proc'),
  uid: 0,
  stateDir: state,
  udevRulesDir: rules,
  holders: () => [],
  loadDriver: () => undefined,
  invocation: { cli: 'vfio', root: true, sudo: false },
});

function refusal(f: () => unknown): CliError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(CliError);
    return e as CliError;
  }
  throw new Error('expected a refusal');
}

const nothingWritten = (bdf: string, driver: string) => {
  expect(t.read(`bus/pci/devices/${bdf}/driver_override`)).toBe('(null)\n');
  expect(t.read(`bus/pci/drivers/${driver}/unbind`)).toBe('');
  expect(t.read('bus/pci/drivers_probe')).toBe('');
  expect(fs.readdirSync(state)).toEqual([]);
};

describe('vfio bind refuses a device the host uses', () => {
  it('a network interface that is up, then one that carries a route; --force takes it', () => {
    t.netdev(NIC, 'enp2s0', 0x1003);
    const e = refusal(() => bind(NIC, env()));
    expect(e.message).toBe(`${NIC} is in use by the host: network interface enp2s0 is up`);
    expect(e.hint).toMatch(/--force/);
    nothingWritten(NIC, 'igb');
    fs.writeFileSync(t.dev(NIC, 'net/enp2s0/flags'), '0x1002\n');
    t.file(
      'proc/net/ipv6_route',
      'fe800000000000000000000000000000 40 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000000 00000000 00000001 enp2s0\n',
      true,
    );
    expect(refusal(() => bind(NIC, env())).message).toBe(
      `${NIC} is in use by the host: network interface enp2s0 carries a route`,
    );
    nothingWritten(NIC, 'igb');
    // The fixture kernel never rebinds: --force gets as far as the probe.
    expect(refusal(() => bind(NIC, env(), 'vfio-pci', { force: true })).message).toBe(
      `vfio-pci did not take ${NIC} (it is now bound to igb)`,
    );
    expect(t.read('bus/pci/drivers_probe')).toBe(NIC);
  });

  it('a disk with a mounted file system, and any member of its group', () => {
    t.block(DISK, 'nvme0n1', '259:0');
    t.file('proc/self/mountinfo', '22 1 259:0 / / rw - ext4 /dev/nvme0n1 rw\n', true);
    expect(refusal(() => bind(DISK, env())).message).toBe(
      `${DISK} is in use by the host: block device nvme0n1 is mounted on /`,
    );
    // 01:00.1 has no driver, so the group is viable; but its sibling holds the root file system.
    expect(refusal(() => bind('0000:01:00.1', env())).message).toBe(
      `0000:01:00.1 is in use by the host: ${DISK} (same IOMMU group): block device nvme0n1 is mounted on /`,
    );
    expect(t.read('bus/pci/drivers_probe')).toBe('');
  });

  it('the boot VGA device', () => {
    t.addDevice({ bdf: '0000:00:02.0', class: 0x030000, driver: 'i915', group: 5 });
    fs.writeFileSync(t.dev('0000:00:02.0', 'boot_vga'), '1\n');
    expect(refusal(() => bind('0000:00:02.0', env())).message).toMatch(/the boot VGA device/);
    nothingWritten('0000:00:02.0', 'i915');
  });
});

describe('vfio bind --dry-run and --persist', () => {
  it('--dry-run checks and lists the writes, writes nothing, needs no root', () => {
    const r = bind(NIC, { ...env(), uid: 1000 }, 'vfio-pci', { dryRun: true, persist: true });
    const dev = t.dev(NIC);
    expect(r.steps).toEqual([
      `remember igb in ${path.join(state, NIC)}`,
      `write vfio-pci > ${dev}/driver_override`,
      `write ${NIC} > ${fs.realpathSync(t.p('bus/pci/drivers/igb'))}/unbind`,
      `write ${NIC} > ${fs.realpathSync(t.root)}/bus/pci/drivers_probe`,
      `write ${rules}/70-vfio-bind-0000-02-00-0.rules (a udev rule that binds ${NIC} to vfio-pci at every boot)`,
    ]);
    expect(r.message.split('\n')[0]).toBe(`${NIC}: igb -> vfio-pci (dry run: nothing written)`);
    nothingWritten(NIC, 'igb');
    expect(fs.readdirSync(rules)).toEqual([]);
  });

  it('--dry-run still refuses what bind would refuse', () => {
    t.netdev(NIC, 'enp2s0', 0x1);
    expect(refusal(() => bind(NIC, { ...env(), uid: 1000 }, 'vfio-pci', { dryRun: true })).message).toMatch(
      /is in use by the host/,
    );
  });

  it('--persist writes the rule (on a device already bound too); unbind removes it', () => {
    const r = bind('0000:00:03.0', env(), 'vfio-pci', { persist: true });
    expect(r.changed).toBe(false);
    const file = path.join(rules, '70-vfio-bind-0000-00-03-0.rules');
    expect(fs.readFileSync(file, 'utf8')).toMatch(/^ACTION=="add", SUBSYSTEM=="pci", KERNEL=="0000:00:03\.0"/m);
    const u = unbind('0000:00:03.0', env());
    expect(u.message).toMatch(new RegExp(`removed ${file}$`));
    expect(fs.existsSync(file)).toBe(false);
  });

  it('--persist without udev says so, and how else to do it', () => {
    fs.rmSync(rules, { recursive: true });
    expect(refusal(() => bind('0000:00:03.0', env(), 'vfio-pci', { persist: true })).message).toMatch(
      /--persist needs udev/,
    );
  });
});

describe('vfio doctor (the command)', () => {
  async function vfio(argv: string[], over: Partial<Runtime> = {}) {
    let out = '';
    let err = '';
    const code = await main(argv, {
      out: (s) => {
        out += s;
      },
      err: (s) => {
        err += s;
      },
      color: false,
      errColor: false,
      uid: 0,
      sysfs: t.root,
      proc: t.h('proc'),
      dev: t.h('dev'),
      ...over,
    });
    return { code, out, err };
  }

  it('exit 1 and the fix under the failure; the open is not tried for a failing device', async () => {
    t.limits('unlimited', 'unlimited');
    const r = await vfio(['doctor', '02:00.0']);
    expect(r.code).toBe(1);
    expect(r.err).toBe('');
    expect(r.out).toMatch(/\n {2}FAIL +driver +bound to igb, not a VFIO driver\n +fix: vfio bind 0000:02:00\.0\n/);
    expect(r.out).not.toMatch(/open through VFIO/);
    expect(r.out).toMatch(/\nnot ready: driver \(0000:02:00\.0\)\n$/);
  });

  it('--json, exit 0 when only warnings; usage error for a bad address', async () => {
    t.limits('unlimited', 'unlimited');
    t.file('proc/meminfo', 'HugePages_Total: 0\n', true);
    const r = await vfio(['doctor', '--json']);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.out);
    expect(j.ready).toBe(true);
    expect(j.checks.find((c: { id: string }) => c.id === 'hugepages')).toMatchObject({
      status: 'warn',
      title: 'huge pages',
    });
    const bad = await vfio(['doctor', '../..']);
    expect(bad.code).toBe(2);
  });
});
