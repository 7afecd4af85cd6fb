// Route choice on fixtures, continued: the dma-buf route with a kernel that answers the
// memory-attribute feature, the order routes are tried in, and routes added by name.
import { Route } from '../../lib/cookie/routes';
import { chooseRoute, orderRoutes } from '../../lib/cookie/choose';
import { dmabufRoute } from '../../lib/cookie/dmabuf-route';
import { DEFAULT_ROUTES } from '../../lib/cookie/registry';
import { encodeDmaBufMemattr } from '../../lib/cookie/model';
import { InvalidArgumentError, NotSupportedError } from '../../lib/errors';
import { FEATURES_MEMATTR, FixtureFacts, IVSHMEM_BAR2, RELAXED, STRICT, req } from './cookie-fixtures';
import { thrown } from '../support/errors';

describe('dmabuf: export plus the memory-attribute feature', () => {
  it('a kernel answering the memattr feature (PROBE|SET) makes the dma-buf route give WC', () => {
    const facts = new FixtureFacts({ regions: [IVSHMEM_BAR2()], devmem: STRICT, features: FEATURES_MEMATTR });
    const { route, choice } = chooseRoute(req(IVSHMEM_BAR2()), facts, DEFAULT_ROUTES, 'op');
    expect(route).toBe(dmabufRoute);
    expect(choice.reason).toBe(
      'DMA_BUF export (feature 11) is supported and DMA_BUF_MEMATTR (feature 14) is offered: the dma-buf is mapped wc',
    );
    expect(facts.asked).toEqual(expect.arrayContaining(['feature11/get', 'feature14/set']));
  });

  it('the device feature table renumbers the memattr feature (numbers from 13 on are contested)', () => {
    const facts = new FixtureFacts({
      regions: [IVSHMEM_BAR2()],
      featureNumbers: { DMA_BUF: 11, DMA_BUF_MEMATTR: 15 },
      features: { 11: FEATURES_MEMATTR[11], 15: { probe: 'OK', get: 'EINVAL', set: 'OK' } },
    });
    expect(dmabufRoute.probe(req(IVSHMEM_BAR2()), facts)).toMatchObject({ available: true, gives: 'wc' });
    expect(facts.asked).toContain('feature15/set');
    expect(facts.asked).not.toContain('feature14/set');
  });

  it('no DMA_BUF export at all (pre-6.19): unavailable, and the needs say which kernel', () => {
    const facts = new FixtureFacts({ regions: [IVSHMEM_BAR2()], features: {} });
    const p = dmabufRoute.probe(req(IVSHMEM_BAR2()), facts);
    expect(p).toMatchObject({ available: false, reason: 'DMA_BUF export (feature 11) probe answered ENOTTY' });
    expect(p.needs).toEqual([expect.stringMatching(/6\.19\+/), expect.stringMatching(/DMA_BUF_MEMATTR/)]);
  });

  it('memattr feature disabled in the table: never probed, the dma-buf keeps NC', () => {
    const facts = new FixtureFacts({
      regions: [IVSHMEM_BAR2()],
      features: FEATURES_MEMATTR,
      tables: { memattrFeature: undefined },
    });
    expect(dmabufRoute.probe(req(IVSHMEM_BAR2()), facts)).toMatchObject({ available: true, gives: 'uc-' });
    expect(facts.asked.filter((a) => a.startsWith('feature14'))).toEqual([]);
  });

  it('forcing the route: a UC- request goes through even without memattr; strict WC does not', () => {
    const facts = () => new FixtureFacts({ regions: [IVSHMEM_BAR2()] });
    expect(
      chooseRoute(req(IVSHMEM_BAR2(), 'uc-', { route: 'dmabuf' }), facts(), DEFAULT_ROUTES, 'op').choice,
    ).toMatchObject({ name: 'dmabuf', downgraded: undefined });
    const err = thrown(() =>
      chooseRoute(req(IVSHMEM_BAR2(), 'wc', { route: 'dmabuf' }), facts(), DEFAULT_ROUTES, 'op'),
    );
    expect(err).toBeInstanceOf(NotSupportedError);
    expect(err.message).toMatch(/route dmabuf gives uncached-minus \(UC-\), not write-combining/);
    const lax = chooseRoute(
      req(IVSHMEM_BAR2(), 'wc', { route: 'dmabuf', strict: false }),
      facts(),
      DEFAULT_ROUTES,
      'op',
    ).choice;
    expect(lax.downgraded).toMatch(/^route dmabuf \(asked for by name\) gives uc-/);
  });

  it('the SET payload of the known revision: s32 dma-buf fd, u32 attribute', () => {
    expect([...encodeDmaBufMemattr(7, 1)]).toEqual([7, 0, 0, 0, 1, 0, 0, 0]);
  });
});

