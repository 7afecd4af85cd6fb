// One device's cookies: making them (validate → probe every route → open the chosen one), looking
// them up the way the kernel resolves an mmap offset, and keeping the PAT aliasing report of the
// device's BAR mappings current while write-combining cookies are mapped (bar-aliases.ts).
import { invalidArgument } from '../errors';
import { Mapping } from '../memory/mapping';
import { native } from '../addon/native';
import { barIndex, reportBarAliases } from './bar-aliases';
import { CookieOwner, MmapCookie } from './cookie';
import { dmabufRoute } from './dmabuf-route';
import { DeviceFacts, FactsSource, FeatureProbeAnswers, HostPaths } from './facts';
import {
  COOKIE_MEMATTRS,
  CookieMemAttr,
  CookieOptions,
  CookieRegion,
  CookieRequest,
  MemattrRoutesReport,
  MemattrTables,
  hex,
  memattrTables,
} from './model';
import { EffectiveAttr, PatReader, effectiveFromPat } from './pat';
import { OpenEnv, Route, barOf, vfioRegionRoute, wcRegionRoute } from './routes';
import { chooseRoute, needsHint, orderRoutes } from './choose';
import { sysfsWcRoute } from './sysfs-wc';
import { cookieFeatureRoute } from './cookie-feature-route';

/** The routes every device starts with; `routes` options replace the list. */
export const DEFAULT_ROUTES: readonly Route[] = Object.freeze([
  wcRegionRoute,
  cookieFeatureRoute,
  dmabufRoute,
  sysfsWcRoute,
  vfioRegionRoute,
]);

/** What the registry needs from its device. */
export interface CookieHost {
  /** The device's address. */
  readonly bdf: string;
  /** Its regions. */
  readonly regions: readonly CookieRegion[];
  /** The device fd; throws {@link ClosedError} naming `op` after the device closed. */
  fd(op: string): number;
  /** Live mappings of the device's regions. */
  mappings(): readonly Mapping[];
  /** Registers a cookie to close with the device. */
  own(res: { close(): void }): void;
  /** Forgets a cookie that closed by itself. */
  disown(res: { close(): void }): void;
  /** A feature's number in the device's table, by name. */
  featureNumber(name: string): number | undefined;
  /** The device's probe answers for a feature number. */
  probeFeature(index: number): FeatureProbeAnswers;
  /** VFIO_DEVICE_FEATURE SET with `payload`; throws the kernel's error. */
  setFeature(index: number, payload: Uint8Array): void;
  /** VFIO_DEVICE_FEATURE GET into a copy of `payload`, returned; throws the kernel's error. */
  getFeature(index: number, payload: Uint8Array): Uint8Array;
  /** Whether the device reserved the BAR write-combining before its fd was opened (reserve.ts). */
  wcReservedBeforeOpen(bar: number): boolean;
}

/** How a device's cookie registry is set up. */
export interface CookieRegistryOptions {
  /** The routes considered; default {@link DEFAULT_ROUTES}. */
  routes?: readonly Route[];
  /** Replacements for {@link DEFAULT_MEMATTR_TABLES} entries. */
  tables?: Partial<MemattrTables>;
  /** Where the system's files are (tests). */
  paths?: HostPaths;
  /** The page size in bytes; default the host's. */
  pageSize?: bigint;
}

/** Per-call replacements for the registry's tables and routes. */
export interface CookieCallOptions {
  /** Table entries replaced for this call. */
  tables?: Partial<MemattrTables>;
  /** The routes considered for this call. */
  routes?: readonly Route[];
}

/** Options of `dev.memattrRoutes(region, options)`: the range probed (default: the whole region). */
export interface MemattrRoutesOptions extends CookieCallOptions {
  /** Byte offset in the region, page-aligned; default 0. */
  offset?: number | bigint;
  /** Bytes; default: to the end of the region. */
  length?: number;
}

/** The key cookieAt() takes: a device-fd offset (bigint), an fd a cookie holds (number), or both. */
export type CookieKey =
  | bigint
  | number
  | {
      /** An fd a cookie's backing holds (a dma-buf or sysfs file), or the device fd. */
      readonly fd: number;
      /** The mmap offset in that file, in bytes; absent: the cookie that holds the fd (dma-buf and sysfs backings). */
      readonly offset?: bigint;
    };

/** A device's live cookies: makes them (choosing a route), finds them by key, and keeps PAT aliasing reports current. */
export class CookieRegistry implements CookieOwner {
  /** The device's label. */
  readonly label: string;
  /** The page size in bytes. */
  readonly pageSize: bigint;
  private readonly host: CookieHost;
  private readonly routes: readonly Route[];
  private readonly tables: Partial<MemattrTables>;
  private readonly paths: HostPaths;
  private readonly pat: PatReader;
  private readonly live: MmapCookie[] = [];
  private readonly cookieOf = new WeakMap<Mapping, MmapCookie>();
  private ownMapping = 0;

