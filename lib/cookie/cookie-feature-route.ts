// The cookie-feature route: the driver itself hands out mmap cookies. A device feature (GET)
// takes "BAR, range, attribute" and answers with an offset of the device fd that maps exactly
// that; SET with the offset releases it. The driver resolves the offset at mmap time, so the
// region layout never changes and every attribute the feature knows is one request away.
// No released kernel has such a feature: its number, values and payload come from
// MemattrTables.cookieFeature (the sample driver's are in sample-driver.ts), and whether the
// device offers it is probed (PROBE|GET and PROBE|SET), never assumed.
import { notSupported } from '../errors';
import { CookieFeature, CookieMemAttr } from './model';
import { RouteFacts } from './facts';
import { Route, barOf, probe, probeWithPat, requireBar } from './routes';

const NEED =
  'a driver that hands out mmap cookies through a device feature (e.g. the sample driver, docs/sample-driver.md)';

/** The feature's number: the device's feature table wins over the route table. */
export function cookieFeatureNumber(facts: RouteFacts, cf: CookieFeature): number {
  return facts.featureNumber(cf.name) ?? cf.number;
}

/** The route through a driver's mmap-cookie feature ({@link MemattrTables.cookieFeature}). */
export const cookieFeatureRoute: Route = {
  name: 'cookie-feature',
  probe(req, facts) {
    const bar = barOf(req.region);
    if (bar === undefined) return probe(this.name, false, undefined, `${req.region.name} is not a BAR`);
    const cf = facts.tables.cookieFeature;
    if (!cf) {
      return probe(
        this.name,
        false,
        undefined,
        'no cookie feature is configured (no stock driver offers one; ' +
          "the sample driver's table is sampleDriverTables())",
        [NEED],
      );
    }
    const n = cookieFeatureNumber(facts, cf);
    const get = facts.feature(n, 'get');
    const set = facts.feature(n, 'set');
    if (!get.supported || !set.supported) {
      return probe(
        this.name,
        false,
        undefined,
        `${cf.name} (feature ${n}) probe answered GET ${get.answer}, SET ${set.answer}`,
        [NEED],
      );
    }
    if (cf.values[req.memattr] === undefined) {
      return probe(this.name, false, undefined, `${cf.name} (feature ${n}) has no value for ${req.memattr}`);
    }
    const res = facts.resource(bar);
    if (res && !res.mem) return probe(this.name, false, undefined, `BAR${bar} is not a memory BAR`);
    if (cf.bars === 'prefetchable' && res && !res.prefetch) {
      return probe(
        this.name,
        false,
        undefined,
        // No need listed: a BAR's prefetchability is the hardware's, nothing the user can change.
        `BAR${bar} is not prefetchable, and ${cf.name} makes cookies for prefetchable BARs only`,
      );
    }
    return probeWithPat(
      this.name,
      facts,
      bar,
      req,
      req.memattr,
      `${cf.name} (feature ${n}) answers GET and SET: the driver maps the range ` +
        `${req.memattr} at a device-fd offset it allocates`,
    );
  },

  open(req, env) {
    // The probe refuses both cases; open() without a probe says the same rather than asserting.
    const cf = env.facts.tables.cookieFeature;
    if (!cf) throw notSupported('MmapCookie.open', 'no cookie feature is configured', { device: env.facts.device });
    const n = cookieFeatureNumber(env.facts, cf);
    const region = env.region(req.region.index);
    const value = cf.values[req.memattr];
    if (value === undefined) {
      throw notSupported('MmapCookie.open', `${cf.name} (feature ${n}) has no value for ${req.memattr}`, {
        device: env.facts.device,
      });
    }
    // The driver maps whole pages; the cookie's mappings still cover only its own length.
    const length = ((BigInt(req.length) + env.pageSize - 1n) / env.pageSize) * env.pageSize;
    const created = env.getFeature(
      n,
      cf.encodeCreate({ bar: requireBar(req.region, 'MmapCookie.open'), memattr: value, offset: req.offset, length }),
    );
    const mmapOffset = cf.decodeCreated(created);
    const fd = env.deviceFd('MmapCookie.open');
    let released = false;
    return {
      backing: { kind: 'cookie-feature', fd, pgoff: mmapOffset / env.pageSize },
      pgprot: req.memattr as CookieMemAttr,
      map: () => region.mapRange(req.offset, req.length, fd, mmapOffset),
      // The cookie unmaps its mappings before this; the kernel frees the cookie once both are done.
      close: () => {
        if (released) return;
        released = true;
        env.setFeature(n, cf.encodeRelease(mmapOffset));
      },
    };
  },
};
