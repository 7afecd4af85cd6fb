// Choosing a route: the routes in the table's order, the first that gives the attribute asked
// for, and when none does, an error that says what each route lacks.
import { invalidArgument, notSupported } from '../errors';
import { CookieRequest, RouteChoice, RouteProbe, hex } from './model';
import { RouteFacts } from './facts';

import { Route } from './routes';

/** The routes in the table's order; routes the table does not name follow, in the order given. */
export function orderRoutes(routes: readonly Route[], order: readonly string[]): Route[] {
  const rank = (r: Route) => {
    const i = order.indexOf(r.name);
    return i < 0 ? order.length : i;
  };
  return routes
    .map((r, i) => ({ r, i }))
    .sort((a, b) => rank(a.r) - rank(b.r) || a.i - b.i)
    .map((x) => x.r);
}

/** The route chosen for a request, with the evidence. */
export interface Chosen {
  /** The route. */
  readonly route: Route;
  /** Why it was chosen, and every route's answer. */
  readonly choice: RouteChoice;
}

const ATTR_NAMES: Record<string, string> = {
  uc: 'uncached (UC)',
  'uc-': 'uncached-minus (UC-)',
  wc: 'write-combining',
  wt: 'write-through',
  wb: 'write-back',
};
export function attrName(a: string): string {
  return ATTR_NAMES[a] ?? a;
}

function summary(probes: readonly RouteProbe[]): string {
  return probes.map((p) => `${p.route}: ${p.available ? `gives ${p.gives} (${p.reason})` : p.reason}`).join('; ');
}

/** What would make one of the routes give the attribute, as one hint line. */
export function needsHint(probes: readonly RouteProbe[]): string | undefined {
  const needs = [...new Set(probes.flatMap((p) => p.needs))];
  return needs.length ? `any of these would give write-combining here: ${needs.join('; ')}` : undefined;
}

/**
 * Picks the route for a request: the first available route (in preference order) that gives the
 * attribute asked for; else, when not strict, the first available one, marked as a downgrade;
 * else a NotSupportedError whose hint lists what would help. Tentative routes (mmap support
 * unknown until tried) are taken only when asked for by name.
 */
export function chooseRoute(req: CookieRequest, facts: RouteFacts, routes: readonly Route[], op: string): Chosen {
  // The table ranks routes for write-combining; any other request prefers them the other way
  // round, the device's own mapping first.
  const ordered = orderRoutes(routes, facts.tables.routeOrder);
  if (req.memattr !== 'wc') ordered.reverse();
  const what = `${req.region.name} ${hex(req.offset)}+${hex(req.length)}`;
  if (req.route !== undefined) {
    const forced = ordered.find((r) => r.name === req.route);
    if (!forced)
      throw invalidArgument(op, `unknown route '${req.route}' (routes: ${ordered.map((r) => r.name).join(', ')})`, {
        device: facts.device,
      });
    const p = forced.probe(req, facts);
    if (!p.available)
      throw notSupported(op, `route ${p.route} cannot map ${what}: ${p.reason}`, {
        device: facts.device,
        hint: needsHint([p]),
      });
    if (p.gives !== req.memattr && req.strict) {
      throw notSupported(
        op,
        `route ${p.route} gives ${attrName(String(p.gives))}, not ${attrName(req.memattr)}: ${p.reason}`,
        { device: facts.device, hint: needsHint([p]) },
      );
    }
    const downgraded =
      p.gives === req.memattr ? undefined : `route ${p.route} (asked for by name) gives ${p.gives}: ${p.reason}`;
    return { route: forced, choice: { name: p.route, gives: p.gives, reason: p.reason, downgraded, considered: [p] } };
  }
  const considered: RouteProbe[] = [];
  for (const r of ordered) {
    const p = r.probe(req, facts);
    considered.push(p);
    if (p.available && !p.tentative && p.gives === req.memattr) {
      return {
        route: r,
        choice: {
          name: r.name,
          gives: p.gives,
          reason: p.reason,
          downgraded: undefined,
          considered: [...considered, ...rest(ordered, r, req, facts)],
        },
      };
    }
  }
  if (req.strict) {
    throw notSupported(op, `no route maps ${what} ${attrName(req.memattr)}: ${summary(considered)}`, {
      device: facts.device,
      hint: needsHint(considered),
    });
  }
  const i = considered.findIndex((p) => p.available && !p.tentative);
  if (i < 0)
    throw notSupported(op, `no route maps ${what} at all: ${summary(considered)}`, {
      device: facts.device,
      hint: needsHint(considered),
    });
  const p = considered[i];
  const others = considered
    .filter((c) => c !== p)
    .map(
      (c) =>
        `${c.route}: ${c.available ? `gives ${c.gives}${c.tentative ? ' if the kernel lets it be mmapped' : ''}` : c.reason}`,
    )
    .join('; ');
  return {
    route: ordered[i],
    choice: {
      name: p.route,
      gives: p.gives,
      reason: p.reason,
      downgraded: `no route gives ${attrName(req.memattr)} (${others}); ${p.route} gives ${p.gives}`,
      considered,
    },
  };
}

/** Probes of the routes after `chosen`, so `considered` always shows every route's answer. */
function rest(ordered: readonly Route[], chosen: Route, req: CookieRequest, facts: RouteFacts): RouteProbe[] {
  return ordered.slice(ordered.indexOf(chosen) + 1).map((r) => r.probe(req, facts));
}
