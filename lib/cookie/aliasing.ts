// PAT aliasing: x86 keeps one memory type per reserved physical range, so two live mappings of a
// BAR that asked for different types do not both get what they asked for. A WC cookie made first
// makes vfio-pci's own (uncached) mapping of the BAR write-combining too (vfio reserves the whole
// BAR when it first maps it, and is given the type already reserved); the other order leaves the
// WC request uncached. Either way both mappings are told, with the PAT evidence.
import { EffectiveMemAttr } from '../memory/mapping';
import { hex } from './model';
import { EffectiveAttr, PatSnapshot, effectiveFromPat } from './pat';

/** One live mapping of a BAR, as the aliasing check sees it. */
export interface AliasSubject<M> {
  /** The mapping itself (opaque here). */
  readonly mapping: M;
  /** The BAR it maps (0-5). */
  readonly bar: number;
  /** Physical range [start, end). */
  readonly start: bigint;
  /** End of the physical range, exclusive. */
  readonly end: bigint;
  /** What it asked for: a cookie's attribute, or 'uc-' for a plain region mapping. */
  readonly requested: EffectiveMemAttr;
  /** What its page protection asks the kernel for. */
  readonly pgprot: EffectiveMemAttr;
  /** How messages name it: "cookie #1 (sysfs)", "BAR2 mapping +0x0". */
  readonly label: string;
}

/** Another mapping that overlaps the subject with a different memory type. */
export interface AliasFinding<M> {
  /** The other mapping. */
  readonly with: AliasSubject<M>;
  /** What the subject gets, per the PAT list. */
  readonly attr: EffectiveMemAttr;
  /** Why, in words: which of the two reserved the range first. */
  readonly reason: string;
}

/** The aliasing check's result for one mapping. */
export interface AliasReport<M> {
  /** The mapping examined. */
  readonly subject: AliasSubject<M>;
  /** What its range gets, per the PAT list. */
  readonly effective: EffectiveAttr;
  /** Overlapping mappings that asked for another type. */
  readonly aliases: readonly AliasFinding<M>[];
}

function range(s: AliasSubject<unknown>): string {
  return `[${hex(s.start)}-${hex(s.end)})`;
}

/**
 * For every subject: its effective attribute from the PAT list, and the other subjects it
 * aliases with. Two mappings of one BAR alias when they asked for different attributes and either
 * their physical ranges overlap or one of them got the attribute the other asked for.
 */
export function aliasing<M>(subjects: readonly AliasSubject<M>[], pat: PatSnapshot): AliasReport<M>[] {
  const eff = subjects.map((s) => effectiveFromPat(pat, s.start, s.end, s.pgprot));
  return subjects.map((a, i) => {
    const ea = eff[i];
    const aliases: AliasFinding<M>[] = [];
    for (const [j, b] of subjects.entries()) {
      if (b === a || b.bar !== a.bar || b.requested === a.requested) continue;
      const eb = eff[j];
      const overlap = a.start < b.end && b.start < a.end;
      const aGotB = ea.attr === b.requested;
      const bGotA = eb.attr === a.requested;
      if (!overlap && !aGotB && !bGotA) continue;
      let reason: string;
      if (aGotB) {
        reason =
          `asked for ${a.requested} but gets ${ea.attr}: ${b.label} reserved BAR${a.bar} ${range(b)} as ${b.requested} first, ` +
          `and PAT gives every later mapping of the range that type (${ea.basis})`;
      } else if (bGotA) {
        reason = `${b.label} asked for ${b.requested} but gets ${eb.attr} because of this mapping's reservation (${eb.basis})`;
      } else {
        reason =
          `${b.label} maps ${range(b)}, overlapping this mapping's ${range(a)}, as ${b.requested}; PAT keeps one type per range ` +
          `(this mapping: ${ea.attr}, ${ea.basis})`;
      }
      aliases.push({ with: b, attr: ea.attr, reason });
    }
    return { subject: a, effective: ea, aliases };
  });
}
