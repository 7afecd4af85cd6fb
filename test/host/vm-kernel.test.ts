// The custom guest kernel's pure parts: the fragment check, the cache key, the cache lock,
// the build step runner, and the run options it adds (no-IOMMU, drivers). No kernel is built.
import { spawn } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { BuildSteps, compiledFiles, formatElapsed } from '../../lib/vm/kernel/build-steps';
import { processAlive, withLock } from '../../lib/vm/core/cache-lock';
import { CacheKeyInputs, cacheKey, defaultFragment } from '../../lib/vm/kernel/custom-kernel';
import { GuestDevice } from '../../lib/vm/qemu/devices';
import { VmError } from '../../lib/vm/core/errors';
import {
  NOIOMMU_APPEND,
  applyDeviceDrivers,
  checkNoIommuSupport,
  guestAppend,
  kernelConfigFile,
  parseDriverAssignment,
} from '../../lib/vm/guest/guest-extras';
import { configMismatches, describeMismatches, parseConfig } from '../../lib/vm/core/kconfig';
import { KernelInfo } from '../../lib/vm/core/kernel';
import { must } from '../support/must';

let tmp: string;
beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'vm-kernel-test-'));
});
afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('config fragment check', () => {
  const fragment = [
    '# a comment line',
    'CONFIG_VFIO=y',
    'CONFIG_SAMPLE_VFIO_MDEV_MTTY=m',
    '# CONFIG_VFIO_IOMMU_SPAPR_TCE is not set',
    'CONFIG_LOCALVERSION="-vfio-vm"',
    'CONFIG_NR_CPUS=8',
    '',
  ].join('\n');

  it('reads y, m, strings, numbers and "is not set" (as n); later lines win', () => {
    const values = parseConfig(`${fragment}\nCONFIG_NR_CPUS=4\n  CONFIG_INDENTED=y  \nCONFIG_ bad line\n`);
    expect(Object.fromEntries(values)).toEqual({
      CONFIG_VFIO: 'y',
      CONFIG_SAMPLE_VFIO_MDEV_MTTY: 'm',
      CONFIG_VFIO_IOMMU_SPAPR_TCE: 'n',
      CONFIG_LOCALVERSION: '"-vfio-vm"',
      CONFIG_NR_CPUS: '4',
      CONFIG_INDENTED: 'y',
    });
  });

  it('accepts a .config that has every value (absence satisfies "not set")', () => {
    const config = 'CONFIG_VFIO=y\nCONFIG_SAMPLE_VFIO_MDEV_MTTY=m\nCONFIG_LOCALVERSION="-vfio-vm"\nCONFIG_NR_CPUS=8\n';
    expect(configMismatches(fragment, config)).toEqual([]);
  });

  it('names every symbol that Kconfig dropped, changed or did not turn off', () => {
    const config = [
      '# CONFIG_VFIO is not set', // dependency missing
      'CONFIG_SAMPLE_VFIO_MDEV_MTTY=y', // built in instead of a module
      'CONFIG_VFIO_IOMMU_SPAPR_TCE=y',
      'CONFIG_LOCALVERSION=""',
      // CONFIG_NR_CPUS absent altogether (renamed or hidden)
    ].join('\n');
    const mismatches = configMismatches(fragment, config);
    expect(mismatches).toEqual([
      { symbol: 'CONFIG_VFIO', wanted: 'y', got: 'n' },
      { symbol: 'CONFIG_SAMPLE_VFIO_MDEV_MTTY', wanted: 'm', got: 'y' },
      { symbol: 'CONFIG_VFIO_IOMMU_SPAPR_TCE', wanted: 'n', got: 'y' },
      { symbol: 'CONFIG_LOCALVERSION', wanted: '"-vfio-vm"', got: '""' },
      { symbol: 'CONFIG_NR_CPUS', wanted: '8', got: 'n' },
    ]);
    expect(describeMismatches(mismatches).split('\n')[0]).toBe('  CONFIG_VFIO: asked for y, got n');
  });

  it('the project fragment is all assignments and asks for what the VFIO tests need', () => {
    const text = fs.readFileSync(defaultFragment(), 'utf8');
    const stray = text.split('\n').filter((l) => l.trim() && !l.startsWith('#') && !/^CONFIG_\w+=\S+$/.test(l));
    expect(stray).toEqual([]);
    const values = parseConfig(text);
    for (const symbol of [
      'IOMMUFD',
      'VFIO_DEVICE_CDEV',
      'VFIO_NOIOMMU',
      'VFIO_CONTAINER',
      'VFIO_PCI',
      'INTEL_IOMMU',
      'IRQ_REMAP',
      'DEBUG_FS',
      'X86_PAT',
      'PVH',
      'VFIO_PCI_DMABUF',
      'MODULES',
      'VIRTIO_CONSOLE',
      '9P_FS',
    ]) {
      expect([symbol, values.get(`CONFIG_${symbol}`)]).toEqual([symbol, 'y']);
    }
    expect(values.get('CONFIG_SAMPLE_VFIO_MDEV_MTTY')).toBe('m');
    expect(values.get('CONFIG_VFIO_MDEV')).toBe('m');
  });
});

