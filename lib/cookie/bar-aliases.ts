// The PAT aliasing report of one device's BAR mappings: the physical ranges of the mapped
// cookies and of the plain BAR mappings go to aliasing.ts, and what it finds is written back onto
// each Mapping (`effective`, `aliases`).
import { Mapping } from '../memory/mapping';
import { AliasSubject, aliasing } from './aliasing';
import type { MmapCookie } from './cookie';
import type { RouteFacts } from './facts';
import { hex } from './model';
import { barOf } from './routes';

/** The BAR number of a mapping's region, when it is a BAR. */
export function barIndex(m: Mapping): number | undefined {
  const i = m.regionIndex;
  return i !== undefined && i >= 0 && i <= 5 ? i : undefined;
}

/**
 * Recomputes `effective` and `aliases` for every mapping of a BAR that a mapped cookie covers,
 * from one fresh read of the PAT list; with no cookie mapped, clears the plain mappings' aliases
 * without asking for facts.
 */
export function reportBarAliases(
  cookieMaps: readonly { c: MmapCookie; m: Mapping }[],
  plain: readonly Mapping[],
  getFacts: () => RouteFacts,
): void {
  const reset = (m: Mapping) => {
    if (m.aliases.length) m.aliases = [];
  };
  if (cookieMaps.length === 0) {
    plain.forEach(reset);
    return;
  }
  const facts = getFacts();
  const subjects: AliasSubject<Mapping>[] = [];
  for (const { c, m } of cookieMaps) {
    const bar = barOf(c.region);
    const res = bar === undefined ? undefined : facts.resource(bar);
    if (bar === undefined || !res) continue;
    const start = res.start + c.offset;
    subjects.push({
      mapping: m,
      bar,
      start,
      end: start + BigInt(c.length),
      requested: c.requested,
      pgprot: c.pgprot,
      label: c.label,
    });
  }
  const bars = new Set(subjects.map((s) => s.bar));
  for (const m of plain) {
    const bar = barIndex(m);
    const res = bar === undefined ? undefined : facts.resource(bar);
    if (bar === undefined || !bars.has(bar) || !res) {
      reset(m);
      continue;
    }
    const start = res.start + m.offset;
    subjects.push({
      mapping: m,
      bar,
      start,
      end: start + BigInt(m.length),
      requested: 'uc-',
      pgprot: 'uc-',
      label: `the BAR${bar} mapping at ${hex(m.offset)} (${hex(m.length)} bytes)`,
    });
  }
  for (const r of aliasing(subjects, facts.pat())) {
    r.subject.mapping.effective = r.effective.attr;
    r.subject.mapping.aliases = r.aliases.map((a) => ({ with: a.with.mapping, attr: a.attr, reason: a.reason }));
  }
}
