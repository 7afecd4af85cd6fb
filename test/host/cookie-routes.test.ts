// Route choice on fixtures: which route a cookie gets for ivshmem BAR2 (prefetchable) and edu
// BAR0 (not), with and without iomem=relaxed, in both PAT orders, with a WC region announced by a
// TYPE capability, and with a kernel that answers the dma-buf memory-attribute feature.
import { vfioRegionRoute, wcRegionRoute, wcRegionsFor } from '../../lib/cookie/routes';
import { chooseRoute } from '../../lib/cookie/choose';
import { sysfsWcRoute } from '../../lib/cookie/sysfs-wc';
import { DEFAULT_ROUTES } from '../../lib/cookie/registry';
import { wcRegionTypesPerBar } from '../../lib/cookie/model';
import { NotSupportedError } from '../../lib/errors';
import {
  EDU_BAR0,
  FIXTURE_WC_SUBTYPE,
  FIXTURE_WC_TYPE,
  FixtureFacts,
  IVSHMEM_BAR2,
  IVSHMEM_BAR2_PHYS,
  NO_PAT,
  RELAXED,
  STRICT,
  UNTOLD,
  WC_REGION,
  eduResourceFile,
  pat,
  WC_TYPE,
  req,
} from './cookie-fixtures';
import { thrown } from '../support/errors';

describe('ivshmem BAR2 (64-bit prefetchable), kernel with iomem=relaxed', () => {
  it('nothing reserved yet: sysfs resource2_wc gives WC, after wc-region and dmabuf said why not', () => {
    const facts = new FixtureFacts({ regions: [IVSHMEM_BAR2()], devmem: RELAXED, pat: pat() });
    const { route, choice } = chooseRoute(req(IVSHMEM_BAR2()), facts, DEFAULT_ROUTES, 'op');
    expect(route).toBe(sysfsWcRoute);
    expect(choice.name).toBe('sysfs');
    expect(choice.downgraded).toBeUndefined();
    expect(choice.reason).toMatch(
      /resource2_wc; the kernel runs with iomem=relaxed; nothing has reserved the range yet/,
    );
    expect(choice.considered.map((p) => [p.route, p.available, p.gives])).toEqual([
      ['wc-region', false, undefined],
      ['cookie-feature', false, undefined],
      ['dmabuf', true, 'uc-'],
      ['sysfs', true, 'wc'],
      ['vfio-region', true, 'uc-'],
    ]);
    expect(choice.considered[2].reason).toMatch(/DMA_BUF_MEMATTR \(feature 14\) probe answered ENOTTY/);
  });

  it('vfio-pci reserved the BAR first (uncached-minus in PAT): sysfs would be silently UC-, so it is refused', () => {
    const facts = new FixtureFacts({
      regions: [IVSHMEM_BAR2()],
      devmem: RELAXED,
      pat: pat([IVSHMEM_BAR2_PHYS, IVSHMEM_BAR2_PHYS + 0x400000n, 'uncached-minus']),
    });
    const err = thrown(() => chooseRoute(req(IVSHMEM_BAR2()), facts, DEFAULT_ROUTES, 'Region(BAR2).cookie'));
    expect(err).toBeInstanceOf(NotSupportedError);
    expect(err.message).toMatch(/sysfs: PAT already holds uc- for \[0x800000000-0x800001000\)/);
    expect(err.message).toMatch(/a WC mapping would silently be uc-/);
    expect(err.hint).toMatch(/Device\.open\(bdf, \{ writeCombine: \[2\] \}\)/);
    // Non-strict: the fallback, with the reason attached.
    const { choice } = chooseRoute(req(IVSHMEM_BAR2(), 'wc', { strict: false }), facts, DEFAULT_ROUTES, 'op');
    expect(choice.name).toBe('vfio-region');
    expect(choice.downgraded).toMatch(
      /no route gives write-combining .*sysfs: PAT already holds uc-.*; vfio-region gives uc-/,
    );
  });

  it('a WC reservation already there (an earlier WC cookie) keeps the route open', () => {
    const facts = new FixtureFacts({
      regions: [IVSHMEM_BAR2()],
      devmem: RELAXED,
      pat: pat([IVSHMEM_BAR2_PHYS, IVSHMEM_BAR2_PHYS + 0x1000n, 'write-combining']),
    });
    const { choice } = chooseRoute(req(IVSHMEM_BAR2()), facts, DEFAULT_ROUTES, 'op');
    expect(choice.name).toBe('sysfs');
    expect(choice.reason).toMatch(/PAT already holds write-combining for the range/);
  });

  it('the PAT range is computed from the BAR address plus the cookie offset', () => {
    // UC- on the second 2 MiB of the BAR only: a cookie in the first half is fine, one in the second is not.
    const facts = () =>
      new FixtureFacts({
        regions: [IVSHMEM_BAR2()],
        devmem: RELAXED,
        pat: pat([IVSHMEM_BAR2_PHYS + 0x200000n, IVSHMEM_BAR2_PHYS + 0x400000n, 'uncached-minus']),
      });
    expect(sysfsWcRoute.probe(req(IVSHMEM_BAR2(), 'wc', { offset: 0x1ff000n }), facts()).available).toBe(true);
    const p = sysfsWcRoute.probe(req(IVSHMEM_BAR2(), 'wc', { offset: 0x200000n }), facts());
    expect([p.available, p.reason]).toEqual([false, expect.stringContaining('[0x800200000-0x800201000)')]);
  });

  it('PAT unreadable: refused unless this device reserved the BAR WC before opening (then open, unverified)', () => {
    const plain = new FixtureFacts({ regions: [IVSHMEM_BAR2()], devmem: RELAXED, pat: NO_PAT });
    const p = sysfsWcRoute.probe(req(IVSHMEM_BAR2()), plain);
    expect(p.available).toBe(false);
    expect(p.reason).toMatch(
      /PAT list is unreadable .*vfio-pci reserves each BAR uncached-minus when the device is opened/,
    );
    expect(p.needs).toEqual([expect.stringContaining('Device.open(bdf, { writeCombine: [2] })')]);
    const reserved = new FixtureFacts({ regions: [IVSHMEM_BAR2()], devmem: RELAXED, pat: NO_PAT, reserved: [2] });
    const q = sysfsWcRoute.probe(req(IVSHMEM_BAR2()), reserved);
    expect([q.available, q.gives]).toEqual([true, 'wc']);
    expect(q.reason).toMatch(
      /reserved write-combining before the device was opened; the PAT list is unreadable .* not verified/,
    );
  });
});

