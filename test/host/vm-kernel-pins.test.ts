// The pinned guest kernels (vm/kernels.json): the file's checks, the exact-version choice among
// the archive's stanzas, and which cache entries count as the pinned kernel.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import {
  KernelPins,
  checkKernelPins,
  defaultKernelPin,
  findKernelPin,
  pinRelease,
  readKernelPins,
} from '../../lib/vm/core/kernel-pins';
import { pinnedStanza } from '../../lib/vm/kernel/debian-kernel';
import { DecompressTools } from '../../lib/vm/kernel/modules';
import { pinnedKernels, provisionKernel } from '../../lib/vm/provision';
import { must } from '../support/must';

const pins = (): KernelPins => ({
  default: 'b',
  kernels: [
    { name: 'a', description: 'A', package: 'linux-image-6.1.0-50-amd64', version: '6.1.176-1', suite: 'bookworm' },
    {
      name: 'b',
      description: 'B',
      package: 'linux-image-7.3.4+deb13-amd64',
      version: '7.3.4-1~bpo13+1',
      suite: 'trixie-backports',
    },
  ],
  customSource: { package: 'linux-source-7.3', version: '7.3.4-1~bpo13+1', suite: 'trixie-backports' },
});

describe('vm/kernels.json', () => {
  it('pins 6.1, 6.12 and 7.3 at exact versions, 7.3 the default, and the custom source of the newest', () => {
    const p = readKernelPins();
    expect(p.kernels.map((k) => k.name)).toEqual(['6.1', '6.12', '7.3']);
    for (const k of p.kernels) {
      expect(pinRelease(k).startsWith(k.name)).toBe(true);
      expect(k.version).toMatch(new RegExp(`^${k.name.replace('.', '\\.')}\\.\\d+-`));
    }
    expect(defaultKernelPin(p).name).toBe('7.3');
    expect(p.customSource.version).toBe(must(findKernelPin(p, '7.3'), "findKernelPin(p, '7.3')").version);
  });

  it('refuses a default that is not pinned, duplicate names and non-generic images', () => {
    expect(checkKernelPins(pins())).toBeTruthy();
    expect(() => checkKernelPins({ ...pins(), default: 'c' })).toThrow(/"default" is "c", not one of a, b/);
    const dup = pins();
    dup.kernels[1].name = 'a';
    expect(() => checkKernelPins(dup)).toThrow(/"a" appears twice/);
    const cloud = pins();
    cloud.kernels[0].package = 'linux-image-6.1.0-50-cloud-amd64';
    expect(() => checkKernelPins(cloud)).toThrow(/not a generic amd64/);
    const noVersion = pins();
    noVersion.kernels[0].version = '';
    expect(() => checkKernelPins(noVersion)).toThrow(/needs "name", "version" and "suite"/);
  });
});

describe('pinned kernel resolution', () => {
  const pin = pins().kernels[0];
  const stanza = (Version: string) => ({ Package: pin.package, Version, Depends: 'kmod' });

  it('takes the stanza of exactly the pinned version, not the newest', () => {
    expect(pinnedStanza([stanza('6.1.180-1'), stanza('6.1.176-1'), stanza('6.1.170-3')], pin).Version).toBe(
      '6.1.176-1',
    );
  });

  it('refuses when the archive no longer has the pinned version, naming what it has', () => {
    expect(() => pinnedStanza([stanza('6.1.180-1')], pin)).toThrow(
      /pinned to linux-image-6\.1\.0-50-amd64 6\.1\.176-1 \(bookworm\).*they offer 6\.1\.180-1.*vm\/kernels\.json/,
    );
    expect(() => pinnedStanza([], pin)).toThrow(/no version of that package/);
  });
});

describe('pinned kernels in the cache', () => {
  let cache: string;
  beforeEach(() => {
    cache = fs.mkdtempSync(path.join(os.tmpdir(), 'vfio-pins-'));
  });
  afterEach(() => fs.rmSync(cache, { recursive: true, force: true }));

  /** A complete-looking entry of `release` at `packageVersion`. */
  function entry(release: string, packageVersion: string): void {
    const dir = path.join(cache, 'kernels', release);
    fs.mkdirSync(path.join(dir, 'root'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'vmlinux'), 'x');
    const info = {
      source: 'debian',
      kernelVersion: release,
      packageVersion,
      kernelImage: path.join(dir, 'vmlinux'),
      pvh: true,
      modulesDir: path.join(dir, 'root'),
    };
    fs.writeFileSync(path.join(dir, 'kernel.json'), JSON.stringify(info));
  }

  it('counts an entry as cached only at the pinned package version', () => {
    const p = readKernelPins();
    const k61 = must(findKernelPin(p, '6.1'), "findKernelPin(p, '6.1')");
    const k612 = must(findKernelPin(p, '6.12'), "findKernelPin(p, '6.12')");
    entry(pinRelease(k61), k61.version);
    entry(pinRelease(k612), '6.12.1-1'); // the same release name, another build
    const state = Object.fromEntries(pinnedKernels(cache).map((k) => [k.name, k]));
    expect(state['6.1']).toMatchObject({ cached: true, isDefault: false, release: '6.1.0-50-amd64' });
    expect(state['6.12'].cached).toBe(false);
    expect(state['7.3']).toMatchObject({ cached: false, isDefault: true });
  });

  it('provisions a cached pinned kernel by name without reading any package list', async () => {
    const p = readKernelPins();
    const k61 = must(findKernelPin(p, '6.1'), "findKernelPin(p, '6.1')");
    entry(pinRelease(k61), k61.version);
    // No decompressors: nothing may be installed.
    const info = await provisionKernel({ kernel: '6.1', cacheDir: cache }, {} as DecompressTools);
    expect(info).toMatchObject({ kernelVersion: '6.1.0-50-amd64', packageVersion: k61.version });
    expect(fs.existsSync(path.join(cache, 'apt'))).toBe(false);
  });
});
