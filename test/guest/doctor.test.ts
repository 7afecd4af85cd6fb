// `vfio doctor` and bind's in-use refusal against the real kernel in the emulated host: ready
// for the default devices (each opened for real), the bind fix for a device left on its kernel
// driver, and a 9p transport the guest's own file systems use: reported in use, and refused by
// `vfio bind` with nothing written.
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import * as sysfs from '../../lib/system/sysfs';
import { guestEnv, hasIommu } from './env';
import { must } from '../support/must';

const env = guestEnv();
const CLI = path.resolve(__dirname, '../../lib/cli/vfio.js');
const OPEN = ['--backend', env.backend, ...(env.backend === 'noiommu' ? ['--unsafe-noiommu'] : [])];

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}
interface JsonCheck {
  id: string;
  status: string;
  detail: string;
  fix?: string;
  device?: string;
}

function vfio(...args: string[]): Run {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 120000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Non-VFIO devices the guest runs on virtio-pci, split by whether a 9p share rides on them. */
function virtioDevices(): { ninep: string[]; other: string[] } {
  const out = { ninep: [] as string[], other: [] as string[] };
  for (const bdf of sysfs.listPciDevices()) {
    if (sysfs.driverOf(bdf) !== 'virtio-pci') continue;
    const dir = sysfs.devicePath(bdf);
    const tagged = fs
      .readdirSync(dir)
      .some((n) => /^virtio\d+$/.test(n) && fs.existsSync(path.join(dir, n, 'mount_tag')));
    (tagged ? out.ninep : out.other).push(bdf);
  }
  return out;
}

describe('vfio doctor in the emulated host', () => {
  const defaults = [env.edu, env.ivshmem, env.nvme, env.pciTestdev];

  it('says "ready" for the default devices, each opened through VFIO', () => {
    const text = vfio('doctor', ...defaults, ...OPEN);
    expect({ status: text.status, stderr: text.stderr }).toEqual({ status: 0, stderr: '' });
    expect(text.stdout).toMatch(/\nready\n$/);
    const r = vfio('doctor', ...defaults, '--json', ...OPEN);
    expect(r.status).toBe(0);
    const j = JSON.parse(r.stdout) as { ready: boolean; checks: JsonCheck[] };
    expect(j.ready).toBe(true);
    expect(j.checks.filter((c) => c.status === 'fail')).toEqual([]);
    const host = Object.fromEntries(j.checks.filter((c) => !c.device).map((c) => [c.id, c]));
    // Without an IOMMU (the noiommu configuration) the check warns instead of passing.
    expect(host.iommu).toMatchObject(
      hasIommu()
        ? { status: 'ok', detail: expect.stringMatching(/^on: dmar\d/) }
        : { status: 'warn', detail: expect.stringMatching(/no-IOMMU mode is enabled/) },
    );
    expect(host.modules.status).toBe('ok');
    for (const bdf of defaults) {
      const own = Object.fromEntries(
        j.checks.filter((c) => c.device === bdf && c.id !== 'wc').map((c) => [c.id, c.status]),
      );
      expect(own).toEqual({ device: 'ok', group: 'ok', driver: 'ok', 'in-use': 'ok', access: 'ok', open: 'ok' });
      expect(
        must(
          j.checks.find((c) => c.device === bdf && c.id === 'group'),
          "j.checks.find((c) => c.device === bdf && c.id === 'group')",
        ).detail,
      ).toMatch(new RegExp(`^group ${sysfs.iommuGroupOf(bdf)}\\b`));
    }
    // ivshmem's BAR2 is its one prefetchable BAR: the write-combining check reports it.
    expect(j.checks.filter((c) => c.device === env.ivshmem && c.id === 'wc').map((c) => c.detail)).toEqual([
      expect.stringMatching(/^BAR2: /),
    ]);
  });

  it('names the fix for a device left on its kernel driver', () => {
    const [bdf] = virtioDevices().other;
    expect(bdf).toBeDefined();
    const r = vfio('doctor', bdf, '--json');
    expect(r.status).toBe(1);
    const driver = (JSON.parse(r.stdout) as { checks: JsonCheck[] }).checks.find(
      (c) => c.id === 'driver' && c.device === bdf,
    );
    // Root in the guest, started as `node …/vfio.js`: the command as typed there.
    expect(driver).toMatchObject({
      status: 'fail',
      detail: 'bound to virtio-pci, not a VFIO driver',
      fix: `vfio bind ${bdf}`,
    });
  });

  it('sees the 9p transport in use, and vfio bind refuses it, writing nothing', () => {
    const [bdf] = virtioDevices().ninep;
    expect(bdf).toBeDefined();
    const d = JSON.parse(vfio('doctor', bdf, '--json').stdout) as { checks: JsonCheck[] };
    expect(d.checks.find((c) => c.id === 'in-use')).toMatchObject({
      status: 'warn',
      detail: expect.stringMatching(/the host uses it: 9p share \S+ is mounted on \//),
    });
    expect(
      must(
        d.checks.find((c) => c.id === 'driver'),
        "d.checks.find((c) => c.id === 'driver')",
      ).fix,
    ).toMatch(new RegExp(`^the host uses it \\(9p share .*\\): stop that first, then vfio bind ${bdf}$`));
    const before = fs.readFileSync(path.join(sysfs.devicePath(bdf), 'driver_override'), 'utf8');
    const b = vfio('bind', bdf);
    expect(b.status).toBe(1);
    expect(b.stderr).toMatch(new RegExp(`^error: ${bdf} is in use by the host: 9p share \\S+ is mounted on /`));
    expect(sysfs.driverOf(bdf)).toBe('virtio-pci');
    expect(fs.readFileSync(path.join(sysfs.devicePath(bdf), 'driver_override'), 'utf8')).toBe(before);
    const dry = vfio('bind', bdf, '--dry-run', '--force');
    expect(dry.status).toBe(0);
    expect(dry.stdout).toMatch(
      new RegExp(
        `^${bdf}: virtio-pci -> vfio-pci \\(dry run: nothing written\\)\\n {2}would remember virtio-pci in /run/vfio-bind/${bdf}\\n {2}would write vfio-pci > /sys/devices/`,
      ),
    );
    expect(sysfs.driverOf(bdf)).toBe('virtio-pci');
  });
});