  constructor(host: CookieHost, o: CookieRegistryOptions = {}) {
    this.host = host;
    this.label = host.bdf;
    this.routes = o.routes ?? DEFAULT_ROUTES;
    this.tables = o.tables ?? {};
    this.paths = o.paths ?? {};
    this.pat = new PatReader(this.paths.pat);
    this.pageSize = o.pageSize ?? BigInt(native().constants.PAGE_SIZE);
  }

  /** Live cookies, oldest first. */
  get cookies(): MmapCookie[] {
    return [...this.live];
  }

  /**
   * Makes a cookie for a range of `region`: validates the request, probes the routes in order and
   * opens the first that serves it. Throws {@link InvalidArgumentError} for a bad range and
   * {@link NotSupportedError} when a strict request finds no route.
   */
  create(region: CookieRegion, opts: CookieOptions & CookieCallOptions): MmapCookie {
    const op = `Region(${region.name}).cookie`;
    const req = this.request(region, opts, op);
    const facts = this.facts(opts.tables);
    const { route, choice } = chooseRoute(req, facts, opts.routes ?? this.routes, op);
    const opened = route.open(req, this.env(facts));
    const cookie = new MmapCookie(
      this.nextId(),
      region,
      req.offset,
      req.length,
      req.memattr,
      req.strict,
      choice,
      opened,
      this,
    );
    try {
      this.host.own(cookie);
    } catch (e) {
      opened.close();
      throw e;
    }
    this.live.push(cookie);
    return cookie;
  }

  /** The oldest live cookie an mmap of (fd, offset) would land in (a bigint is an offset in the device fd). */
  at(key: CookieKey): MmapCookie | undefined {
    const { fd, offset } =
      typeof key === 'bigint'
        ? { fd: this.host.fd('Device.cookieAt'), offset: key }
        : typeof key === 'number'
          ? { fd: key, offset: undefined }
          : key;
    return this.live.find((c) => c.covers(fd, offset));
  }

  /** Every route's answer for write-combining on a region (whole region unless a range is given). */
  report(region: CookieRegion, o: MemattrRoutesOptions = {}): MemattrRoutesReport {
    const offset = BigInt(o.offset ?? 0);
    const length = o.length ?? Number(region.size > offset ? region.size - offset : 0n);
    const req: CookieRequest = { region, offset, length, memattr: 'wc', strict: true, route: undefined };
    const facts = this.facts(o.tables);
    const routes = orderRoutes(o.routes ?? this.routes, facts.tables.routeOrder).map((r) => r.probe(req, facts));
    const wc = routes.filter((p) => p.available && p.gives === 'wc').map((p) => p.route);
    return {
      region: region.name,
      routes,
      wc,
      why: wc.length
        ? undefined
        : routes.map((p) => `${p.route}: ${p.available ? `gives ${p.gives}` : p.reason}`).join('; '),
      hint: wc.length ? undefined : needsHint(routes),
    };
  }

  // --- CookieOwner ---------------------------------------------------------------------------------

  verify(c: MmapCookie, pgprot: CookieMemAttr): EffectiveAttr {
    const facts = this.facts();
    const bar = barOf(c.region);
    const res = bar === undefined ? undefined : facts.resource(bar);
    if (!res)
      return { attr: 'unknown', basis: `no physical address for ${c.region.name} (sysfs resource file unreadable)` };
    const start = res.start + c.offset;
    return effectiveFromPat(facts.pat(), start, start + BigInt(c.length), pgprot);
  }

  mapped(c: MmapCookie, m: Mapping): void {
    this.cookieOf.set(m, c);
    this.refreshAliasing();
  }

  /** A cookie closed: it is forgotten and aliasing re-examined. */
  released(c: MmapCookie): void {
    const i = this.live.indexOf(c);
    if (i >= 0) this.live.splice(i, 1);
    this.host.disown(c);
    this.refreshAliasingQuietly();
  }

  unmapped(_c: MmapCookie): void {
    this.refreshAliasingQuietly();
  }

  /**
   * Before a device reset: cookies whose backing the reset revokes (dma-bufs) take their
   * mappings down, so their accessors throw a RevokedError rather than fault.
   */
  beforeReset(kind: string): void {
    const errors: unknown[] = [];
    for (const c of this.live) {
      if (!c.revokedByReset) continue;
      try {
        c.invalidate(`the device was reset (${kind})`);
      } catch (e) {
        errors.push(e);
      }
    }
    if (errors.length)
      throw new AggregateError(errors, `reset of ${this.label}: ${errors.length} cookie(s) failed to unmap`);
  }

  /**
   * @internal Before a raw SET of a device feature (Device.feature(N).set()): when N is the dma-buf revoke
   * feature and the payload is the one that revokes a live cookie's dma-buf, that cookie takes its
   * mappings down first, as MmapCookie.revoke() does, so their accessors throw a RevokedError
   * instead of meeting the kernel's SIGBUS. Comparing whole payloads assumes nothing about the
   * revoke payload's layout beyond the table's own encoder.
   */
  beforeFeatureSet(index: number, payload: Uint8Array): void {
    const rf = memattrTables(this.tables).revokeFeature;
    if (!rf || (this.host.featureNumber(rf.name) ?? rf.number) !== index) return;
    for (const c of [...this.live]) {
      if (c.backing.kind !== 'dmabuf' || c.revoked !== undefined) continue;
      const mine = rf.encode(c.backing.fd);
      if (mine.length === payload.length && mine.every((b, i) => b === payload[i])) {
        c.invalidate(`revoked through Device.feature(${index}).set()`);
      }
    }
  }

