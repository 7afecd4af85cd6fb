// A route is one way to get a CPU mapping of a BAR range with some memory attribute:
//   probe(request, facts) → is it available here, what attribute would it give, and why;
//   open(request, env)    → the backing (fds, offsets) the cookie holds;
//   backing.map()         → a Mapping through Region.mapRange, so every route shares one accessor.
// New routes (a driver's cookie feature, say) slot in by name; the order they are tried in is a
// table (MemattrTables.routeOrder), not code.
import { VFIO_PCI_BAR0_REGION_INDEX, VFIO_PCI_BAR5_REGION_INDEX } from '../abi';
import { findRegionCap } from '../decode';
import { notSupported } from '../errors';
import { EffectiveMemAttr, Mapping } from '../memory/mapping';
import {
  Backing,
  CookieMemAttr,
  CookieRegion,
  CookieRequest,
  RegionView,
  RouteProbe,
  WcRegionType,
  hex,
} from './model';
import { effectiveFromPat, overlapping } from './pat';
import { RouteFacts } from './facts';

/** What a route may use to open a backing. */
export interface OpenEnv {
  /** The facts the route's probe saw. */
  readonly facts: RouteFacts;
  /** The device's live region objects (mappings go through Region.mapRange). */
  region(index: number): CookieRegion;
  /** The device fd; throws {@link ClosedError} naming `op` after the device closed. */
  deviceFd(op: string): number;
  /** VFIO_DEVICE_FEATURE SET of a feature number with a payload; throws the kernel's errno as a typed error. */
  setFeature(index: number, payload: Uint8Array): void;
  /** VFIO_DEVICE_FEATURE GET with a payload; returns the payload as the kernel left it (typed error on failure). */
  getFeature(index: number, payload: Uint8Array): Uint8Array;
  /** The system page size (mmap offsets are counted in pages: vm_pgoff). */
  readonly pageSize: bigint;
}

/** What a route's open() hands the cookie: its backing and how to map, release and revoke it. */
export interface OpenedBacking {
  /** The file and page offset mappings come from. */
  readonly backing: Backing;
  /** The attribute the mapping's page protection asks for; PAT may substitute the range's type. */
  readonly pgprot: CookieMemAttr;
  /** Maps the cookie's range (a new Mapping each call). */
  map(): Mapping;
  /** Releases what the backing holds (a dma-buf or sysfs fd). Idempotent. */
  close(): void;
  /**
   * Revokes the backing in the kernel (dma-bufs with a revoke feature): checks that it can,
   * calls `invalidate` (the cookie takes its own mappings down), then revokes. Absent where the
   * route has nothing to revoke.
   */
  revoke?(invalidate: () => void): void;
  /** Whether a device reset revokes the backing (the cookie's mappings go before the reset). */
  readonly revokedByReset?: boolean;
}

/**
 * One way to get a CPU mapping of a BAR range with a memory type. Routes are tried in the order
 * of {@link MemattrTables.routeOrder}; a custom one can be passed in {@link cookie.CookieCallOptions.routes}.
 */
export interface Route {
  /** Its name, as options and reports use it ('sysfs', 'dmabuf', …). */
  readonly name: string;
  /** Whether the route can serve `req` here and what it would give; reads facts, changes nothing. */
  probe(req: CookieRequest, facts: RouteFacts): RouteProbe;
  /** Opens the backing for `req`; throws a {@link VfioError} when the kernel refuses. */
  open(req: CookieRequest, env: OpenEnv): OpenedBacking;
}

export function probe(
  route: string,
  available: boolean,
  gives: RouteProbe['gives'],
  reason: string,
  needs: readonly string[] = [],
  tentative = false,
): RouteProbe {
  return { route, available, gives: available ? gives : undefined, reason, needs, tentative: available && tentative };
}

/** The BAR number (0-5) of a region, or undefined for config, ROM, VGA and device-specific regions. */
export function barOf(region: RegionView): number | undefined {
  const i = region.index - VFIO_PCI_BAR0_REGION_INDEX;
  return region.index >= VFIO_PCI_BAR0_REGION_INDEX && region.index <= VFIO_PCI_BAR5_REGION_INDEX ? i : undefined;
}

/**
 * The BAR number of a region a route opens. A route's probe accepts BARs only, so another region
 * here is a route that skipped its probe: refused, rather than mapped at a wrong BAR.
 */
