// Which number each VFIO_DEVICE_FEATURE has, and what a probe of a number answered. Pure: no
// device here, so the override rules and the report are testable from canned answers.
//
// Why a table and not constants: numbers from 13 up are claimed by competing kernel series
// (ZPCI_ERROR in 7.3's header, DMA_BUF_REVOKE and DMA_BUF_MEMATTR in others), and a kernel built
// with one of them numbers things its own way. The caller who knows their kernel overrides
// entries; everyone else gets the 7.3 header's numbers and a probe report that shows which
// numbers the running kernel answered at all.
import { VFIO_DEVICE_FEATURE_MASK } from '../abi';
import { rangeArgError } from '../errors/args';

/** The features 7.3's uAPI header defines, by name without the VFIO_DEVICE_FEATURE_ prefix. */
export const KNOWN_FEATURE_NAMES = [
  'PCI_VF_TOKEN',
  'MIGRATION',
  'MIG_DEVICE_STATE',
  'LOW_POWER_ENTRY',
  'LOW_POWER_ENTRY_WITH_WAKEUP',
  'LOW_POWER_EXIT',
  'DMA_LOGGING_START',
  'DMA_LOGGING_STOP',
  'DMA_LOGGING_REPORT',
  'MIG_DATA_SIZE',
  'BUS_MASTER',
  'DMA_BUF',
  'MIG_PRECOPY_INFOv2',
  'ZPCI_ERROR',
] as const;
/** A feature name the 7.3 header defines ('DMA_BUF', …), without the VFIO_DEVICE_FEATURE_ prefix. */
export type KnownFeatureName = (typeof KNOWN_FEATURE_NAMES)[number];

/** Feature name → index. Names outside KNOWN_FEATURE_NAMES are allowed (features of pending series). */
export type FeatureNumbers = Readonly<Record<string, number>>;
/** Changes to a table: a number moves or adds a name, null removes it. */
export type FeatureNumberOverrides = Readonly<Record<string, number | null | undefined>>;

/** The 7.3 header's feature numbers: each known name at its index 0..13. Frozen. */
export const DEFAULT_FEATURE_NUMBERS: FeatureNumbers = Object.freeze(
  Object.fromEntries(KNOWN_FEATURE_NAMES.map((n, i) => [n, i])),
);

const NAME_RE = /^[A-Za-z][A-Za-z0-9_]*$/;

function shortName(name: string): string {
  return name.replace(/^VFIO_DEVICE_FEATURE_/, '');
}

/**
 * `base` with `overrides` applied. Throws RangeError for a number outside 0..0xffff, a name that
 * is not an identifier, or two names left on one number (a kernel has one feature per number;
 * move or remove the other name in the same call).
 */
export function featureNumbers(
  overrides?: FeatureNumberOverrides,
  base: FeatureNumbers = DEFAULT_FEATURE_NUMBERS,
): FeatureNumbers {
  // Every device opened without overrides gets the same table: it is frozen, so one serves all.
  if (overrides === undefined && base === DEFAULT_FEATURE_NUMBERS) return (defaultTable ??= buildTable({}, base));
  return buildTable(overrides ?? {}, base);
}

let defaultTable: FeatureNumbers | undefined;

function buildTable(overrides: FeatureNumberOverrides, base: FeatureNumbers): FeatureNumbers {
  const table = new Map(Object.entries(base));
  for (const [rawName, index] of Object.entries(overrides)) {
    const name = shortName(rawName);
    if (!NAME_RE.test(name)) throw rangeArgError('features', `feature name '${rawName}' is not an identifier`);
    if (index === null || index === undefined) {
      table.delete(name);
      continue;
    }
    if (!Number.isInteger(index) || index < 0 || index > VFIO_DEVICE_FEATURE_MASK) {
      throw rangeArgError('features', `feature ${name}: number ${index} is outside 0..0xffff`);
    }
    table.set(name, index);
  }
  const byIndex = new Map<number, string>();
  for (const [name, index] of table) {
    const other = byIndex.get(index);
    if (other !== undefined) {
      throw rangeArgError(
        'features',
        `features ${other} and ${name} would both be number ${index}: move or remove one (null removes)`,
      );
    }
    byIndex.set(index, name);
  }
  return Object.freeze(Object.fromEntries(table));
}

/** The table's name for a number, else `feature<N>`. */
export function featureNameIn(table: FeatureNumbers, index: number): string {
  for (const [name, i] of Object.entries(table)) if (i === index) return name;
  return `feature${index}`;
}

/** The table's number for a name (prefix optional), or a `feature<N>` spelling, else undefined. */
export function featureIndexIn(table: FeatureNumbers, name: string): number | undefined {
  const n = shortName(name);
  if (Object.prototype.hasOwnProperty.call(table, n)) return table[n];
  const m = /^feature(\d+)$/.exec(n);
  return m ? Number(m[1]) : undefined;
}

