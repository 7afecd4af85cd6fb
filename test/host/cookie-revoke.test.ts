// Revoking dma-buf cookies on the host: the cookie takes its own mappings down before the
// revoke SET reaches the "kernel" (a recording stand-in), their accessors and map() then throw a
// RevokedError, and a reset does the same for every dma-buf cookie before it starts. Where no
// revoke feature is known or answered, nothing is touched and the error says why.
import * as fs from 'fs';
import * as path from 'path';
import { ClosedError, NotSupportedError, RevokedError } from '../../lib/errors';
import { DEFAULT_MEMATTR_TABLES, MemattrTables } from '../../lib/cookie/model';
import { cleanupWorlds, fdTarget, world } from './cookie-world';
import { thrown } from '../support/errors';
import { must } from '../support/must';

afterEach(cleanupWorlds);

const DMA_BUF = { probe: 'OK', get: 'OK', set: 'EINVAL' };
const SET_ONLY = { probe: 'OK', get: 'EINVAL', set: 'OK' };
const REVOKE = 0xfc03;
const tables: Partial<MemattrTables> = {
  revokeFeature: {
    ...must(DEFAULT_MEMATTR_TABLES.revokeFeature, 'DEFAULT_MEMATTR_TABLES.revokeFeature'),
    number: REVOKE,
  },
};