describe('cache key', () => {
  const inputs: CacheKeyInputs = {
    sourcePackage: 'linux-source-7.3',
    sourceVersion: '7.3.4-1~bpo13+1',
    fragmentText: 'CONFIG_VFIO=y\n',
    compiler: 'gcc (Debian 12.2.0-14+deb12u1) 12.2.0',
    recipe: 1,
  };

  it('is the same for the same inputs, in this process and the next (a pinned value)', () => {
    expect(cacheKey(inputs)).toBe(cacheKey({ ...inputs }));
    // Pinned: a change here rebuilds every cached kernel, so the derivation only changes on purpose.
    expect(cacheKey(inputs)).toBe('7.3.4-1_bpo13+1-16480bb040aaa905');
  });

  it('changes with each input', () => {
    const keys = new Set([
      cacheKey(inputs),
      cacheKey({ ...inputs, sourceVersion: '7.3.5-1~bpo13+1' }),
      cacheKey({ ...inputs, fragmentText: 'CONFIG_VFIO=m\n' }),
      cacheKey({ ...inputs, compiler: 'gcc (Debian 14.2.0-19) 14.2.0' }),
      cacheKey({ ...inputs, recipe: 2 }),
      cacheKey({ ...inputs, sourcePackage: 'linux-source-7.4' }),
    ]);
    expect(keys.size).toBe(6);
  });

  it('is a plain directory name', () => {
    expect(cacheKey({ ...inputs, sourceVersion: '1:7.3.4-1~bpo13+1' })).toMatch(/^[\w.+-]+$/);
  });
});

describe('cache lock', () => {
  it('lets one holder in at a time and releases on failure too', async () => {
    const events: string[] = [];
    const holder = (name: string, fail: boolean) =>
      withLock(
        tmp,
        async () => {
          events.push(`${name} in`);
          await new Promise((r) => setTimeout(r, 50));
          events.push(`${name} out`);
          if (fail) throw new Error(`${name} failed`);
          return name;
        },
        { pollMs: 10 },
      );
    const results = await Promise.allSettled([holder('a', true), holder('b', false), holder('c', false)]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'fulfilled', 'fulfilled']);
    for (let i = 0; i < events.length; i += 2) expect(events[i + 1]).toBe(events[i].replace(' in', ' out'));
    expect(fs.existsSync(path.join(tmp, '.lock'))).toBe(false);
  });

  it('takes over a lock whose owner is gone, and waits for a live one', async () => {
    const dead = spawn(process.execPath, ['-e', '0']);
    await new Promise((r) => dead.on('close', r));
    expect(processAlive(must(dead.pid, 'dead.pid'))).toBe(false);
    fs.writeFileSync(path.join(tmp, '.lock'), `${dead.pid}\n`);
    await expect(withLock(tmp, async () => 'took over', { pollMs: 10 })).resolves.toBe('took over');

    fs.writeFileSync(path.join(tmp, '.lock'), `${process.ppid}\n`); // alive, and not us
    const waitedFor: number[] = [];
    await expect(
      withLock(tmp, async () => 'never', { pollMs: 10, timeoutMs: 100, onWait: (pid) => waitedFor.push(pid) }),
    ).rejects.toThrow(`held by pid ${process.ppid}`);
    expect(waitedFor).toEqual([process.ppid]);
  });
});

describe('build steps', () => {
  it('counts compiled files in kbuild output', () => {
    const out =
      '  CC      kernel/fork.o\n  CC [M]  samples/vfio-mdev/mtty.o\n  LD      vmlinux\n  CC      /x/out/tools/objtool/elf.o\n';
    expect(compiledFiles(out)).toEqual(['kernel/fork.o', 'samples/vfio-mdev/mtty.o', '/x/out/tools/objtool/elf.o']);
  });

  it('formats elapsed times', () => {
    expect([formatElapsed(400), formatElapsed(42_000), formatElapsed(65_000), formatElapsed(282_000)]).toEqual([
      '0.4s',
      '42s',
      '1m05s',
      '4m42s',
    ]);
  });

  it('keeps every step in the log and quotes its end when a step fails', async () => {
    const lines: string[] = [];
    const steps = new BuildSteps(path.join(tmp, 'build.log'), (l) => lines.push(l));
    await steps.phase('first', () =>
      steps.run({ program: 'sh', args: ['-c', 'echo step one; echo "  CC      a.o" >&2'] }),
    );
    const failing = steps.phase('second', () => steps.run({ program: 'sh', args: ['-c', 'echo the cause; exit 3'] }));
    await expect(failing).rejects.toMatchObject({ kind: 'kernel-build' });
    await expect(failing).rejects.toThrow(/failed \(exit 3\).*\n(.*\n)*the cause$/);
    steps.close();
    const log = fs.readFileSync(path.join(tmp, 'build.log'), 'utf8');
    expect(log).toContain('step one');
    expect(log).toContain('  CC      a.o');
    expect(lines).toEqual(['kernel build: first…', 'kernel build: second…']);
  });
});

