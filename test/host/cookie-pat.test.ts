// The truth side of cookies on fixtures: effective attributes from PAT lists, reading the list from
// a debugfs tree, the devmem exclusivity rule from command lines and kernel configs, and the PAT
// aliasing report between a WC cookie and vfio's own uncached mapping of the same BAR.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as zlib from 'zlib';
import { aliasing, AliasSubject } from '../../lib/cookie/aliasing';
import { DeviceFacts, devmemPolicy, kernelConfigValue } from '../../lib/cookie/facts';
import { memattrTables } from '../../lib/cookie/model';
import { PatReader, effectiveFromPat } from '../../lib/cookie/pat';
import { parsePatMemtypeList } from '../../lib/decode';
import { patList, ivshmemResourceFile } from '../fixtures/devices';
import { IVSHMEM_BAR2, IVSHMEM_BAR2_PHYS, NO_PAT, pat } from './cookie-fixtures';

const BAR = IVSHMEM_BAR2_PHYS;
const MiB = 0x100000n;

function tmpdir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'vfio-cookie-'));
}

describe('effective attribute from the PAT list', () => {
  it('a reserved range gives its type, whatever the mapping asked for (the silent downgrade is visible)', () => {
    const uc = pat([BAR, BAR + 4n * MiB, 'uncached-minus']);
    expect(effectiveFromPat(uc, BAR, BAR + 0x1000n, 'wc')).toEqual({
      attr: 'uc-',
      basis: 'PAT: [0x800000000-0x800400000) uc-',
    });
    const wc = pat([BAR, BAR + 4n * MiB, 'write-combining']);
    expect(effectiveFromPat(wc, BAR + MiB, BAR + 2n * MiB, 'uc-').attr).toBe('wc');
  });

  it('the fixture list (WC through resource2_wc, then vfio inheriting it) reads WC for BAR2 and UC- for edu', () => {
    const snap = { ok: true as const, entries: parsePatMemtypeList(patList()) };
    expect(effectiveFromPat(snap, BAR, BAR + 0x1000n, 'wc').attr).toBe('wc');
    expect(effectiveFromPat(snap, BAR + 0x300000n, BAR + 0x301000n, 'uc-').attr).toBe('wc');
    expect(effectiveFromPat(snap, 0xfea00000n, 0xfea01000n, 'uc-').attr).toBe('uc-');
  });

  it('no reservation: UC- for an uncached mapping (untracked MMIO), unknown for any other', () => {
    expect(effectiveFromPat(pat(), BAR, BAR + 0x1000n, 'uc-')).toEqual({
      attr: 'uc-',
      basis: 'no PAT reservation covers [0x800000000-0x800001000): untracked MMIO pages map UC-',
    });
    expect(effectiveFromPat(pat(), BAR, BAR + 0x1000n, 'wc').attr).toBe('unknown');
  });

  it('disagreeing or partial reservations are mixed, never a guess', () => {
    const two = pat([BAR, BAR + 0x1000n, 'write-combining'], [BAR + 0x1000n, BAR + 0x2000n, 'uncached-minus']);
    expect(effectiveFromPat(two, BAR, BAR + 0x2000n, 'wc').attr).toBe('mixed');
    const part = pat([BAR, BAR + 0x1000n, 'write-combining']);
    expect(effectiveFromPat(part, BAR, BAR + 0x2000n, 'wc')).toMatchObject({
      attr: 'mixed',
      basis: expect.stringMatching(/covers only part/),
    });
  });

  it('an unreadable list is unknown, with the reason', () => {
    expect(effectiveFromPat(NO_PAT, BAR, BAR + 0x1000n, 'wc')).toEqual({
      attr: 'unknown',
      basis: `PAT memtype list unreadable: ${NO_PAT.ok ? '' : NO_PAT.reason}`,
    });
  });
});