describe('vfio-region: the attribute PAT holds for the BAR, not the one pgprot asks for', () => {
  const wcBar = pat(
    [IVSHMEM_BAR2_PHYS, IVSHMEM_BAR2_PHYS + 0x1000n, 'write-combining'],
    [IVSHMEM_BAR2_PHYS, IVSHMEM_BAR2_PHYS + 0x400000n, 'write-combining'],
  );

  it('BAR reserved WC before the open: vfio-region gives WC, even without iomem=relaxed', () => {
    const facts = new FixtureFacts({ regions: [IVSHMEM_BAR2()], devmem: STRICT, pat: wcBar, reserved: [2] });
    const { route, choice } = chooseRoute(
      req(IVSHMEM_BAR2(), 'wc', { offset: 0x200000n }),
      facts,
      DEFAULT_ROUTES,
      'op',
    );
    expect(route).toBe(vfioRegionRoute);
    expect(choice.reason).toMatch(
      /^vfio-pci maps every region with pgprot_noncached \(UC-\), but the kernel gives the type PAT holds for the range \(PAT: .*wc\): BAR2 was reserved write-combining before the device was opened$/,
    );
    // And a UC- request on that BAR cannot be honoured: the truth, as a downgrade.
    const uc = chooseRoute(req(IVSHMEM_BAR2(), 'uc-'), facts, DEFAULT_ROUTES, 'op').choice;
    expect(uc.name).toBe('vfio-region');
    expect(uc.downgraded).toMatch(/no route gives uncached-minus .*vfio-region gives wc$/);
  });

  it('with iomem=relaxed both sysfs and vfio-region give WC: WC takes the table order, UC- the reverse', () => {
    const facts = () => new FixtureFacts({ regions: [IVSHMEM_BAR2()], devmem: RELAXED, pat: wcBar, reserved: [2] });
    expect(chooseRoute(req(IVSHMEM_BAR2()), facts(), DEFAULT_ROUTES, 'op').choice.name).toBe('sysfs');
    const uc = chooseRoute(req(IVSHMEM_BAR2(), 'uc-'), facts(), DEFAULT_ROUTES, 'op').choice;
    expect(uc.name).toBe('vfio-region');
    expect(uc.considered.map((p) => p.route)).toEqual([
      'vfio-region',
      'sysfs',
      'dmabuf',
      'cookie-feature',
      'wc-region',
    ]);
  });

  it('after a plain open: UC- from the PAT entry vfio-pci made, and the need says how to get WC', () => {
    const facts = new FixtureFacts({
      regions: [IVSHMEM_BAR2()],
      pat: pat([IVSHMEM_BAR2_PHYS, IVSHMEM_BAR2_PHYS + 0x400000n, 'uncached-minus']),
    });
    const p = vfioRegionRoute.probe(req(IVSHMEM_BAR2()), facts);
    expect(p).toMatchObject({
      available: true,
      gives: 'uc-',
      reason: 'vfio-pci maps every region with pgprot_noncached (UC-); PAT: [0x800000000-0x800400000) uc-',
    });
    expect(p.needs).toEqual([
      expect.stringMatching(
        /^reserving BAR2 write-combining before the device is opened: Device\.open\(bdf, \{ writeCombine: \[2\] \}\)/,
      ),
    ]);
  });

  it("PAT unreadable: WC predicted only from this device's own reservation", () => {
    expect(
      vfioRegionRoute.probe(
        req(IVSHMEM_BAR2()),
        new FixtureFacts({ regions: [IVSHMEM_BAR2()], pat: NO_PAT, reserved: [2] }),
      ),
    ).toMatchObject({ gives: 'wc', reason: expect.stringMatching(/not verified/) });
    expect(
      vfioRegionRoute.probe(req(IVSHMEM_BAR2()), new FixtureFacts({ regions: [IVSHMEM_BAR2()], pat: NO_PAT })),
    ).toMatchObject({ gives: 'uc-' });
  });
});