// ---------------------------------------------------------------------------------------------
// Probe answers. The kernel's rule (vfio_check_feature): PROBE alone answers 0 for any feature
// the driver implements; PROBE|GET and PROBE|SET answer EINVAL when that operation is not
// offered; a number nobody implements answers ENOTTY, whatever the flags.

/** 'OK' for 0, else the errno name the kernel answered ('ENOTTY', 'EINVAL', …). */
export type ProbeAnswer = string;

/** What the kernel answered to the three probes of one feature number. */
export interface FeatureAnswers {
  /** VFIO_DEVICE_FEATURE_PROBE alone. */
  readonly probe: ProbeAnswer;
  /** PROBE|GET. */
  readonly get: ProbeAnswer;
  /** PROBE|SET. */
  readonly set: ProbeAnswer;
}

/** One feature number's probe result. */
export interface FeatureInfo {
  /** The name the table gives the number, or `feature<N>`. */
  readonly name: string;
  /** The feature number probed. */
  readonly index: number;
  /** The driver implements this number (some probe answered 0). */
  readonly supported: boolean;
  /** GET is offered (PROBE|GET answered 0). */
  readonly get: boolean;
  /** SET is offered (PROBE|SET answered 0). */
  readonly set: boolean;
  /** What each probe answered, for reports and for kernels that answer in unexpected ways. */
  readonly answers: FeatureAnswers;
}

/** Turns the three probe answers of a number into a {@link FeatureInfo}. */
export function interpretProbe(name: string, index: number, answers: FeatureAnswers): FeatureInfo {
  const get = answers.get === 'OK';
  const set = answers.set === 'OK';
  return { name, index, supported: answers.probe === 'OK' || get || set, get, set, answers: { ...answers } };
}

/** The kernel knew the number: some probe answered something other than ENOTTY. */
export function answered(info: FeatureInfo): boolean {
  const a = info.answers;
  return a.probe !== 'ENOTTY' || a.get !== 'ENOTTY' || a.set !== 'ENOTTY';
}

/** The probe of every feature number of one device (`vfio features`). */
export interface FeatureProbeReport {
  /** The device probed. */
  readonly device: string;
  /** Every number probed, ascending. */
  readonly entries: readonly FeatureInfo[];
  /** Numbers the kernel recognised (some answer other than ENOTTY), ascending. */
  readonly answered: readonly number[];
  /** Numbers that answered ENOTTY to every probe, ascending. */
  readonly silent: readonly number[];
  /** Names whose number answered, i.e. the features this device offers under this table. */
  readonly supported: readonly string[];
}

/** Sorts probe results by number and sums them up as a {@link FeatureProbeReport}. */
export function probeReport(device: string, infos: readonly FeatureInfo[]): FeatureProbeReport {
  const entries = [...infos].sort((a, b) => a.index - b.index);
  return {
    device,
    entries,
    answered: entries.filter(answered).map((e) => e.index),
    silent: entries.filter((e) => !answered(e)).map((e) => e.index),
    supported: entries.filter((e) => e.supported).map((e) => e.name),
  };
}

/** '0, 1, 2, 6–10, 13' for [0, 1, 2, 6, 7, 8, 9, 10, 13]; runs of three or more are collapsed. */
export function formatIndexList(indices: readonly number[]): string {
  const sorted = [...new Set(indices)].sort((a, b) => a - b);
  const parts: string[] = [];
  for (let i = 0; i < sorted.length;) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === sorted[j] + 1) j++;
    if (j - i >= 2) parts.push(`${sorted[i]}–${sorted[j]}`);
    else for (let k = i; k <= j; k++) parts.push(String(sorted[k]));
    i = j + 1;
  }
  return parts.length ? parts.join(', ') : 'none';
}

/** A fixed-width text table of a probe report, one line per number, then the summary. */
export function formatProbeReport(report: FeatureProbeReport): string {
  const nameWidth = Math.max(4, ...report.entries.map((e) => e.name.length));
  const col = (s: string) => s.padEnd(8);
  const ops = (e: FeatureInfo) => [e.get ? 'get' : '', e.set ? 'set' : ''].filter(Boolean).join('/');
  const lines = [
    `VFIO_DEVICE_FEATURE probes on ${report.device}`,
    `  ${'index'.padStart(5)}  ${'name'.padEnd(nameWidth)}  ${col('PROBE')}${col('+GET')}${col('+SET')}offers`,
  ];
  for (const e of report.entries) {
    const a = e.answers;
    lines.push(
      `  ${String(e.index).padStart(5)}  ${e.name.padEnd(nameWidth)}  ${col(a.probe)}${col(a.get)}${col(a.set)}${e.supported ? ops(e) || 'probe only' : '-'}`.trimEnd(),
    );
  }
  lines.push(`answered: ${formatIndexList(report.answered)}`);
  lines.push(`ENOTTY (unknown to this kernel or driver): ${formatIndexList(report.silent)}`);
  return lines.join('\n');
}
