// The x86 PAT memtype list (debugfs x86/pat_memtype_list): the only place that tells which
// caching type the kernel actually gave a physical range. A request for write-combining can be
// silently downgraded to uncached-minus when an earlier reservation of the range exists.
//
// Each line is printed by arch/x86/mm/pat/memtype.c as
//   PAT: [mem 0x<start:016x>-0x<end:016x>] <name>
// with `end` exclusive and <name> one of the strings below. The first line is a title.
import { DecodeError } from './errors';

/** A memory type as this package names the PAT list's types: 'wb', 'uc', 'uc-', 'wc', 'wt', 'wp'. */
export type MemType = 'wb' | 'uc' | 'uc-' | 'wc' | 'wt' | 'wp';

const TYPES: Readonly<Record<string, MemType>> = {
  'write-back': 'wb',
  uncached: 'uc',
  'uncached-minus': 'uc-',
  'write-combining': 'wc',
  'write-through': 'wt',
  'write-protected': 'wp',
};

/** One line of the PAT memtype list: a reserved physical range and its type. */
export interface MemTypeEntry {
  /** First physical address. */
  readonly start: bigint;
  /** Exclusive end. */
  readonly end: bigint;
  /** The type every mapping of the range gets. */
  readonly type: MemType;
}

const LINE_RE = /^PAT: \[mem 0x([0-9a-f]+)-0x([0-9a-f]+)\] (\S+)$/i;

/**
 * Parses the list. The title line, blank lines and entries the kernel itself calls 'broken' are
 * skipped; any other line that does not match the format is an error (a changed format must not
 * quietly read as "nothing is write-combining").
 */
export function parsePatMemtypeList(text: string): MemTypeEntry[] {
  const entries: MemTypeEntry[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || /^PAT memtype list:?$/i.test(line)) return;
    const m = LINE_RE.exec(line);
    if (!m) throw new DecodeError('pat memtype list', i + 1, `unexpected line '${line}'`);
    if (m[3] === 'broken') return;
    const type = TYPES[m[3]];
    if (!type) throw new DecodeError('pat memtype list', i + 1, `unknown memory type '${m[3]}'`);
    entries.push({ start: BigInt(`0x${m[1]}`), end: BigInt(`0x${m[2]}`), type });
  });
  return entries;
}

/**
 * The memory type of [start, end) (end exclusive): the one type every overlapping entry agrees
 * on when together they cover the whole range; 'mixed' when overlapping entries disagree;
 * 'unknown' when no entry, or not enough entries, cover it.
 */
export function memtypeFor(
  entries: readonly MemTypeEntry[],
  start: bigint,
  end: bigint,
): MemType | 'mixed' | 'unknown' {
  const hits = entries.filter((e) => e.start < end && e.end > start);
  if (hits.length === 0) return 'unknown';
  const types = new Set(hits.map((e) => e.type));
  if (types.size > 1) return 'mixed';
  return covers(hits, start, end) ? hits[0].type : 'unknown';
}

/** Whether the union of the entries covers [start, end). */
function covers(hits: readonly MemTypeEntry[], start: bigint, end: bigint): boolean {
  const sorted = [...hits].sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
  let reached = start;
  for (const e of sorted) {
    if (e.start > reached) return false;
    if (e.end > reached) reached = e.end;
    if (reached >= end) return true;
  }
  return reached >= end;
}
