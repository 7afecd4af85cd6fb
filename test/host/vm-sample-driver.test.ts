// `vfio-vm run --sample-driver DEVICE`: how a run's options change, the build cache key, the
// warning rule, and a real build of kernel/vfio-pci-wc-sample against the custom kernel's tree
// (built first if the cache does not hold it: long on a small machine, docs/emulated-host.md).
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { customKernel } from '../../lib/vm/kernel/custom-kernel';
import { VmError } from '../../lib/vm/core/errors';
import { KernelInfo } from '../../lib/vm/core/kernel';
import { modinfo } from '../../lib/vm/core/elf';
import {
  SAMPLE_DRIVER_NAME,
  buildSampleDriver,
  sampleDriverKey,
  sampleDriverSourceDir,
  sampleDriverSources,
  warningLines,
  withSampleDriverModule,
} from '../../lib/vm/sample-driver';

const BUILD_TIMEOUT_MS = 60 * 60_000;
const log = (line: string) => process.stderr.write(`vfio-vm: ${line}\n`);

describe('run options with the sample driver', () => {
  it('loads the module, binds the device to it, and tells the command both', () => {
    const o = withSampleDriverModule(
      { command: ['true'], sampleDriver: 'ivshmem', modules: ['mtty'], env: { A: '1' } },
      '/cache/x/vfio-pci-wc-sample.ko',
    );
    expect(o.modules).toEqual(['mtty', '/cache/x/vfio-pci-wc-sample.ko']);
    expect(o.deviceDrivers).toEqual({ ivshmem: 'vfio_pci_wc_sample' });
    expect(o.env).toEqual({
      VFIO_VM_SAMPLE_DRIVER: 'vfio_pci_wc_sample',
      VFIO_VM_SAMPLE_MODULE: '/modules/vfio_pci_wc_sample.ko',
      A: '1',
    });
  });

  it('refuses another driver for the same device', () => {
    expect(() =>
      withSampleDriverModule(
        { command: ['true'], sampleDriver: 'ivshmem', deviceDrivers: { ivshmem: 'other' } },
        '/m.ko',
      ),
    ).toThrow(/--sample-driver ivshmem and --driver ivshmem=other ask for two drivers/);
  });

  it('the key changes with the sources and the kernel, and only with them', () => {
    const base = {
      sources: [{ name: 'main.c', text: 'a' }],
      kernelRelease: '7.3.4-vfio-vm',
      symvers: 's',
      config: 'c',
      compiler: 'gcc 12',
    };
    const k = sampleDriverKey(base);
    expect(sampleDriverKey({ ...base })).toBe(k);
    expect(k).toMatch(/^7\.3\.4-vfio-vm-[0-9a-f]{16}$/);
    for (const change of [
      { sources: [{ name: 'main.c', text: 'b' }] },
      { symvers: 't' },
      { config: 'd' },
      { compiler: 'gcc 13' },
      { kernelRelease: '7.3.5-vfio-vm' },
    ]) {
      expect(sampleDriverKey({ ...base, ...change })).not.toBe(k);
    }
  });

  it('compiler and modpost warnings both count', () => {
    const out =
      "CC [M] main.o\nmain.c:3:5: warning: unused variable 'x'\nWARNING: modpost: missing MODULE_DESCRIPTION()\nLD [M] x.ko\n";
    expect(warningLines(out)).toEqual([
      "main.c:3:5: warning: unused variable 'x'",
      'WARNING: modpost: missing MODULE_DESCRIPTION()',
    ]);
    expect(warningLines('CC [M] main.o\nLD [M] x.ko')).toEqual([]);
  });

  it('needs a kernel with a build tree', async () => {
    const debian: KernelInfo = {
      source: 'debian',
      kernelVersion: '7.3.4+deb13-amd64',
      kernelImage: '/x/vmlinux',
      pvh: true,
    };
    await expect(buildSampleDriver(debian, os.tmpdir())).rejects.toThrow(/has none: add --kernel custom/);
  });

  it('the sources are the Kbuild file and the C files, never build products', () => {
    expect(sampleDriverSources(sampleDriverSourceDir())).toEqual([
      'Kbuild',
      'cookie.c',
      'dmabuf.c',
      'main.c',
      'region.c',
      'vfio_pci_wc_sample.h',
      'wc_sample.h',
    ]);
  });
});

describe('a real build against the custom kernel', () => {
  let kernel: KernelInfo;
  let cache: string;

  beforeAll(async () => {
    kernel = await customKernel({ log });
    cache = fs.mkdtempSync(path.join(os.tmpdir(), 'sample-driver-'));
  }, BUILD_TIMEOUT_MS);

  afterAll(() => fs.rmSync(cache, { recursive: true, force: true }));

  it('builds without a single warning, once, and a module that says what it is', async () => {
    const first = await buildSampleDriver(kernel, cache, log);
    expect(first.cached).toBe(false);
    const buildLog = fs.readFileSync(path.join(path.dirname(first.module), 'build.log'), 'utf8');
    expect(buildLog).toMatch(/LD \[M\] +vfio-pci-wc-sample\.ko/);
    expect(warningLines(buildLog)).toEqual([]);
    const fields = modinfo(fs.readFileSync(first.module));
    const info = (field: string) =>
      fields
        .filter(([k]) => k === field)
        .map(([, v]) => v)
        .join('\n');
    expect(info('license')).toBe('GPL');
    expect(info('vermagic')).toMatch(new RegExp(`^${kernel.kernelVersion.replace(/\./g, '\\.')} `));
    expect(info('description')).toMatch(/SAMPLE .*not an upstream uAPI/);
    // Everything it needs is built into the custom kernel: nothing to load before it.
    expect(info('depends')).toBe('');
    expect(info('alias')).toMatch(/^vfio_pci:v\*d\*/);
    // The source folder stays clean: the build ran on a copy.
    expect(fs.readdirSync(sampleDriverSourceDir()).filter((f) => /\.(o|ko|mod)$|^Module\.symvers$/.test(f))).toEqual(
      [],
    );

    const again = await buildSampleDriver(kernel, cache, log);
    expect(again).toEqual({ module: first.module, cached: true });
  }, 120_000);

  it('a warning fails the build, naming it', async () => {
    const src = fs.mkdtempSync(path.join(os.tmpdir(), 'sample-src-'));
    try {
      for (const f of sampleDriverSources(sampleDriverSourceDir()))
        fs.copyFileSync(path.join(sampleDriverSourceDir(), f), path.join(src, f));
      fs.appendFileSync(
        path.join(src, 'cookie.c'),
        '\nint wcs_unused_for_test(void);\nint wcs_unused_for_test(void) { int x; return 0; }\n',
      );
      const err = await buildSampleDriver(kernel, cache, log, src).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(VmError);
      expect((err as VmError).kind).toBe('kernel-build');
      expect((err as VmError).message).toMatch(/cookie\.c:\d+:\d+: (error|warning): unused variable .x./);
    } finally {
      fs.rmSync(src, { recursive: true, force: true });
    }
  }, 120_000);

  it('the driver name is what driver_override must name', () => {
    expect(SAMPLE_DRIVER_NAME).toBe('vfio_pci_wc_sample');
  });
});