describe('ivshmem BAR2 without iomem=relaxed', () => {
  it.each([
    ['CONFIG_IO_STRICT_DEVMEM=y', STRICT],
    ['an unreadable kernel config', UNTOLD],
  ])('%s: strict WC fails, naming what would help', (_what, devmem) => {
    const facts = new FixtureFacts({ regions: [IVSHMEM_BAR2()], devmem });
    const err = thrown(() => chooseRoute(req(IVSHMEM_BAR2()), facts, DEFAULT_ROUTES, 'Region(BAR2).cookie'));
    expect(err).toBeInstanceOf(NotSupportedError);
    expect(err.code).toBe('EOPNOTSUPP');
    expect(err.message).toMatch(/^Region\(BAR2\)\.cookie: no route maps BAR2 0x0\+0x1000 write-combining/);
    expect(err.message).toMatch(/sysfs: .*refuses sysfs mappings of it \(EINVAL\)/);
    expect(err.hint).toMatch(/iomem=relaxed/);
    expect(err.hint).toMatch(/writeCombine: \[2\]/);
    expect(err.hint).toMatch(/DMA_BUF_MEMATTR series/);
    expect(err.hint).toMatch(/WC view of the BAR|write-combining view of the BAR/);
  });

  it('non-strict: vfio-region with a downgrade reason', () => {
    const facts = new FixtureFacts({ regions: [IVSHMEM_BAR2()], devmem: STRICT });
    const { route, choice } = chooseRoute(req(IVSHMEM_BAR2(), 'wc', { strict: false }), facts, DEFAULT_ROUTES, 'op');
    expect(route).toBe(vfioRegionRoute);
    expect(choice.reason).toBe(
      'vfio-pci maps every region with pgprot_noncached (UC-); no PAT reservation covers [0x800000000-0x800001000): untracked MMIO pages map UC-',
    );
    expect(choice.downgraded).toMatch(
      /^no route gives write-combining \(wc-region: .*; dmabuf: gives uc- if the kernel lets it be mmapped; sysfs: CONFIG_IO_STRICT_DEVMEM=y.*\); vfio-region gives uc-$/,
    );
  });
});

describe('edu BAR0 (not prefetchable)', () => {
  const facts = () =>
    new FixtureFacts({
      device: '0000:00:03.0',
      regions: [EDU_BAR0()],
      resourceFile: eduResourceFile(),
      wcFiles: [],
      devmem: RELAXED,
    });

  it('strict WC is refused with the reason, even with iomem=relaxed', () => {
    const err = thrown(() => chooseRoute(req(EDU_BAR0()), facts(), DEFAULT_ROUTES, 'Region(BAR0).cookie'));
    expect(err).toBeInstanceOf(NotSupportedError);
    expect(err.message).toMatch(
      /sysfs: BAR0 is not prefetchable: the kernel creates resource0_wc only for prefetchable memory BARs/,
    );
    // The BAR's prefetchability is the hardware's: not offered as something that would help.
    expect(err.hint).not.toMatch(/prefetchable/);
    expect(err.hint).not.toMatch(/writeCombine/);
  });

  it('UC- is what vfio-region gives, with no downgrade', () => {
    const { choice } = chooseRoute(req(EDU_BAR0(), 'uc-'), facts(), DEFAULT_ROUTES, 'op');
    expect([choice.name, choice.downgraded]).toEqual(['vfio-region', undefined]);
  });

  it('UC (strong) has no route: non-strict by default, so UC- with the reason', () => {
    const { choice } = chooseRoute(req(EDU_BAR0(), 'uc'), facts(), DEFAULT_ROUTES, 'op');
    expect(choice.name).toBe('vfio-region');
    expect(choice.downgraded).toMatch(/no route gives uncached \(UC\)/);
    expect(
      thrown(() => chooseRoute(req(EDU_BAR0(), 'uc', { strict: true }), facts(), DEFAULT_ROUTES, 'op')),
    ).toBeInstanceOf(NotSupportedError);
  });

  it('a range outside every mappable area has no route at all', () => {
    const err = thrown(() =>
      chooseRoute(req(EDU_BAR0(), 'uc-', { offset: 0xff000n, length: 0x2000 }), facts(), DEFAULT_ROUTES, 'op'),
    );
    expect(err.message).toMatch(
      /no route maps BAR0 0xff000\+0x2000 at all: .*vfio-region: BAR0 0xff000\+0x2000 is not inside one mmap-able area/,
    );
  });
});