export function requireBar(region: RegionView, op: string): number {
  const bar = barOf(region);
  if (bar === undefined) throw notSupported(op, `region ${region.index} is no BAR: no route maps it`);
  return bar;
}

/** Whether [offset, offset+length) lies in one mappable area of the region. */
export function inMappableArea(region: RegionView, offset: bigint, length: number): boolean {
  return (
    region.flags.mmap &&
    region.mappableAreas.some((a) => offset >= a.offset && offset + BigInt(length) <= a.offset + a.size)
  );
}

// --- vfio-region: mmap of the device fd at REGION_INFO's offset --------------------------------------

/** What to do so a BAR is WC for as long as the device is open. */
export function reserveNeed(bar: number): string {
  return (
    `reserving BAR${bar} write-combining before the device is opened: Device.open(bdf, { writeCombine: [${bar}] }) ` +
    `(then vfio-pci's own mappings of BAR${bar} are WC too)`
  );
}

/**
 * vfio-pci maps with pgprot_noncached, but the kernel substitutes the type PAT holds for the
 * BAR: UC- after a plain open, WC when the BAR was reserved WC before the device was opened.
 */
export const vfioRegionRoute: Route = {
  name: 'vfio-region',
  probe(req, facts) {
    const r = req.region;
    if (!inMappableArea(r, req.offset, req.length)) {
      return probe(
        this.name,
        false,
        undefined,
        `${r.name} ${hex(req.offset)}+${hex(req.length)} is not inside one mmap-able area of the region`,
      );
    }
    const plain = 'vfio-pci maps every region with pgprot_noncached (UC-)';
    const bar = barOf(r);
    const res = bar === undefined ? undefined : facts.resource(bar);
    if (bar === undefined || !res) return probe(this.name, true, 'uc-', plain);
    const reserved = facts.wcReservedBeforeOpen(bar);
    const needs = !reserved && res.prefetch && facts.sysfsWcPath(bar) ? [reserveNeed(bar)] : [];
    const pat = facts.pat();
    if (!pat.ok) {
      return reserved
        ? probe(
            this.name,
            true,
            'wc',
            `BAR${bar} was reserved write-combining before the device was opened, so vfio-pci's reservation ` +
              `of it is WC; the PAT list is unreadable (${pat.reason}), so this is not verified`,
          )
        : probe(this.name, true, 'uc-', plain, needs);
    }
    const start = res.start + req.offset;
    const eff = effectiveFromPat(pat, start, start + BigInt(req.length), 'uc-');
    if (eff.attr === 'uc-') return probe(this.name, true, 'uc-', `${plain}; ${eff.basis}`, needs);
    const why = reserved ? `: BAR${bar} was reserved write-combining before the device was opened` : '';
    return probe(
      this.name,
      true,
      eff.attr,
      `${plain}, but the kernel gives the type PAT holds for the range (${eff.basis})${why}`,
      needs,
    );
  },
  open(req, env) {
    const region = env.region(req.region.index);
    const fd = env.deviceFd('MmapCookie.open');
    return fixedBacking({ kind: 'vfio-region', fd, pgoff: (region.offset + req.offset) / env.pageSize }, 'uc-', () =>
      region.mapRange(req.offset, req.length),
    );
  },
};

// --- what PAT already holds, for routes whose mapping reserves its own range ---------------------------

/**
 * A driver mapping that reserves the memory type of its own range (remap_pfn_range does) gets
 * the type PAT already holds wherever the range overlaps an earlier reservation, whatever it
 * asked for: the first reservation wins, silently. This says what is held, or undefined when
 * nothing overlaps (or PAT cannot be read: the mapping is then verified after the fact).
 */
export function heldByPat(
  facts: RouteFacts,
  bar: number,
  offset: bigint,
  length: number,
): { type: EffectiveMemAttr; basis: string } | undefined {
  const res = facts.resource(bar);
  const pat = facts.pat();
  if (!res || !pat.ok) return undefined;
  const start = res.start + offset;
  const end = start + BigInt(length);
  const hits = overlapping(pat.entries, start, end);
  if (hits.length === 0) return undefined;
  const types = [...new Set(hits.map((e) => e.type))];
  const list = hits.map((e) => `[${hex(e.start)}-${hex(e.end)}) ${e.type}`).join(', ');
  return {
    type: types.length === 1 ? types[0] : 'mixed',
    basis:
      types.length === 1
        ? `PAT already holds ${types[0]} for [${hex(start)}-${hex(end)}) (${list}), reserved first: the mapping gets that type`
        : `PAT entries for [${hex(start)}-${hex(end)}) disagree (${list}): the kernel refuses a reservation across them`,
  };
}