describe('PatReader', () => {
  it('reads and parses x86/pat_memtype_list under the debugfs directory', () => {
    const dir = tmpdir();
    fs.mkdirSync(path.join(dir, 'x86'));
    fs.writeFileSync(path.join(dir, 'x86/pat_memtype_list'), patList());
    const snap = new PatReader({ debugfs: dir, mountDebugfs: false }).read();
    expect(snap.ok && snap.entries.length).toBe(6);
  });

  it('debugfs not mounted and mounting not allowed: says so', () => {
    const dir = tmpdir();
    const mounts = path.join(dir, 'mounts');
    fs.writeFileSync(mounts, 'sysfs /sys sysfs rw 0 0\n');
    expect(new PatReader({ debugfs: dir, mountDebugfs: false, mounts }).read()).toEqual({
      ok: false,
      reason: `debugfs is not mounted at ${dir} (mounting it was not allowed)`,
    });
  });

  it('debugfs mounted but no PAT file: PAT disabled or not x86', () => {
    const dir = tmpdir();
    const mounts = path.join(dir, 'mounts');
    fs.writeFileSync(mounts, `debugfs ${dir} debugfs rw,relatime 0 0\n`);
    expect(new PatReader({ debugfs: dir, mounts }).read()).toEqual({
      ok: false,
      reason: `${dir}/x86/pat_memtype_list does not exist (PAT disabled, e.g. nopat, or not x86)`,
    });
  });

  it('a changed format is reported, not read as "nothing reserved"', () => {
    const dir = tmpdir();
    fs.mkdirSync(path.join(dir, 'x86'));
    fs.writeFileSync(path.join(dir, 'x86/pat_memtype_list'), 'PAT memtype list:\nsomething else entirely\n');
    const snap = new PatReader({ debugfs: dir, mountDebugfs: false }).read();
    expect(snap).toMatchObject({ ok: false, reason: expect.stringMatching(/did not parse: .*unexpected line/) });
  });
});

describe('devmem exclusivity: may sysfs map a BAR that vfio-pci owns?', () => {
  it.each([
    ['BOOT_IMAGE=/vmlinuz console=ttyS0 iomem=relaxed', 'y', true],
    ['console=ttyS0', 'y', false],
    ['console=ttyS0', 'n', true],
    ['iomem=relaxed iomem=strict', 'n', false],
    ['iomem=strict iomem=relaxed', 'y', true],
    ['console=ttyS0', undefined, undefined],
    [undefined, undefined, undefined],
  ])('cmdline %j, IO_STRICT_DEVMEM %j → relaxed %j', (cmdline, config, relaxed) => {
    expect(devmemPolicy(cmdline, config).relaxed).toBe(relaxed);
  });

  it('kernel config values: =y, "is not set", absent', () => {
    const text = 'CONFIG_DEVMEM=y\nCONFIG_STRICT_DEVMEM=y\n# CONFIG_IO_STRICT_DEVMEM is not set\nCONFIG_X="a"\n';
    expect(kernelConfigValue(text, 'IO_STRICT_DEVMEM')).toBe('n');
    expect(kernelConfigValue(text, 'CONFIG_STRICT_DEVMEM')).toBe('y');
    expect(kernelConfigValue(text, 'X')).toBe('a');
    expect(kernelConfigValue(text, 'NOPE')).toBeUndefined();
  });

  it('DeviceFacts reads /proc/cmdline, a gzipped config, the resource file and resourceN_wc from fixture trees', () => {
    const root = tmpdir();
    const dev = path.join(root, 'sys/bus/pci/devices/0000:00:04.0');
    fs.mkdirSync(dev, { recursive: true });
    fs.writeFileSync(path.join(dev, 'resource'), ivshmemResourceFile());
    fs.writeFileSync(path.join(dev, 'resource2_wc'), '');
    fs.mkdirSync(path.join(root, 'proc'));
    fs.writeFileSync(path.join(root, 'proc/cmdline'), 'console=ttyS0 loglevel=4\n');
    fs.writeFileSync(path.join(root, 'proc/config.gz'), zlib.gzipSync('CONFIG_IO_STRICT_DEVMEM=y\n'));
    const facts = new DeviceFacts(
      {
        bdf: '0000:00:04.0',
        regions: [IVSHMEM_BAR2()],
        featureNumber: () => undefined,
        probeFeature: () => ({ probe: 'ENOTTY', get: 'ENOTTY', set: 'ENOTTY' }),
        wcReservedBeforeOpen: () => false,
      },
      memattrTables(),
      { sysfs: path.join(root, 'sys'), proc: path.join(root, 'proc') },
      new PatReader({ debugfs: path.join(root, 'debug'), mountDebugfs: false }),
    );
    expect(facts.resource(2)).toMatchObject({ start: BAR, prefetch: true, mem64: true });
    expect(facts.sysfsWcPath(2)).toBe(path.join(dev, 'resource2_wc'));
    expect(facts.sysfsWcPath(0)).toBeUndefined();
    expect(facts.devmem()).toEqual({
      relaxed: false,
      reason: 'CONFIG_IO_STRICT_DEVMEM=y and no iomem=relaxed on the kernel command line',
    });
    expect(facts.feature(14, 'set')).toEqual({ supported: false, answer: 'ENOTTY' });
    expect(facts.pat()).toMatchObject({ ok: false });
  });
});