describe('wc-region: a device-specific region announced as a WC view of a BAR', () => {
  const regions = () => [IVSHMEM_BAR2(), WC_REGION()];

  it('the fixture region decodes with its TYPE cap and the table matches it to BAR2', () => {
    const wc = WC_REGION();
    expect(wc.index).toBe(9);
    expect(wc.caps).toEqual([{ type: 'type', regionType: FIXTURE_WC_TYPE, subtype: FIXTURE_WC_SUBTYPE }]);
    expect(wcRegionsFor(2, regions(), [WC_TYPE]).map((f) => f.region.index)).toEqual([9]);
    expect(wcRegionsFor(0, regions(), [WC_TYPE])).toEqual([]);
    expect(wcRegionsFor(2, regions(), [{ ...WC_TYPE, subtype: 0x58 }])).toEqual([]);
  });

  it('is chosen first when present, before any probe of features, sysfs or PAT', () => {
    const facts = new FixtureFacts({ regions: regions(), devmem: RELAXED, tables: { wcRegionTypes: [WC_TYPE] } });
    const { route, choice } = chooseRoute(req(IVSHMEM_BAR2()), facts, DEFAULT_ROUTES, 'op');
    expect(route).toBe(wcRegionRoute);
    expect(choice.reason).toBe(
      `region 9 (fixture-wc, TYPE 0x${FIXTURE_WC_TYPE.toString(16)}/0x57) is a write-combining view of BAR2`,
    );
    // Works where sysfs cannot: no iomem=relaxed, and a BAR that vfio has already reserved UC-.
    const strictFacts = new FixtureFacts({ regions: regions(), devmem: STRICT, tables: { wcRegionTypes: [WC_TYPE] } });
    expect(chooseRoute(req(IVSHMEM_BAR2()), strictFacts, DEFAULT_ROUTES, 'op').choice.name).toBe('wc-region');
  });

  it('a TYPE cap the table does not name is not taken for a WC view (default table: no stock driver has one)', () => {
    const p = wcRegionRoute.probe(req(IVSHMEM_BAR2()), new FixtureFacts({ regions: regions() }));
    expect([p.available, p.reason]).toEqual([
      false,
      'no region announces a WC view of BAR2 through a TYPE capability (no region type for one is configured; no stock driver offers one)',
    ]);
  });

  it('per-BAR subtypes: a helper builds the table for a driver numbering subtypes base + BAR', () => {
    const table = wcRegionTypesPerBar('drv', FIXTURE_WC_TYPE, FIXTURE_WC_SUBTYPE - 2);
    expect(table[2]).toEqual({ name: 'drv-bar2', type: FIXTURE_WC_TYPE, subtype: FIXTURE_WC_SUBTYPE, bar: 2 });
    const facts = new FixtureFacts({ regions: regions(), tables: { wcRegionTypes: table } });
    expect(wcRegionRoute.probe(req(IVSHMEM_BAR2()), facts).available).toBe(true);
  });

  it('a range the WC region cannot map is refused with the reason', () => {
    const facts = new FixtureFacts({
      regions: [IVSHMEM_BAR2(), { ...WC_REGION(), mappableAreas: [{ offset: 0n, size: 0x1000n }] }],
      tables: { wcRegionTypes: [WC_TYPE] },
    });
    const p = wcRegionRoute.probe(req(IVSHMEM_BAR2(), 'wc', { offset: 0x2000n }), facts);
    expect(p.available).toBe(false);
    expect(p.reason).toMatch(/region 9 \(fixture-wc\) is a WC view of BAR2, but 0x2000\+0x1000 is not mmap-able in it/);
  });
});