describe('run options of the custom kernel', () => {
  const device = (name: string, bdf: string): GuestDevice => ({
    name,
    id: name,
    env: `VFIO_VM_${name.toUpperCase()}`,
    bdf,
    driver: 'vfio-pci',
    qemuArgs: [],
  });
  const devices = [device('edu', '0000:00:03.0'), device('nvme', '0000:00:05.0')];

  it('adds the no-IOMMU parameter to the command line', () => {
    expect(guestAppend(undefined, false)).toBeUndefined();
    expect(guestAppend('iomem=relaxed', false)).toBe('iomem=relaxed');
    expect(guestAppend('iomem=relaxed', true)).toBe(`iomem=relaxed ${NOIOMMU_APPEND}`);
    expect(guestAppend(undefined, true)).toBe('vfio.enable_unsafe_noiommu_mode=1');
  });

  it('binds a device to another driver by name, variable or BDF, and refuses unknown devices', () => {
    expect(applyDeviceDrivers(devices, { edu: 'my_driver' }).map((d) => d.driver)).toEqual(['my_driver', 'vfio-pci']);
    expect(applyDeviceDrivers(devices, { '00:05.0': 'nvme' }).map((d) => d.driver)).toEqual(['vfio-pci', 'nvme']);
    expect(applyDeviceDrivers(devices, { VFIO_VM_EDU: 'x' })[0].driver).toBe('x');
    expect(devices[0].driver).toBe('vfio-pci'); // not modified in place
    expect(() => applyDeviceDrivers(devices, { ivshmem: 'x' })).toThrow(/no such device.*edu, nvme/);
    expect(parseDriverAssignment('edu=vfio_vm_sample')).toEqual(['edu', 'vfio_vm_sample']);
    expect(() => parseDriverAssignment('edu')).toThrow(VmError);
  });

  it('refuses --no-iommu early for a kernel whose config lacks VFIO_NOIOMMU', () => {
    const kernel = (dir: string): KernelInfo => ({
      source: 'path',
      kernelVersion: '7.3.4',
      kernelImage: path.join(dir, 'vmlinux'),
      pvh: true,
    });
    fs.mkdirSync(path.join(tmp, 'with'));
    fs.writeFileSync(path.join(tmp, 'with', 'config'), 'CONFIG_VFIO=y\nCONFIG_VFIO_NOIOMMU=y\n');
    expect(() => checkNoIommuSupport(kernel(path.join(tmp, 'with')))).not.toThrow();
    // A Debian kernel: the config sits in the unpacked packages' boot/.
    const root = path.join(tmp, 'debian', 'root');
    const modulesDir = path.join(root, 'usr', 'lib', 'modules', '7.3.4+deb13-amd64');
    fs.mkdirSync(modulesDir, { recursive: true });
    fs.mkdirSync(path.join(root, 'boot'));
    fs.writeFileSync(path.join(root, 'boot', 'config-7.3.4+deb13-amd64'), '# CONFIG_VFIO_NOIOMMU is not set\n');
    const debian: KernelInfo = {
      source: 'debian',
      kernelVersion: '7.3.4+deb13-amd64',
      kernelImage: path.join(tmp, 'debian', 'vmlinux'),
      pvh: true,
      modulesDir,
    };
    expect(kernelConfigFile(debian)).toBe(path.join(root, 'boot', 'config-7.3.4+deb13-amd64'));
    expect(() => checkNoIommuSupport(debian)).toThrow(/CONFIG_VFIO_NOIOMMU.*--kernel custom/);
    // Debian 7.x keeps it in the modules directory.
    fs.writeFileSync(path.join(modulesDir, 'config'), 'CONFIG_VFIO=m\n');
    fs.rmSync(path.join(root, 'boot'), { recursive: true });
    expect(kernelConfigFile(debian)).toBe(path.join(modulesDir, 'config'));
    expect(() => checkNoIommuSupport(debian)).toThrow(/CONFIG_VFIO_NOIOMMU/);
    // Unknown config: no early verdict (the guest's bind step reports it).
    expect(() => checkNoIommuSupport(kernel(path.join(tmp, 'nowhere')))).not.toThrow();
  });
});