describe("PAT aliasing between a WC cookie and vfio's own mapping of the BAR", () => {
  const subject = (name: string, start: bigint, end: bigint, requested: 'wc' | 'uc-'): AliasSubject<string> => ({
    mapping: name,
    bar: 2,
    start,
    end,
    requested,
    pgprot: requested,
    label: name,
  });
  const cookie = subject('cookie #1', BAR, BAR + 0x1000n, 'wc');
  const plain = subject('BAR2 mapping', BAR, BAR + 4n * MiB, 'uc-');

  it('WC first: vfio reserved the BAR after it and inherited WC; both mappings are told', () => {
    const list = pat([BAR, BAR + 0x1000n, 'write-combining'], [BAR, BAR + 4n * MiB, 'write-combining']);
    const [a, b] = aliasing([cookie, plain], list);
    expect(a.effective.attr).toBe('wc');
    expect(b.effective.attr).toBe('wc');
    expect(b.aliases).toEqual([
      {
        with: cookie,
        attr: 'wc',
        reason: expect.stringMatching(
          /^asked for uc- but gets wc: cookie #1 reserved BAR2 \[0x800000000-0x800001000\) as wc first/,
        ),
      },
    ]);
    expect(a.aliases).toEqual([
      {
        with: plain,
        attr: 'wc',
        reason: expect.stringMatching(/^BAR2 mapping asked for uc- but gets wc because of this mapping's reservation/),
      },
    ]);
  });

  it('vfio first: the WC request is UC-; both are told the WC cookie lost', () => {
    const list = pat([BAR, BAR + 4n * MiB, 'uncached-minus']);
    const [a, b] = aliasing([cookie, plain], list);
    expect(a.effective.attr).toBe('uc-');
    expect(a.aliases[0].reason).toMatch(/^asked for wc but gets uc-: BAR2 mapping reserved/);
    expect(b.aliases[0].reason).toMatch(/^cookie #1 asked for wc but gets uc- because of this mapping's reservation/);
  });

  it('a mapping of another part of the BAR that inherited WC is reported too; one that did not is left alone', () => {
    const far = subject('far', BAR + 3n * MiB, BAR + 4n * MiB, 'uc-');
    const inherited = aliasing([cookie, far], pat([BAR, BAR + 4n * MiB, 'write-combining']));
    expect(inherited[1].aliases.map((x) => x.with.mapping)).toEqual(['cookie #1']);
    const separate = aliasing([cookie, far], pat([BAR, BAR + 0x1000n, 'write-combining']));
    expect(separate.map((r) => r.aliases.length)).toEqual([0, 0]);
    expect(separate[1].effective.attr).toBe('uc-');
  });

  it('same request, or another BAR: no aliasing', () => {
    const other = { ...plain, bar: 0, mapping: 'bar0', label: 'bar0' };
    const twoWc = subject('cookie #2', BAR, BAR + 0x1000n, 'wc');
    const r = aliasing([cookie, twoWc, other], pat([BAR, BAR + 4n * MiB, 'write-combining']));
    expect(r.map((x) => x.aliases.length)).toEqual([0, 0, 0]);
  });

  it('overlap with the PAT list unreadable: reported, with an unknown attribute', () => {
    const [a] = aliasing([cookie, plain], NO_PAT);
    expect(a.effective.attr).toBe('unknown');
    expect(a.aliases[0].reason).toMatch(/overlapping this mapping's .* as uc-; PAT keeps one type per range/);
  });
});