  mapping<T>(f: () => T): T {
    this.ownMapping++;
    try {
      return f();
    } finally {
      this.ownMapping--;
    }
  }

  // --- internals -----------------------------------------------------------------------------------

  private request(region: CookieRegion, opts: CookieOptions, op: string): CookieRequest {
    const device = this.label;
    if (!COOKIE_MEMATTRS.includes(opts.memattr)) {
      throw invalidArgument(op, `memattr ${JSON.stringify(opts.memattr)} is not one of ${COOKIE_MEMATTRS.join(', ')}`, {
        device,
      });
    }
    let offset: bigint;
    try {
      offset = BigInt(opts.offset ?? 0);
    } catch {
      throw invalidArgument(op, `offset ${String(opts.offset)} is not an integer`, { device });
    }
    if (offset < 0n || offset >= region.size) {
      throw invalidArgument(op, `offset ${hex(offset)} is outside the ${hex(region.size)}-byte region`, {
        code: 'ERANGE',
        device,
      });
    }
    if (offset % this.pageSize !== 0n)
      throw invalidArgument(op, `offset ${hex(offset)} is not page-aligned (${this.pageSize})`, { device });
    const length = opts.length ?? Number(region.size - offset);
    if (!Number.isInteger(length) || length <= 0 || offset + BigInt(length) > region.size) {
      throw invalidArgument(op, `${length} bytes at ${hex(offset)} do not fit in the ${hex(region.size)}-byte region`, {
        code: 'ERANGE',
        device,
      });
    }
    if (length > native().constants.MAX_MAPPING_LENGTH) {
      throw invalidArgument(
        op,
        `${hex(length)} bytes exceed the largest mapping (${hex(native().constants.MAX_MAPPING_LENGTH)} bytes)`,
        {
          device,
          hint: 'make cookies for smaller windows of the region',
        },
      );
    }
    if (opts.strict !== undefined && typeof opts.strict !== 'boolean')
      throw invalidArgument(op, 'strict must be a boolean', { device });
    return {
      region,
      offset,
      length,
      memattr: opts.memattr,
      strict: opts.strict ?? opts.memattr === 'wc',
      route: opts.route,
    };
  }

  private facts(tables: Partial<MemattrTables> = {}): DeviceFacts {
    const host = this.host;
    const src: FactsSource = {
      bdf: host.bdf,
      regions: host.regions,
      featureNumber: (name) => host.featureNumber(name),
      probeFeature: (index) => host.probeFeature(index),
      wcReservedBeforeOpen: (bar) => host.wcReservedBeforeOpen(bar),
    };
    return new DeviceFacts(src, memattrTables({ ...this.tables, ...tables }), this.paths, this.pat);
  }

  private env(facts: DeviceFacts): OpenEnv {
    const host = this.host;
    return {
      facts,
      pageSize: this.pageSize,
      region: (index) => {
        const r = host.regions.find((x) => x.index === index);
        if (!r) throw invalidArgument('MmapCookie.open', `${host.bdf} has no region ${index}`, { device: host.bdf });
        return r;
      },
      deviceFd: (op) => host.fd(op),
      setFeature: (index, payload) => host.setFeature(index, payload),
      getFeature: (index, payload) => host.getFeature(index, payload),
    };
  }

  /** Smallest id no live cookie uses: ids stay dense, as the kernel keeps mmap offset space dense. */
  private nextId(): number {
    const used = new Set(this.live.map((c) => c.id));
    let id = 1;
    while (used.has(id)) id++;
    return id;
  }

  /** Live mappings of BARs that are not a cookie's. */
  private plainBarMappings(): Mapping[] {
    return this.host.mappings().filter((m) => !m.closed && !this.cookieOf.has(m) && barIndex(m) !== undefined);
  }

  /** @internal The device tells the registry about every new mapping of its regions. */
  noticeMapping(m: Mapping): void {
    if (this.ownMapping > 0 || barIndex(m) === undefined) return;
    if (this.live.some((c) => c.mappings.length > 0)) this.refreshAliasing();
  }

  private refreshAliasingQuietly(): void {
    try {
      this.refreshAliasing();
    } catch {
      // A closing device can no longer be asked about its mappings; nothing is left to report on.
    }
  }

  /**
   * Recomputes `effective` and `aliases` for every live mapping of a BAR that a mapped cookie
   * covers, from one fresh read of the PAT list.
   */
  refreshAliasing(): void {
    const cookieMaps = this.live.flatMap((c) => c.mappings.map((m) => ({ c, m })));
    reportBarAliases(cookieMaps, this.plainBarMappings(), () => this.facts());
  }
}
