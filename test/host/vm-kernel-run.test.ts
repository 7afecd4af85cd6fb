// The custom guest kernel for real: built (or taken from the cache), booted, and asked what it
// offers: /dev/iommu and a VFIO cdev per device, no-IOMMU mode, the mtty mdev sample, and an
// out-of-tree module built against the cached tree and bound to a device instead of vfio-pci.
// The first run on a machine builds the kernel (long on a small machine, docs/emulated-host.md).
import { execFile } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Writable } from 'stream';
import { promisify } from 'util';
import { customKernel } from '../../lib/vm/kernel/custom-kernel';
import { KernelInfo } from '../../lib/vm/core/kernel';
import { RunOptions } from '../../lib/vm/options';
import { run } from '../../lib/vm/run';
import { modinfo } from '../../lib/vm/core/elf';
import { must } from '../support/must';

const BUILD_TIMEOUT_MS = 60 * 60_000;
const BOOT_TIMEOUT_MS = 5 * 60_000;
const DEFAULT_DEVICE_COUNT = 4; // edu, ivshmem, nvme, pci-testdev
const MTTY_UUID = '83b8f4f2-509f-382f-3c1e-e6bfe0fa1001';

const log = (line: string) => process.stderr.write(`vfio-vm: ${line}\n`);

function sink(chunks: Buffer[]): Writable {
  return new Writable({
    write(chunk: Buffer, _enc, done) {
      chunks.push(chunk);
      done();
    },
  });
}

/** Boots the custom kernel with a shell script; resolves to its status and output. */
async function guest(
  script: string,
  opts: Partial<RunOptions> = {},
): Promise<{ exitCode: number; out: string; err: string }> {
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  const result = await run({
    kernel: 'custom',
    command: ['sh', '-c', script],
    stdout: sink(out),
    stderr: sink(err),
    log,
    timeoutSeconds: BOOT_TIMEOUT_MS / 1000,
    ...opts,
  });
  return { exitCode: result.exitCode, out: Buffer.concat(out).toString(), err: Buffer.concat(err).toString() };
}

let kernel: KernelInfo;

beforeAll(async () => {
  kernel = await customKernel({ log });
}, BUILD_TIMEOUT_MS);

it('is a PVH vmlinux with mdev and mtty as modules and a tree for out-of-tree modules', () => {
  expect(kernel.source).toBe('custom');
  expect(kernel.pvh).toBe(true);
  expect(kernel.kernelVersion).toMatch(/^7\.3\.\d+-vfio-vm$/);
  const modules = fs.readFileSync(path.join(must(kernel.modulesDir, 'kernel.modulesDir'), 'modules.dep'), 'utf8');
  expect(modules).toMatch(/mtty\.ko: .*mdev\.ko/);
  expect(fs.existsSync(path.join(must(kernel.uapiInclude, 'kernel.uapiInclude'), 'linux', 'iommufd.h'))).toBe(true);
  expect(fs.readlinkSync(path.join(must(kernel.modulesDir, 'kernel.modulesDir'), 'build'))).toBe('../../../build');
  expect(fs.existsSync(path.join(must(kernel.buildTree, 'kernel.buildTree'), 'Module.symvers'))).toBe(true);
});

it('a cache hit costs well under a second', async () => {
  const t0 = Date.now();
  const again = await customKernel({ log });
  expect(again.kernelImage).toBe(kernel.kernelImage);
  expect(Date.now() - t0).toBeLessThan(1000);
});

it(
  'offers /dev/iommu and one VFIO device cdev per default device',
  async () => {
    const r = await guest('uname -r; ls /dev/iommu /dev/vfio/devices; ls /dev/vfio');
    expect(r.exitCode).toBe(0);
    const lines = r.out.trim().split('\n');
    expect(lines[0]).toBe(kernel.kernelVersion);
    expect(lines).toContain('/dev/iommu');
    const cdevs = lines.filter((l) => /^vfio\d+$/.test(l));
    expect(cdevs.sort()).toEqual(Array.from({ length: DEFAULT_DEVICE_COUNT }, (_, i) => `vfio${i}`));
    // The legacy container and one group per device are there too.
    expect(lines).toContain('vfio');
    expect(lines.filter((l) => /^\d+$/.test(l))).toHaveLength(DEFAULT_DEVICE_COUNT);
  },
  BOOT_TIMEOUT_MS,
);

