// Cookies end to end on the host, with real mmaps of ordinary files standing in for the device
// fd, `resource2_wc` and a dma-buf, fixture sysfs/proc/debugfs trees, and a PAT list the test
// writes the way the kernel would. What is checked: the route and backing a cookie gets, the
// effective attribute read back, the bytes that land in the backing file, lookup by offset and
// fd, close order (mappings, then fds), aliasing reported on both mappings, argument checks.
import * as fs from 'fs';
import * as path from 'path';
import { ClosedError, InvalidArgumentError, NotSupportedError } from '../../lib/errors';
import { MmapCookie } from '../../lib/cookie/cookie';
import { BAR, BAR2_OFFSET, PAGE, WC9_OFFSET, cleanupWorlds, fdTarget, world } from './cookie-world';

afterEach(cleanupWorlds);

describe('sysfs resource2_wc cookie (iomem=relaxed, nothing reserved first)', () => {
  it('is backed by resource2_wc, reports WC from the PAT list, and its bytes land in the file', () => {
    const w = world();
    const c = w.registry.create(w.bar2, { offset: 0x1000, length: 0x2000, memattr: 'wc' });
    expect(c.route.name).toBe('sysfs');
    expect(c.backing).toEqual({ kind: 'sysfs', path: w.wcFile, fd: expect.any(Number), pgoff: 0x1000n / PAGE });
    expect(fdTarget(c.backing.fd)).toBe(w.wcFile);
    expect([c.requested, c.strict, c.pgprot, c.id]).toEqual(['wc', true, 'wc', 1]);
    // The kernel would have reserved the range WC at mmap time; the fixture list says so.
    w.setPat([BAR + 0x1000n, BAR + 0x3000n, 'write-combining']);
    const m = c.map();
    expect([m.effective, m.downgraded, m.aliases]).toEqual(['wc', undefined, []]);
    const bytes = Uint8Array.from({ length: 256 }, (_, i) => i ^ 0x5a);
    m.copyIn(0x100, bytes);
    m.flush();
    expect([...fs.readFileSync(w.wcFile).subarray(0x1100, 0x1200)]).toEqual([...bytes]);
    expect([...m.copyOut(0x100, 256)]).toEqual([...bytes]);
    m.write32(0x1ffc, 0xfeedc0de);
    expect(fs.readFileSync(w.wcFile).readUInt32LE(0x2ffc)).toBe(0xfeedc0de);
  });

  it('a silent downgrade seen in the PAT list fails a strict cookie and undoes the mapping', () => {
    const w = world();
    const c = w.registry.create(w.bar2, { length: 0x1000, memattr: 'wc' });
    w.setPat([BAR, BAR + 0x400000n, 'uncached-minus']); // what the kernel shows when vfio reserved the BAR first
    let err: unknown;
    try {
      c.map();
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(NotSupportedError);
    expect((err as Error).message).toMatch(
      /asked for write-combining through sysfs, the kernel gave uncached-minus \(UC-\) \(PAT: \[0x800000000-0x800400000\) uc-\)/,
    );
    expect(c.mappings).toEqual([]);
    expect(w.tracked.size).toBe(0);
  });

  it('non-strict keeps the mapping and says why in downgraded', () => {
    const w = world();
    const c = w.registry.create(w.bar2, { length: 0x1000, memattr: 'wc', strict: false });
    w.setPat([BAR, BAR + 0x400000n, 'uncached-minus']);
    const m = c.map();
    expect(m.effective).toBe('uc-');
    expect(m.downgraded).toMatch(/^asked for write-combining through sysfs, the kernel gave uncached-minus/);
  });

  it('closing the cookie unmaps, then closes the sysfs fd; accessors throw afterwards', () => {
    const w = world();
    const c = w.registry.create(w.bar2, { length: 0x1000, memattr: 'wc' });
    const fd = c.backing.fd;
    const m = c.map();
    expect(w.owned.has(c)).toBe(true);
    c.close();
    expect(m.closed).toBe(true);
    expect(() => m.read32(0)).toThrow(ClosedError);
    expect(() => c.map()).toThrow(ClosedError);
    expect(fdTarget(fd)).not.toBe(w.wcFile);
    expect(w.registry.cookies).toEqual([]);
    expect(w.owned.has(c)).toBe(false);
    c.close(); // idempotent
  });
});

describe('vfio-region cookies without iomem=relaxed', () => {
  it('non-strict WC: the device fd at the region offset, UC- confirmed by the PAT list, downgrade explained', () => {
    const w = world();
    w.setCmdline('console=ttyS0');
    const c = w.registry.create(w.bar2, { offset: 0x1000, length: 0x1000, memattr: 'wc', strict: false });
    expect(c.route.name).toBe('vfio-region');
    expect(c.backing).toEqual({ kind: 'vfio-region', fd: w.devFd, pgoff: (BAR2_OFFSET + 0x1000n) / PAGE });
    expect(c.fileOffset).toBe(BAR2_OFFSET + 0x1000n);
    w.setPat([BAR, BAR + 0x400000n, 'uncached-minus']);
    const m = c.map();
    expect(m.effective).toBe('uc-');
    expect(m.downgraded).toMatch(
      /sysfs: no iomem=relaxed on the kernel command line, and the kernel configuration is not readable/,
    );
    m.write32(0, 0x12345678);
    const fd = fs.openSync(w.devFile, 'r');
    const b = Buffer.alloc(4);
    fs.readSync(fd, b, 0, 4, Number(BAR2_OFFSET) + 0x1000);
    fs.closeSync(fd);
    expect(b.readUInt32LE(0)).toBe(0x12345678);
  });

  it('strict WC is refused before anything is opened', () => {
    const w = world();
    w.setCmdline('console=ttyS0');
    expect(() => w.registry.create(w.bar2, { memattr: 'wc' })).toThrow(NotSupportedError);
    expect(w.registry.cookies).toEqual([]);
    expect(w.owned.size).toBe(0);
  });
});

describe('cookieAt: lookup the way the kernel resolves an mmap offset', () => {
  it('finds a cookie for any offset inside its range and nothing outside', () => {
    const w = world();
    w.setCmdline('console=ttyS0');
    const a = w.registry.create(w.bar2, { offset: 0x1000, length: 0x2000, memattr: 'uc-' });
    const base = BAR2_OFFSET + 0x1000n;
    expect(w.registry.at(base)).toBe(a);
    expect(w.registry.at(base + 0x1fffn)).toBe(a);
    expect(w.registry.at(base + 0x2000n)).toBeUndefined();
    expect(w.registry.at(base - 1n)).toBeUndefined();
    expect(w.registry.at({ fd: w.devFd, offset: base + 0x10n })).toBe(a);
    // The device fd alone names no cookie: every vfio-region cookie shares it.
    expect(w.registry.at(w.devFd)).toBeUndefined();
  });

  it('finds sysfs and dma-buf cookies by the fd they hold; overlapping ranges resolve to the oldest', () => {
    const w = world();
    const s = w.registry.create(w.bar2, { length: 0x1000, memattr: 'wc' });
    const d = w.registry.create(w.bar2, { length: 0x1000, memattr: 'uc-', route: 'dmabuf' });
    expect(w.registry.at(s.backing.fd)).toBe(s);
    expect(w.registry.at(d.backing.fd)).toBe(d);
    expect(w.registry.at({ fd: d.backing.fd, offset: 0xfffn })).toBe(d);
    expect(w.registry.at({ fd: d.backing.fd, offset: 0x1000n })).toBeUndefined();
    w.setCmdline('console=ttyS0');
    const v1 = w.registry.create(w.bar2, { length: 0x2000, memattr: 'uc-' });
    const v2 = w.registry.create(w.bar2, { length: 0x1000, memattr: 'uc-' });
    expect(w.registry.at(BAR2_OFFSET)).toBe(v1);
    v1.close();
    expect(w.registry.at(BAR2_OFFSET)).toBe(v2);
    expect(w.registry.at(BAR2_OFFSET + 0x1000n)).toBeUndefined();
  });

  it("ids stay dense: a closed cookie's id is reused", () => {
    const w = world();
    w.setCmdline('console=ttyS0');
    const cs = [0, 1, 2].map(() => w.registry.create(w.bar2, { length: 0x1000, memattr: 'uc-' }));
    expect(cs.map((c) => c.id)).toEqual([1, 2, 3]);
    cs[1].close();
    expect(w.registry.create(w.bar2, { length: 0x1000, memattr: 'uc-' }).id).toBe(2);
  });
});

describe('dma-buf cookies', () => {
  it('forced on a 7.3-like kernel: exported, mapped where the "kernel" allows it, fd closed with the cookie', () => {
    const w = world();
    const c = w.registry.create(w.bar2, { offset: 0x2000, length: 0x1000, memattr: 'uc-', route: 'dmabuf' });
    expect(c.route).toMatchObject({ name: 'dmabuf', downgraded: undefined });
    expect(c.backing).toEqual({ kind: 'dmabuf', fd: w.exported[0].fd, pgoff: 0n });
    expect(w.exported[0].ranges).toEqual([{ offset: 0x2000n, length: 0x1000n }]);
    expect(w.featureSets).toEqual([]);
    const m = c.map();
    m.write32(0, 0xabcd1234);
    expect(fs.readFileSync(path.join(w.root, 'dmabuf-0')).readUInt32LE(0)).toBe(0xabcd1234);
    const fd = c.backing.fd;
    c.close();
    expect(w.exported[0].closed).toBe(true);
    expect(m.closed).toBe(true);
    expect(fdTarget(fd)).toBeUndefined();
  });

  it('with the memory-attribute feature: chosen for WC, SET with the dma-buf fd and the WC value', () => {
    const w = world({
      features: { 11: { probe: 'OK', get: 'OK', set: 'EINVAL' }, 14: { probe: 'OK', get: 'EINVAL', set: 'OK' } },
    });
    const c = w.registry.create(w.bar2, { length: 0x1000, memattr: 'wc' });
    expect(c.route.name).toBe('dmabuf');
    expect(c.pgprot).toBe('wc');
    expect(w.featureSets).toEqual([{ index: 14, payload: Uint8Array.from([c.backing.fd, 0, 0, 0, 1, 0, 0, 0]) }]);
  });
});

describe('wc-region cookies', () => {
  it("map the WC region of the BAR through the device fd at that region's offset", () => {
    const w = world({ wcRegion: true });
    const c = w.registry.create(w.bar2, { offset: 0x3000, length: 0x1000, memattr: 'wc' });
    expect(c.route.name).toBe('wc-region');
    expect(c.backing).toEqual({ kind: 'wc-region', regionIndex: 9, fd: w.devFd, pgoff: (WC9_OFFSET + 0x3000n) / PAGE });
    expect(w.registry.at(WC9_OFFSET + 0x3800n)).toBe(c);
    expect(w.registry.at(BAR2_OFFSET + 0x3800n)).toBeUndefined();
    w.setPat([BAR, BAR + 0x400000n, 'write-combining']);
    const m = c.map();
    expect(m.effective).toBe('wc');
    expect(m.regionIndex).toBe(9);
    m.write32(0, 0x600dcafe);
    const b = Buffer.alloc(4);
    const fd = fs.openSync(w.devFile, 'r');
    fs.readSync(fd, b, 0, 4, Number(WC9_OFFSET) + 0x3000);
    fs.closeSync(fd);
    expect(b.readUInt32LE(0)).toBe(0x600dcafe);
  });
});

describe('PAT aliasing reported on both mappings', () => {
  it('a plain BAR mapping made after a WC cookie inherits WC, and both are told', () => {
    const w = world();
    const c = w.registry.create(w.bar2, { length: 0x1000, memattr: 'wc' });
    w.setPat([BAR, BAR + 0x1000n, 'write-combining']);
    const wc = c.map();
    expect(wc.aliases).toEqual([]);
    // vfio reserving the whole BAR after the WC cookie is given WC (the kernel's rule).
    w.setPat([BAR, BAR + 0x1000n, 'write-combining'], [BAR, BAR + 0x400000n, 'write-combining']);
    const plain = w.bar2.map({ offset: 0, length: 0x400000 });
    expect(plain.effective).toBe('wc');
    expect(plain.aliases).toEqual([
      {
        with: wc,
        attr: 'wc',
        reason: expect.stringMatching(
          /^asked for uc- but gets wc: cookie #1 \(sysfs, wc, BAR2 0x0\+0x1000\) reserved BAR2/,
        ),
      },
    ]);
    expect(wc.aliases).toEqual([
      {
        with: plain,
        attr: 'wc',
        reason: expect.stringMatching(/^the BAR2 mapping at 0x0 \(0x400000 bytes\) asked for uc- but gets wc/),
      },
    ]);
    // Closing the cookie clears the report on the plain mapping.
    c.close();
    expect(plain.aliases).toEqual([]);
  });

  it('an existing plain mapping is reported when the WC cookie is mapped', () => {
    const w = world();
    const plain = w.bar2.map({ offset: 0, length: 0x1000 });
    expect(plain.effective).toBe('unknown'); // nobody asked the PAT list yet
    // The PAT list is readable and holds nothing for the BAR (this stand-in device fd reserves
    // nothing), so the order rule still allows the sysfs route.
    const c = w.registry.create(w.bar2, { length: 0x1000, memattr: 'wc' });
    w.setPat([BAR, BAR + 0x1000n, 'write-combining']);
    const wc = c.map();
    expect(plain.effective).toBe('wc');
    expect(plain.aliases.map((a) => a.with)).toEqual([wc]);
    expect(wc.aliases.map((a) => a.with)).toEqual([plain]);
  });
});

describe('argument checks come before any route is probed', () => {
  it.each([
    [{ memattr: 'wx' }, /memattr "wx" is not one of uc, uc-, wc, wt, wb/],
    [{ memattr: 'wc', offset: 0x800 }, /offset 0x800 is not page-aligned/],
    [{ memattr: 'wc', offset: 0x400000 }, /offset 0x400000 is outside the 0x400000-byte region/],
    [{ memattr: 'wc', length: 0x400001 }, /4194305 bytes at 0x0 do not fit/],
    [{ memattr: 'wc', length: 0 }, /0 bytes at 0x0 do not fit/],
  ])('%j', (opts, message) => {
    const w = world();
    expect(() => w.registry.create(w.bar2, opts as never)).toThrow(InvalidArgumentError);
    expect(() => w.registry.create(w.bar2, opts as never)).toThrow(message);
    expect(w.registry.cookies).toEqual([]);
  });

  it('a cookie is immutable', () => {
    const w = world();
    const c: MmapCookie = w.registry.create(w.bar2, { length: 0x1000, memattr: 'wc' });
    expect(Object.isFrozen(c.backing)).toBe(true);
    expect(() => {
      (c.backing as { fd: number }).fd = 3;
    }).toThrow(TypeError);
  });
});

describe('memattrRoutes report', () => {
  it('lists every route, and when none gives WC, why and what would', () => {
    const w = world();
    w.setCmdline('console=ttyS0');
    const r = w.registry.report(w.bar2);
    expect(r.region).toBe('BAR2');
    expect(r.routes.map((p) => p.route)).toEqual(['wc-region', 'cookie-feature', 'dmabuf', 'sysfs', 'vfio-region']);
    expect(r.wc).toEqual([]);
    expect(r.why).toMatch(/dmabuf: gives uc-; sysfs: no iomem=relaxed/);
    expect(r.hint).toMatch(/iomem=relaxed/);
    w.setCmdline('iomem=relaxed');
    expect(w.registry.report(w.bar2)).toMatchObject({ wc: ['sysfs'], why: undefined, hint: undefined });
  });
});
