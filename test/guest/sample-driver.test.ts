// The sample vfio-pci variant driver (kernel/vfio-pci-wc-sample) against the real kernel: ivshmem
// bound to it (`vfio-vm run --kernel custom --sample-driver ivshmem`, configuration "sample",
// booted with iomem=relaxed so the sysfs route competes). Both designs give a WC mapping of BAR2
// that the PAT list shows as write-combining and whose flushed bytes reach the host's backing
// file; the plain BAR region stays uncached-minus; aliasing follows PAT's first-reservation rule
// and is reported; cookies coexist, die, and leave their offsets dense; a thousand cycles leak
// nothing; the module unloads and reloads cleanly. Skipped in every other configuration.
import { execFileSync, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { InvalidArgumentError, NotSupportedError, VfioError, isFeatureError } from '../../lib';
import {
  SAMPLE_COOKIE_FEATURE,
  SAMPLE_MEMATTR_NC,
  SAMPLE_MEMATTR_WC,
  SAMPLE_REGION_SUBTYPE_BASE,
  SAMPLE_REGION_TYPE,
  sampleDriverTables,
} from '../../lib/cookie';
import { native } from '../../lib/addon/native';
import { describeIf, guestEnv, openDevice } from './env';
import {
  MiB,
  boundDriver,
  cookieStats,
  createCookie,
  kernelLog,
  mapAt,
  patIn,
  releaseCookie,
  thrown,
} from './sample-helpers';
import { must } from '../support/must';

const DRIVER = process.env.VFIO_VM_SAMPLE_DRIVER;
const describeSample = describeIf(DRIVER, 'VFIO_VM_SAMPLE_DRIVER is not set (the sample configuration sets it)');
const env = guestEnv();
const PAGE = native().constants.PAGE_SIZE;
const open = () => openDevice(env.ivshmem, { memattrTables: sampleDriverTables() });
const hostFile = () => fs.readFileSync(env.ivshmemFile);

describeSample('ivshmem bound to the sample driver', () => {
  it('announces one WC region (BAR2, the only prefetchable BAR) and offers the cookie feature', async () => {
    expect(boundDriver(env.ivshmem)).toBe(DRIVER);
    await using dev = await open();
    const typed = dev.regions.filter((r) => r.index >= 9);
    expect(typed.map((r) => [r.index, r.size, r.flags.mmap])).toEqual([[9, BigInt(4 * MiB), true]]);
    expect(typed[0].caps).toEqual([
      { type: 'type', regionType: SAMPLE_REGION_TYPE, subtype: SAMPLE_REGION_SUBTYPE_BASE + 2 },
    ]);
    const f = dev.feature(SAMPLE_COOKIE_FEATURE);
    expect([f.probe(), f.probe({ get: true }), f.probe({ set: true })]).toEqual([true, true, true]);
    // Opening reserved nothing in PAT for BAR2 (vfio-pci reserves the whole BAR uncached-minus).
    expect(patIn(env.ivshmem, 2)).toEqual([]);
  });

  it('the library picks the kernel routes over sysfs, and reports which it used', async () => {
    await using dev = await open();
    const report = dev.memattrRoutes(2);
    expect(report.wc).toEqual(['wc-region', 'cookie-feature', 'dmabuf', 'sysfs']);
    const c = dev.bar(2).cookie({ offset: 0, length: 0x10000, memattr: 'wc' });
    expect(c.route.name).toBe('wc-region');
    expect(c.route.considered.map((p) => [p.route, p.gives])).toEqual([
      ['wc-region', 'wc'],
      ['cookie-feature', 'wc'],
      ['dmabuf', 'wc'],
      ['sysfs', 'wc'],
      ['vfio-region', 'uc-'],
    ]);
  });

  it('exports dma-bufs of its own for BAR2 only (the core offers none for the BARs it took over)', async () => {
    await using dev = await open();
    const dmabuf = must(
      dev.memattrRoutes(2).routes.find((p) => p.route === 'dmabuf'),
      "dev.memattrRoutes(2).routes.find((p) => p.route === 'dmabuf')",
    );
    expect([dmabuf.available, dmabuf.gives]).toEqual([true, 'wc']);
    using buf = dev.bar(2).exportDmaBuf([{ offset: 0, length: PAGE }]);
    expect(buf.fdinfo()).toMatchObject({ size: BigInt(PAGE), expName: DRIVER });
    const err = thrown(() => dev.bar(0).exportDmaBuf([{ offset: 0, length: PAGE }]));
    expect([err instanceof VfioError, err.code]).toEqual([true, 'ENODEV']);
  });

  it('vfio cookies --sample-driver reports the same routes from the command line', () => {
    const r = spawnSync(
      process.execPath,
      [
        path.resolve(__dirname, '../../lib/cli/vfio.js'),
        'cookies',
        env.ivshmem,
        '--bar',
        '2',
        '--sample-driver',
        '--json',
      ],
      { encoding: 'utf8', timeout: 50000 },
    );
    expect([r.status, r.stderr]).toEqual([0, '']);
    expect(JSON.parse(r.stdout)[0].report.wc).toEqual(['wc-region', 'cookie-feature', 'dmabuf', 'sysfs']);
  });

  it('without the sample tables the library does not know the kernel routes, and says what would help', async () => {
    await using dev = await openDevice(env.ivshmem);
    const report = dev.memattrRoutes(2);
    expect(report.wc).toEqual(['sysfs']);
    expect(
      must(
        report.routes.find((p) => p.route === 'cookie-feature'),
        "report.routes.find((p) => p.route === 'cookie-feature')",
      ).reason,
    ).toMatch(/no cookie feature is configured/);
  });
});

describeSample('design 1: the WC region', () => {
  it('a WC mapping of BAR2 that PAT lists write-combining; flushed bytes reach the host file', async () => {
    await using dev = await open();
    const c = dev.bar(2).cookie({ offset: MiB, length: MiB, memattr: 'wc', route: 'wc-region' });
    expect(c.backing).toEqual({
      kind: 'wc-region',
      regionIndex: 9,
      fd: dev.fd('test'),
      pgoff: (dev.region(9).offset + BigInt(MiB)) / BigInt(PAGE),
    });
    const m = c.map();
    expect([m.effective, m.downgraded]).toEqual(['wc', undefined]);
    expect(patIn(env.ivshmem, 2)).toEqual([[MiB, MiB, 'wc']]);
    const bytes = Uint8Array.from({ length: 0x2000 }, (_, i) => (i * 13 + 5) & 0xff);
    m.copyIn(0x1000, bytes);
    m.write32(0, 0x57430001);
    m.flush();
    const file = hostFile();
    expect(file.readUInt32LE(MiB)).toBe(0x57430001);
    expect(Buffer.compare(file.subarray(MiB + 0x1000, MiB + 0x3000), Buffer.from(bytes))).toBe(0);
    // pread/pwrite of the region go through too (one page at a time in the kernel).
    dev.region(9).write32(MiB + 0x10, 0x0badcafe);
    expect(hostFile().readUInt32LE(MiB + 0x10)).toBe(0x0badcafe);
    expect(dev.region(9).read32(MiB)).toBe(0x57430001);
    c.close();
    expect(patIn(env.ivshmem, 2)).toEqual([]);
  });
});

describeSample('design 2: mmap cookies', () => {
  it('a WC cookie: PAT lists write-combining for its range; flushed bytes reach the host file', async () => {
    await using dev = await open();
    const c = dev.bar(2).cookie({ offset: 2 * MiB, length: MiB, memattr: 'wc', route: 'cookie-feature' });
    expect(c.backing.kind).toBe('cookie-feature');
    // The offset lies in the window after the last region (index 10), not in BAR2's own range.
    expect(c.fileOffset).toBe(10n << 40n);
    expect(dev.cookieAt(c.fileOffset + 0x1000n)).toBe(c);
    const m = c.map();
    expect([m.effective, m.downgraded]).toEqual(['wc', undefined]);
    expect(patIn(env.ivshmem, 2)).toEqual([[2 * MiB, MiB, 'wc']]);
    m.write64(0x800, 0x0123456789abcdefn);
    m.flush();
    expect(hostFile().readBigUInt64LE(2 * MiB + 0x800)).toBe(0x0123456789abcdefn);
  });

  it('two cookies with different attributes over different ranges of BAR2 coexist, beside a UC- plain mapping', async () => {
    await using dev = await open();
    const wc = dev.bar(2).cookie({ offset: 0, length: MiB, memattr: 'wc', route: 'cookie-feature' });
    const uc = dev.bar(2).cookie({ offset: MiB, length: MiB, memattr: 'uc-', route: 'cookie-feature' });
    expect(uc.fileOffset).toBe(wc.fileOffset + BigInt(MiB));
    const [mw, mu] = [wc.map(), uc.map()];
    const plain = dev.bar(2).map({ offset: 3 * MiB, length: MiB });
    expect([mw.effective, mu.effective]).toEqual(['wc', 'uc-']);
    expect(patIn(env.ivshmem, 2)).toEqual([
      [0, MiB, 'wc'],
      [MiB, MiB, 'uc-'],
      [3 * MiB, MiB, 'uc-'],
    ]);
    // The plain region stays uncached, and no mapping aliases another (the ranges are disjoint).
    expect([plain.effective, plain.aliases, mw.aliases, mu.aliases]).toEqual(['uc-', [], [], []]);
    mw.write32(0, 1);
    mu.write32(0, 2);
    plain.write32(0, 3);
    mw.flush();
    const file = hostFile();
    expect([file.readUInt32LE(0), file.readUInt32LE(MiB), file.readUInt32LE(3 * MiB)]).toEqual([1, 2, 3]);
    // One mapping across ranges PAT holds as different types cannot exist: the kernel refuses it.
    const logBefore = kernelLog().length;
    const across = thrown(() => dev.bar(2).map({ offset: 0, length: 4 * MiB }));
    expect([across instanceof VfioError, across.code]).toEqual([true, 'EINVAL']);
    expect(
      kernelLog()
        .slice(logBefore - 1)
        .join('\n'),
    ).toMatch(/x86\/PAT: .*conflicting memory types .*write-combining<->uncached-minus/);
  });

  it("WC first: a plain mapping over a WC cookie's range gets WC from PAT, and both are told", async () => {
    await using dev = await open();
    const c = dev.bar(2).cookie({ offset: 0, length: MiB, memattr: 'wc', route: 'cookie-feature' });
    const mc = c.map();
    const plain = dev.bar(2).map({ offset: 0, length: 2 * MiB });
    // PAT gave the plain mapping's reservation the type already held: all of it write-combining.
    expect(patIn(env.ivshmem, 2)).toEqual([
      [0, MiB, 'wc'],
      [0, 2 * MiB, 'wc'],
    ]);
    expect(plain.effective).toBe('wc');
    expect(plain.aliases.map((a) => [a.with === mc, a.attr])).toEqual([[true, 'wc']]);
    expect(plain.aliases[0].reason).toMatch(
      /asked for uc- but gets wc: cookie #\d+ \(cookie-feature.*reserved BAR2 .* as wc first/,
    );
    expect(mc.aliases.map((a) => a.with === plain)).toEqual([true]);
    plain.write32(MiB + 4, 0xfeedf00d);
    expect(hostFile().readUInt32LE(MiB + 4)).toBe(0xfeedf00d);
  });

  it('UC- first: the library refuses a strict WC cookie there; the kernel alone maps it silently UC-', async () => {
    await using dev = await open();
    const plain = dev.bar(2).map({ offset: 0, length: MiB });
    expect(patIn(env.ivshmem, 2)).toEqual([[0, MiB, 'uc-']]);
    for (const route of ['wc-region', 'cookie-feature']) {
      const err = thrown(() => dev.bar(2).cookie({ offset: 0, length: MiB, memattr: 'wc', route }));
      expect(err).toBeInstanceOf(NotSupportedError);
      expect(err.message).toMatch(
        /gives uncached-minus \(UC-\), not write-combining: .*PAT already holds uc- .*reserved first/,
      );
      expect(err.hint).toMatch(/no other mapping of BAR2 0x0\+0x100000 while the wc one is made/);
    }
    const lax = dev.bar(2).cookie({ offset: 0, length: MiB, memattr: 'wc', strict: false, route: 'cookie-feature' });
    const m = lax.map();
    expect(m.effective).toBe('uc-');
    expect(m.downgraded).toMatch(/asked for by name\) gives uc-/);
    // Below the library: the kernel's own reservation for the cookie took the type already held.
    const off = createCookie(dev, 2, SAMPLE_MEMATTR_WC, 0, MiB);
    const raw = mapAt(dev, off, MiB);
    expect(patIn(env.ivshmem, 2)).toEqual([
      [0, MiB, 'uc-'],
      [0, MiB, 'uc-'],
      [0, MiB, 'uc-'],
    ]);
    raw.close();
    releaseCookie(dev, off);
    plain.close();
  });

  it('a released cookie cannot be mapped again; an existing mapping keeps it alive until unmapped', async () => {
    await using dev = await open();
    const before = cookieStats(must(DRIVER, 'DRIVER'));
    const off = createCookie(dev, 2, SAMPLE_MEMATTR_WC, 0, 2 * PAGE);
    const m = mapAt(dev, off, 2 * PAGE);
    releaseCookie(dev, off);
    const err = thrown(() => mapAt(dev, off, PAGE));
    expect(err).toBeInstanceOf(VfioError);
    expect(err.code).toBe('EINVAL');
    // Still mapped, still writable, still counted as live.
    m.write32(PAGE, 0x600d600d);
    expect(hostFile().readUInt32LE(PAGE)).toBe(0x600d600d);
    expect(cookieStats(must(DRIVER, 'DRIVER')).live).toBe(before.live + 1);
    m.close();
    expect(cookieStats(must(DRIVER, 'DRIVER'))).toEqual({
      created: before.created + 1,
      freed: before.freed + 1,
      live: before.live,
    });
    expect(thrown(() => mapAt(dev, off, PAGE)).code).toBe('EINVAL');
    // A second release of the same offset names no live cookie.
    const again = thrown(() => releaseCookie(dev, off));
    expect([again instanceof InvalidArgumentError, again.code]).toEqual([true, 'EINVAL']);
  });

  it('offsets are allocated densely: the lowest gap that fits is reused first', async () => {
    await using dev = await open();
    const base = 10n << 40n;
    const p = BigInt(PAGE);
    const a = createCookie(dev, 2, SAMPLE_MEMATTR_NC, 0, PAGE);
    const b = createCookie(dev, 2, SAMPLE_MEMATTR_WC, 0, 2 * PAGE);
    const c = createCookie(dev, 2, SAMPLE_MEMATTR_NC, MiB, PAGE);
    expect([a, b, c]).toEqual([base, base + p, base + 3n * p]);
    releaseCookie(dev, b);
    expect(createCookie(dev, 2, SAMPLE_MEMATTR_WC, 0, PAGE)).toBe(base + p);
    expect(createCookie(dev, 2, SAMPLE_MEMATTR_WC, 0, 2 * PAGE)).toBe(base + 4n * p);
    expect(createCookie(dev, 2, SAMPLE_MEMATTR_WC, 0, PAGE)).toBe(base + 2n * p);
  });

  it('malformed requests get EINVAL from the kernel as typed errors', async () => {
    await using dev = await open();
    const bad: Array<[string, () => unknown]> = [
      ['range beyond the BAR', () => createCookie(dev, 2, SAMPLE_MEMATTR_WC, 3 * MiB, 2 * MiB)],
      ['offset outside the BAR', () => createCookie(dev, 2, SAMPLE_MEMATTR_WC, 4 * MiB, PAGE)],
      ['unknown attribute', () => createCookie(dev, 2, 7, 0, PAGE)],
      ['unaligned offset', () => createCookie(dev, 2, SAMPLE_MEMATTR_WC, 0x10, PAGE)],
      ['zero length', () => createCookie(dev, 2, SAMPLE_MEMATTR_WC, 0, 0)],
      [
        'a BAR without write-combining (BAR0 is not prefetchable)',
        () => createCookie(dev, 0, SAMPLE_MEMATTR_NC, 0, PAGE),
      ],
      ['an offset no cookie has', () => releaseCookie(dev, (10n << 40n) + 0x7000n)],
    ];
    for (const [what, call] of bad) {
      const err = thrown(call);
      expect([what, err instanceof InvalidArgumentError, err.code, isFeatureError(err)]).toEqual([
        what,
        true,
        'EINVAL',
        true,
      ]);
    }
    // The library's own check comes first for its requests: the range is named, the kernel not asked.
    const own = thrown(() =>
      dev.bar(2).cookie({ offset: 3 * MiB, length: 2 * MiB, memattr: 'wc', route: 'cookie-feature' }),
    );
    expect([own instanceof InvalidArgumentError, own.code]).toEqual([true, 'ERANGE']);
  });
});

