// Kconfig text: reading a config fragment and a generated .config, and telling which symbols
// of the fragment did not end up with the value asked for. Kconfig silently drops a value
// whose dependencies are not met (or whose symbol was renamed), so a build that trusts the
// fragment can produce a kernel without the very feature it was built for.

/** Symbol (with its CONFIG_ prefix) → value: "y", "m", "n" (for "is not set"), a number or a quoted string. */
export type ConfigValues = Map<string, string>;

const ASSIGNMENT = /^(CONFIG_[A-Za-z0-9_]+)=(.*)$/;
const NOT_SET = /^# (CONFIG_[A-Za-z0-9_]+) is not set$/;

/**
 * Parses .config or fragment text. Later lines win, as in merge_config.sh. Comments other than
 * "# CONFIG_X is not set" and blank lines are ignored.
 */
export function parseConfig(text: string): ConfigValues {
  const values: ConfigValues = new Map();
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    const set = ASSIGNMENT.exec(line);
    if (set) {
      values.set(set[1], set[2]);
      continue;
    }
    const unset = NOT_SET.exec(line);
    if (unset) values.set(unset[1], 'n');
  }
  return values;
}

export interface ConfigMismatch {
  symbol: string;
  wanted: string;
  /** What the .config has; "n" when the symbol is absent or not set. */
  got: string;
}

/**
 * The fragment's symbols whose value in the final .config differs from the one asked for.
 * A symbol missing from the .config counts as "n" (that is what Kconfig means by leaving it
 * out), so asking for "n" is satisfied by its absence.
 */
export function configMismatches(fragmentText: string, configText: string): ConfigMismatch[] {
  const config = parseConfig(configText);
  const out: ConfigMismatch[] = [];
  for (const [symbol, wanted] of parseConfig(fragmentText)) {
    const got = config.get(symbol) ?? 'n';
    if (got !== wanted) out.push({ symbol, wanted, got });
  }
  return out;
}

/** One line per mismatch, for an error message. */
export function describeMismatches(mismatches: ConfigMismatch[]): string {
  return mismatches.map((m) => `  ${m.symbol}: asked for ${m.wanted}, got ${m.got}`).join('\n');
}