it(
  '--no-iommu: no VT-d, devices still on vfio-pci as no-IOMMU groups and cdevs',
  async () => {
    const r = await guest(
      [
        'ls /sys/class/iommu | wc -l',
        'readlink /sys/bus/pci/devices/$VFIO_VM_EDU/driver',
        'ls /dev/vfio /dev/vfio/devices',
        'cat /proc/sys/kernel/tainted',
      ].join('; '),
      { noIommu: true },
    );
    expect(r.exitCode).toBe(0);
    const lines = r.out.trim().split('\n');
    expect(lines[0]).toBe('0'); // no IOMMU at all
    expect(lines[1]).toMatch(/\/vfio-pci$/);
    const all = Array.from({ length: DEFAULT_DEVICE_COUNT }, (_, i) => i);
    expect(lines.filter((l) => l.startsWith('noiommu-') && !l.includes('vfio')).sort()).toEqual(
      all.map((i) => `noiommu-${i}`),
    );
    expect(lines.filter((l) => l.startsWith('noiommu-vfio')).sort()).toEqual(all.map((i) => `noiommu-vfio${i}`));
    // TAINT_USER (64): the kernel marks itself when no-IOMMU mode is used.
    expect(Number(lines[lines.length - 1]) & 64).toBe(64);
  },
  BOOT_TIMEOUT_MS,
);

describe('modules', () => {
  let moduleDir: string;
  beforeAll(async () => {
    moduleDir = fs.mkdtempSync(path.join(os.tmpdir(), 'vfio-vm-module-'));
    for (const f of ['vfio_vm_probe.c', 'Kbuild']) {
      fs.copyFileSync(path.join(__dirname, '..', 'fixtures', 'kernel-module', f), path.join(moduleDir, f));
    }
    await promisify(execFile)('make', ['-C', must(kernel.buildTree, 'kernel.buildTree'), `M=${moduleDir}`, 'modules'], {
      maxBuffer: 16 << 20,
    });
  }, BOOT_TIMEOUT_MS);
  afterAll(() => fs.rmSync(moduleDir, { recursive: true, force: true }));

  it('an out-of-tree module builds against the cached tree for exactly this kernel', async () => {
    const info = modinfo(fs.readFileSync(path.join(moduleDir, 'vfio_vm_probe.ko')));
    const vermagic = info.find(([k]) => k === 'vermagic')?.[1] ?? '';
    expect(vermagic.split(' ')[0]).toBe(kernel.kernelVersion);
  });

  it(
    'mtty loads at boot, an mdev is created and gets a VFIO cdev; edu binds to the out-of-tree driver',
    async () => {
      const types = '/sys/class/mdev_bus/mtty/mdev_supported_types';
      const r = await guest(
        [
          'set -e',
          `ls ${types}`,
          `cat ${types}/mtty-2/available_instances`,
          `echo ${MTTY_UUID} > ${types}/mtty-2/create`,
          `readlink /sys/bus/mdev/devices/${MTTY_UUID}/driver`,
          `cdev=$(ls /sys/bus/mdev/devices/${MTTY_UUID}/vfio-dev)`,
          'ls /dev/vfio/devices/$cdev',
          'readlink /sys/bus/pci/devices/$VFIO_VM_EDU/driver',
          'dmesg | grep -o "vfio_vm_probe: edu id 0x[0-9a-f]*"',
        ].join('\n'),
        {
          modules: ['mtty', path.join(moduleDir, 'vfio_vm_probe.ko')],
          deviceDrivers: { edu: 'vfio_vm_probe' },
        },
      );
      expect(r.err).toBe('');
      expect(r.exitCode).toBe(0);
      const lines = r.out.trim().split('\n');
      expect(lines.slice(0, 2)).toEqual(['mtty-1', 'mtty-2']);
      expect(Number(lines[2])).toBeGreaterThan(0);
      expect(lines[3]).toMatch(/\/mtty$/);
      expect(lines[4]).toMatch(/^\/dev\/vfio\/devices\/vfio\d+$/);
      expect(lines[5]).toMatch(/\/vfio_vm_probe$/);
      expect(lines[6]).toBe('vfio_vm_probe: edu id 0x010000ed');
    },
    BOOT_TIMEOUT_MS,
  );
});
