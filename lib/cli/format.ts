// Text helpers shared by the subcommands: numbers as lspci prints them, borderless tables, colour
// and JSON. Everything here is pure (data in, text out) so the output is testable on any host.
import pc from 'picocolors';
import { table as textTable } from '../text/table';

export type Colors = ReturnType<typeof pc.createColors>;

/** Colour functions that honour the caller's choice (NO_COLOR and pipes turn them off). */
export function colors(enabled: boolean): Colors {
  return pc.createColors(enabled);
}

/** '0x' + lower-case hex, zero-padded to `digits`. */
export function hex(n: number | bigint, digits = 0): string {
  const v = typeof n === 'bigint' ? BigInt.asUintN(64, n) : n < 0 ? n >>> 0 : n;
  return `0x${v.toString(16).padStart(digits, '0')}`;
}

/** Plain hex without prefix, as in PCI ids ('8086'). */
export function hex4(n: number): string {
  return n.toString(16).padStart(4, '0');
}

const UNITS: [bigint, string][] = [
  [1n << 40n, 'T'],
  [1n << 30n, 'G'],
  [1n << 20n, 'M'],
  [1n << 10n, 'K'],
];

/** A size the way lspci prints it: '16K', '1M', '256' (exact powers only, else bytes in hex). */
export function size(n: bigint | number): string {
  const v = BigInt(n);
  if (v === 0n) return '0';
  for (const [unit, suffix] of UNITS) {
    if (v >= unit && v % unit === 0n) return `${v / unit}${suffix}`;
  }
  return v < 1024n ? String(v) : hex(v);
}

/** '+' or '-' after a name, as lspci -vv shows a flag: 'BusMaster+'. */
export function flag(name: string, on: boolean): string {
  return `${name}${on ? '+' : '-'}`;
}

/** The names of the true members of a flags object, upper-cased, in declaration order. */
export function setFlags(flags: object): string[] {
  return Object.entries(flags)
    .filter(([, v]) => v === true)
    .map(([k]) => k);
}

/**
 * A borderless table (columns separated by two spaces), the look of `ip` or `lsblk`: easy to
 * read, easy to grep. `head` is bold when colour is on.
 */
export function table(head: string[], rows: (string | number)[][], c: Colors, indent = ''): string {
  return textTable(head, rows, { indent, head: (h) => c.bold(h) });
}

/**
 * JSON for scripts. 64-bit quantities (sizes, offsets, addresses) are numbers when they fit a
 * double exactly, which covers every value a PCI device reports in practice, else decimal
 * strings; byte arrays become hex strings.
 */
export function toJson(value: unknown): string {
  return JSON.stringify(jsonValue(value), null, 2);
}

/** The plain value toJson would print (also what tests compare against). */
export function jsonValue(value: unknown): unknown {
  return JSON.parse(
    JSON.stringify(value, (_k, v: unknown) => {
      if (typeof v === 'bigint')
        return v <= BigInt(Number.MAX_SAFE_INTEGER) && v >= BigInt(Number.MIN_SAFE_INTEGER) ? Number(v) : v.toString();
      if (v instanceof Uint8Array) return Buffer.from(v).toString('hex');
      return v;
    }) ?? 'null',
  );
}