/** A driver route's probe once it knows it could map the range with `wanted`: PAT may say otherwise. */
export function probeWithPat(
  route: string,
  facts: RouteFacts,
  bar: number,
  req: CookieRequest,
  wanted: CookieMemAttr,
  reason: string,
): RouteProbe {
  const held = heldByPat(facts, bar, req.offset, req.length);
  if (!held || held.type === wanted) return probe(route, true, wanted, reason);
  const need = [
    `no other mapping of BAR${bar} ${hex(req.offset)}+${hex(req.length)} while the ${wanted} one is made ` +
      '(PAT gives every mapping the type of the first reservation of a range: unmap the others first)',
  ];
  if (held.type === 'mixed') return probe(route, false, undefined, `${reason}, but ${held.basis}`, need);
  return probe(route, true, held.type, `${reason}, but ${held.basis}`, need);
}

// --- wc-region: a device-specific region announced as a WC view of the BAR ---------------------------

/** The regions whose TYPE cap the table names as a WC view of `bar`. */
export function wcRegionsFor(
  bar: number,
  regions: readonly RegionView[],
  types: readonly WcRegionType[],
): {
  /** The WC view region. */
  region: RegionView;
  /** The table entry that names it a WC view of `bar`. */
  type: WcRegionType;
}[] {
  const out: { region: RegionView; type: WcRegionType }[] = [];
  for (const region of regions) {
    const cap = findRegionCap(region.caps, 'type');
    if (!cap) continue;
    const type = types.find((t) => t.bar === bar && t.type === cap.regionType >>> 0 && t.subtype === cap.subtype >>> 0);
    if (type) out.push({ region, type });
  }
  return out;
}

/** The route through a device-specific region announced as a WC view of the BAR ({@link MemattrTables.wcRegionTypes}). */
export const wcRegionRoute: Route = {
  name: 'wc-region',
  probe(req, facts) {
    const bar = barOf(req.region);
    const needs = ['a driver that offers a write-combining view of the BAR as a region (TYPE capability)'];
    if (bar === undefined) return probe(this.name, false, undefined, `${req.region.name} is not a BAR`);
    const found = wcRegionsFor(bar, facts.regions, facts.tables.wcRegionTypes);
    if (found.length === 0) {
      const known = facts.tables.wcRegionTypes.length;
      return probe(
        this.name,
        false,
        undefined,
        `no region announces a WC view of BAR${bar} through a TYPE capability` +
          (known ? '' : ' (no region type for one is configured; no stock driver offers one)'),
        needs,
      );
    }
    const usable = found.find(
      (f) => f.region.size >= req.region.size && inMappableArea(f.region, req.offset, req.length),
    );
    if (!usable) {
      const f = found[0];
      return probe(
        this.name,
        false,
        undefined,
        `region ${f.region.index} (${f.type.name}) is a WC view of BAR${bar}, ` +
          `but ${hex(req.offset)}+${hex(req.length)} is not mmap-able in it`,
        needs,
      );
    }
    return probeWithPat(
      this.name,
      facts,
      bar,
      req,
      'wc',
      `region ${usable.region.index} (${usable.type.name}, TYPE ${hex(usable.type.type)}/${hex(usable.type.subtype)}) is a write-combining view of BAR${bar}`,
    );
  },
  open(req, env) {
    const bar = requireBar(req.region, 'MmapCookie.open');
    const found = wcRegionsFor(bar, env.facts.regions, env.facts.tables.wcRegionTypes).find((f) =>
      inMappableArea(f.region, req.offset, req.length),
    );
    if (!found)
      throw notSupported('MmapCookie.open', `no WC region for BAR${bar} maps ${hex(req.offset)}+${hex(req.length)}`);
    const region = env.region(found.region.index);
    const fd = env.deviceFd('MmapCookie.open');
    return fixedBacking(
      { kind: 'wc-region', regionIndex: region.index, fd, pgoff: (region.offset + req.offset) / env.pageSize },
      'wc',
      () => region.mapRange(req.offset, req.length),
    );
  },
};

/** A backing that holds nothing of its own (the device fd belongs to the device). */
function fixedBacking(backing: Backing, pgprot: CookieMemAttr, map: () => Mapping): OpenedBacking {
  return {
    backing,
    pgprot,
    map,
    close() {
      /* nothing held */
    },
  };
}