describe('route order and new routes', () => {
  const driverCookie: Route = {
    name: 'driver-cookie',
    probe: (r) => ({
      route: 'driver-cookie',
      available: true,
      gives: r.memattr,
      reason: 'the driver hands out an mmap offset for any attribute',
      needs: [],
      tentative: false,
    }),
    open: () => {
      throw new Error('not in this test');
    },
  };

  it('a route the table does not name is tried after the named ones; naming it moves it', () => {
    const routes = [...DEFAULT_ROUTES, driverCookie];
    expect(orderRoutes(routes, ['wc-region', 'dmabuf', 'sysfs', 'vfio-region']).map((r) => r.name)).toEqual([
      'wc-region',
      'dmabuf',
      'sysfs',
      'vfio-region',
      'cookie-feature',
      'driver-cookie',
    ]);
    const facts = new FixtureFacts({ regions: [IVSHMEM_BAR2()], devmem: STRICT });
    expect(chooseRoute(req(IVSHMEM_BAR2()), facts, routes, 'op').choice.name).toBe('driver-cookie');
    const first = new FixtureFacts({
      regions: [IVSHMEM_BAR2()],
      devmem: RELAXED,
      tables: { routeOrder: ['driver-cookie', 'sysfs'] },
    });
    expect(chooseRoute(req(IVSHMEM_BAR2()), first, routes, 'op').choice.name).toBe('driver-cookie');
  });

  it('the table order decides between two WC routes', () => {
    const facts = (order: string[]) =>
      new FixtureFacts({
        regions: [IVSHMEM_BAR2()],
        devmem: RELAXED,
        features: FEATURES_MEMATTR,
        tables: { routeOrder: order },
      });
    expect(chooseRoute(req(IVSHMEM_BAR2()), facts(['dmabuf', 'sysfs']), DEFAULT_ROUTES, 'op').choice.name).toBe(
      'dmabuf',
    );
    expect(chooseRoute(req(IVSHMEM_BAR2()), facts(['sysfs', 'dmabuf']), DEFAULT_ROUTES, 'op').choice.name).toBe(
      'sysfs',
    );
  });

  it('an unknown forced route is an argument error listing the routes', () => {
    const err = thrown(() =>
      chooseRoute(
        req(IVSHMEM_BAR2(), 'wc', { route: 'magic' }),
        new FixtureFacts({ regions: [IVSHMEM_BAR2()] }),
        DEFAULT_ROUTES,
        'op',
      ),
    );
    expect(err).toBeInstanceOf(InvalidArgumentError);
    expect(err.message).toMatch(
      /unknown route 'magic' \(routes: wc-region, cookie-feature, dmabuf, sysfs, vfio-region\)/,
    );
  });

  it('forcing an unavailable route says why', () => {
    const err = thrown(() =>
      chooseRoute(
        req(IVSHMEM_BAR2(), 'wc', { route: 'sysfs' }),
        new FixtureFacts({ regions: [IVSHMEM_BAR2()], devmem: STRICT }),
        DEFAULT_ROUTES,
        'op',
      ),
    );
    expect(err).toBeInstanceOf(NotSupportedError);
    expect(err.message).toMatch(/route sysfs cannot map BAR2 0x0\+0x1000: CONFIG_IO_STRICT_DEVMEM=y/);
    expect(err.hint).toMatch(/iomem=relaxed/);
  });
});