describe('MmapCookie.revoke() of a dma-buf cookie', () => {
  it("unmaps the cookie's mappings first, then sends the revoke SET with the dma-buf fd", () => {
    const w = world({ features: { 11: DMA_BUF, 14: SET_ONLY, [REVOKE]: SET_ONLY } });
    const c = w.registry.create(w.bar2, { offset: 0x1000, length: 0x1000, memattr: 'wc', route: 'dmabuf', tables });
    const m = c.map();
    m.write32(0, 0x5eed);
    expect(fs.readFileSync(path.join(w.root, 'dmabuf-0')).readUInt32LE(0)).toBe(0x5eed);
    // What the mapping looked like when the SET went out.
    let closedAtSet: boolean | undefined;
    const push = w.featureSets.push.bind(w.featureSets);
    w.featureSets.push = (...items) => {
      if (items[0].index === REVOKE) closedAtSet = m.closed;
      return push(...items);
    };
    c.revoke();
    expect(closedAtSet).toBe(true);
    const fd = c.backing.fd;
    expect(w.featureSets.at(-1)).toEqual({ index: REVOKE, payload: Uint8Array.from([fd, 0, 0, 0]) });
    expect(c.revoked).toBe('revoked through MmapCookie.revoke()');
    expect(m.revoked).toBe('revoked through MmapCookie.revoke()');
    for (const access of [() => m.read32(0), () => m.write32(0, 1), () => m.flush(), () => m.copyOut(0, 4)]) {
      const err = thrown(access);
      expect([err instanceof RevokedError, err instanceof ClosedError, err.code]).toEqual([true, true, 'EREVOKED']);
      expect(err.message).toMatch(/was revoked \(revoked through MmapCookie.revoke\(\)\)/);
    }
    const again = thrown(() => c.map());
    expect([again instanceof RevokedError, again.message]).toEqual([
      true,
      expect.stringMatching(/^MmapCookie.map: cookie #1 \(dmabuf, wc, BAR2/),
    ]);
    // A second revoke changes nothing; the fd is held until close.
    c.revoke();
    expect(w.featureSets.filter((s) => s.index === REVOKE)).toHaveLength(1);
    expect(fdTarget(fd)).toBeDefined();
    c.close();
    expect(fdTarget(fd)).toBeUndefined();
    expect(thrown(() => c.revoke())).toBeInstanceOf(ClosedError);
  });

  it('without a known revoke number: NotSupportedError naming the table entry, mapping untouched', () => {
    const w = world({ features: { 11: DMA_BUF, 14: SET_ONLY } });
    const c = w.registry.create(w.bar2, { length: 0x1000, memattr: 'wc', route: 'dmabuf' });
    const m = c.map();
    const err = thrown(() => c.revoke());
    expect(err).toBeInstanceOf(NotSupportedError);
    expect(err.message).toMatch(/no number is known for DMA_BUF_REVOKE/);
    expect(err.hint).toMatch(/featureNumbers: \{ DMA_BUF_REVOKE: N \}/);
    expect([m.closed, c.revoked]).toEqual([false, undefined]);
    m.write32(0, 7);
  });

  it('a kernel that does not answer the revoke number: the probe answer is quoted, mapping untouched', () => {
    const w = world({ features: { 11: DMA_BUF, 14: SET_ONLY } });
    const c = w.registry.create(w.bar2, { length: 0x1000, memattr: 'wc', route: 'dmabuf', tables });
    const m = c.map();
    const err = thrown(() => c.revoke());
    expect([err instanceof NotSupportedError, err.message]).toEqual([
      true,
      expect.stringMatching(/DMA_BUF_REVOKE \(feature 64515\) probe answered ENOTTY/),
    ]);
    expect(m.closed).toBe(false);
  });

  it('other routes have nothing to revoke', () => {
    const w = world();
    const c = w.registry.create(w.bar2, { length: 0x1000, memattr: 'uc-' });
    expect(c.route.name).toBe('vfio-region');
    const m = c.map();
    const err = thrown(() => c.revoke());
    expect([err instanceof NotSupportedError, err.message]).toEqual([
      true,
      expect.stringMatching(/the vfio-region route has nothing to revoke/),
    ]);
    expect(m.closed).toBe(false);
  });
});

describe("a reset takes dma-buf cookies' mappings down first", () => {
  it("dma-buf mappings throw RevokedError afterwards; other cookies' mappings stay", () => {
    const w = world({ features: { 11: DMA_BUF, 14: SET_ONLY } });
    const d = w.registry.create(w.bar2, { length: 0x1000, memattr: 'wc', route: 'dmabuf' });
    const v = w.registry.create(w.bar2, { offset: 0x1000, length: 0x1000, memattr: 'uc-' });
    const [md, mv] = [d.map(), v.map()];
    w.registry.beforeReset('function');
    expect(d.revoked).toBe('the device was reset (function)');
    const err = thrown(() => md.read32(0));
    expect([err instanceof RevokedError, err.message]).toEqual([
      true,
      expect.stringMatching(/was revoked \(the device was reset \(function\)\)/),
    ]);
    expect(thrown(() => d.map())).toBeInstanceOf(RevokedError);
    expect(w.featureSets.filter((s) => s.index !== 14)).toEqual([]); // the kernel revokes on reset by itself
    mv.write32(0, 3);
    expect(mv.read32(0)).toBe(3);
    expect(v.revoked).toBeUndefined();
  });
});

describe('a raw SET of the revoke feature through the device (Device.feature(N).set())', () => {
  it("naming a live cookie's dma-buf: that cookie's mappings are taken down first; others stay", () => {
    const w = world({ features: { 11: DMA_BUF, 14: SET_ONLY, [REVOKE]: SET_ONLY }, tables });
    const a = w.registry.create(w.bar2, { offset: 0, length: 0x1000, memattr: 'wc', route: 'dmabuf' });
    const b = w.registry.create(w.bar2, { offset: 0x2000, length: 0x1000, memattr: 'wc', route: 'dmabuf' });
    const ma = a.map();
    const mb = b.map();
    const encode = must(tables.revokeFeature, 'tables.revokeFeature').encode;
    // Another feature number, or the revoke naming an fd no cookie holds: nothing happens.
    w.registry.beforeFeatureSet(14, encode(a.backing.fd));
    w.registry.beforeFeatureSet(REVOKE, encode(a.backing.fd + 1000));
    expect([ma.closed, a.revoked]).toEqual([false, undefined]);
    w.registry.beforeFeatureSet(REVOKE, encode(a.backing.fd));
    expect([ma.closed, a.revoked]).toEqual([true, `revoked through Device.feature(${REVOKE}).set()`]);
    const err = thrown(() => ma.read32(0));
    expect([err instanceof RevokedError, err.code]).toEqual([true, 'EREVOKED']);
    expect(thrown(() => a.map())).toBeInstanceOf(RevokedError);
    mb.write32(0, 7);
    expect([mb.read32(0), b.revoked]).toEqual([7, undefined]);
    // The library's own revoke path passes here too (the SET it sends): still one reason.
    b.revoke();
    w.registry.beforeFeatureSet(REVOKE, encode(b.backing.fd));
    expect(b.revoked).toBe('revoked through MmapCookie.revoke()');
  });

  it('without a known revoke number nothing is recognised', () => {
    const w = world({ features: { 11: DMA_BUF, 14: SET_ONLY } });
    const a = w.registry.create(w.bar2, { offset: 0, length: 0x1000, memattr: 'wc', route: 'dmabuf' });
    const m = a.map();
    w.registry.beforeFeatureSet(
      REVOKE,
      must(DEFAULT_MEMATTR_TABLES.revokeFeature, 'DEFAULT_MEMATTR_TABLES.revokeFeature').encode(a.backing.fd),
    );
    expect([m.closed, a.revoked]).toEqual([false, undefined]);
  });
});