describeSample('leaks and module lifetime', () => {
  it('1,000 cookie create/map/unmap cycles leave no cookie, no PAT entry and dense offsets', async () => {
    const before = cookieStats(must(DRIVER, 'DRIVER'));
    const offsets = new Set<bigint>();
    {
      await using dev = await open();
      for (let i = 0; i < 1000; i++) {
        const c = dev
          .bar(2)
          .cookie({ offset: (i % 4) * MiB, length: 0x10000, memattr: i % 2 ? 'uc-' : 'wc', route: 'cookie-feature' });
        offsets.add(c.fileOffset);
        const m = c.map();
        if (m.effective !== (i % 2 ? 'uc-' : 'wc')) throw new Error(`cycle ${i}: ${m.effective}`);
        m.write32(0, i);
        c.close();
      }
      expect(hostFile().readUInt32LE(3 * MiB)).toBe(999);
      expect(dev.cookies).toEqual([]);
      expect(patIn(env.ivshmem, 2)).toEqual([]);
    }
    expect(cookieStats(must(DRIVER, 'DRIVER'))).toEqual({
      created: before.created + 1000,
      freed: before.freed + 1000,
      live: 0,
    });
    expect([...offsets]).toEqual([10n << 40n]);
  }, 600_000);

  it('unloads with no kernel warning and no leaked cookie, reloads, and binds the device again', async () => {
    const refcnt = () => Number(fs.readFileSync(`/sys/module/${DRIVER}/refcnt`, 'utf8'));
    {
      await using dev = await open();
      dev.bar(2).cookie({ offset: 0, length: PAGE, memattr: 'wc', route: 'cookie-feature' }).map();
      expect(refcnt()).toBe(1); // the open device holds the module
    }
    expect(refcnt()).toBe(0);
    const logBefore = kernelLog().length;
    execFileSync('rmmod', [must(DRIVER, 'DRIVER')]);
    expect(fs.existsSync(`/sys/module/${DRIVER}`)).toBe(false);
    expect(boundDriver(env.ivshmem)).toBeUndefined();
    const logged = kernelLog()
      .slice(logBefore - 1)
      .join('\n');
    expect(logged).not.toMatch(/still has objects|WARNING|BUG|leak|Oops/i);

    execFileSync('insmod', [must(process.env.VFIO_VM_SAMPLE_MODULE, 'process.env.VFIO_VM_SAMPLE_MODULE')]);
    // driver_override still names the driver: it binds again as it registers (or on a probe).
    if (boundDriver(env.ivshmem) !== DRIVER) fs.writeFileSync('/sys/bus/pci/drivers_probe', env.ivshmem);
    expect(boundDriver(env.ivshmem)).toBe(DRIVER);
    expect(cookieStats(must(DRIVER, 'DRIVER'))).toEqual({ created: 0, freed: 0, live: 0 });
    await using dev = await open();
    const m = dev.bar(2).cookie({ offset: 0, length: PAGE, memattr: 'wc' }).map();
    expect(m.effective).toBe('wc');
  }, 120_000);
});
