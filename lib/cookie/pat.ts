// The truth about memory types: the x86 PAT memtype list in debugfs. The kernel keeps one memory
// type per reserved physical range and hands it to every later mapping of that range, whatever
// the later mapping asked for; the list is the only place that says which type won.
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { MemTypeEntry, parsePatMemtypeList } from '../decode';
import { EffectiveMemAttr } from '../memory/mapping';
import { hex } from './model';

/** The PAT memtype list as read once: its entries, or why it could not be read. */
export type PatSnapshot =
  | {
      /** The list was read. */
      readonly ok: true;
      /** Its entries, as the kernel lists them. */
      readonly entries: readonly MemTypeEntry[];
    }
  | {
      /** The list could not be read. */
      readonly ok: false;
      /** Why (not x86, no debugfs, not root, …). */
      readonly reason: string;
    };

/** Where the PAT list is read from, and whether debugfs may be mounted to read it. */
export interface PatReaderOptions {
  /** Where debugfs is (or gets) mounted; default /sys/kernel/debug. */
  debugfs?: string;
  /**
   * Mount debugfs there when it is not mounted (needs CAP_SYS_ADMIN; the mount stays after the
   * process exits, and a process warning with code `VFIO_DEBUGFS_MOUNTED` says it was made);
   * default true. With false, an unmounted debugfs makes effective attributes `'unknown'`.
   */
  mountDebugfs?: boolean;
  /** The mount table to check; default /proc/self/mounts. */
  mounts?: string;
}

const PAT_FILE = 'x86/pat_memtype_list';

/** Reads the PAT list, mounting debugfs first when it is absent and mounting is allowed. */
export class PatReader {
  private readonly dir: string;
  private readonly mayMount: boolean;
  private readonly mounts: string;
  private mountTried = false;

  constructor(o: PatReaderOptions = {}) {
    this.dir = o.debugfs ?? '/sys/kernel/debug';
    this.mayMount = o.mountDebugfs ?? true;
    this.mounts = o.mounts ?? '/proc/self/mounts';
  }

  /**
   * Reads the list now. When debugfs is not mounted and mounting is allowed, mounts it once
   * (root only; the mount stays) and emits a `VFIO_DEBUGFS_MOUNTED` process warning. Never
   * throws: a failure is a snapshot with `ok: false` and the reason.
   */
  read(): PatSnapshot {
    const file = path.join(this.dir, PAT_FILE);
    let text = readOrCode(file);
    if (text.code === 'ENOENT' && !this.debugfsMounted() && this.mayMount && !this.mountTried) {
      this.mountTried = true;
      const failed = this.mount();
      if (failed)
        return { ok: false, reason: `debugfs is not mounted at ${this.dir} and mounting it failed (${failed})` };
      process.emitWarning(
        `mounted debugfs at ${this.dir} to read the PAT memtype list; it stays mounted ` +
          '(Device.open(bdf, { pat: { mountDebugfs: false } }) prevents this)',
        { code: 'VFIO_DEBUGFS_MOUNTED' },
      );
      text = readOrCode(file);
    }
    if (text.code === undefined) {
      try {
        return { ok: true, entries: parsePatMemtypeList(text.text) };
      } catch (e) {
        return { ok: false, reason: `${file} did not parse: ${(e as Error).message}` };
      }
    }
    if (text.code === 'ENOENT') {
      return {
        ok: false,
        reason: this.debugfsMounted()
          ? `${file} does not exist (PAT disabled, e.g. nopat, or not x86)`
          : `debugfs is not mounted at ${this.dir}${this.mayMount ? '' : ' (mounting it was not allowed)'}`,
      };
    }
    return { ok: false, reason: `${file}: ${text.code} (reading it needs root)` };
  }

  private debugfsMounted(): boolean {
    try {
      return fs
        .readFileSync(this.mounts, 'utf8')
        .split('\n')
        .some((l) => {
          const f = l.split(' ');
          return f[2] === 'debugfs' && path.resolve(f[1] ?? '') === path.resolve(this.dir);
        });
    } catch {
      return false;
    }
  }

  /** Returns undefined on success, else what went wrong. */
  private mount(): string | undefined {
    try {
      // mount(2) is not in the addon: mounting once per process does not justify a syscall binding.
      execFileSync('mount', ['-t', 'debugfs', 'debugfs', this.dir], {
        stdio: ['ignore', 'ignore', 'pipe'],
        timeout: 10000,
      });
      return undefined;
    } catch (e) {
      const err = e as { stderr?: Buffer; message: string };
      return (err.stderr?.toString().trim() || err.message).split('\n')[0];
    }
  }
}

function readOrCode(file: string): { text: string; code?: undefined } | { text?: undefined; code: string } {
  try {
    return { text: fs.readFileSync(file, 'utf8') };
  } catch (e) {
    return { code: (e as NodeJS.ErrnoException).code ?? 'EIO' };
  }
}

/** Entries overlapping [start, end). */
export function overlapping(entries: readonly MemTypeEntry[], start: bigint, end: bigint): MemTypeEntry[] {
  return entries.filter((e) => e.start < end && e.end > start);
}

function covered(hits: readonly MemTypeEntry[], start: bigint, end: bigint): boolean {
  const sorted = [...hits].sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
  let reached = start;
  for (const e of sorted) {
    if (e.start > reached) return false;
    if (e.end > reached) reached = e.end;
  }
  return reached >= end;
}

/** The memory type a range gets, with the evidence. */
export interface EffectiveAttr {
  /** The type (or 'mixed', 'unknown'). */
  readonly attr: EffectiveMemAttr;
  /** The PAT evidence, in words. */
  readonly basis: string;
}

/**
 * The attribute the kernel gives a mapping of the physical range [start, end) whose page
 * protection asked for `pgprot`, according to the PAT list:
 * - reserved ranges: the reserved type (the kernel substitutes it for whatever was asked);
 * - pages with no reservation: UC- for an uncached request, because that is what x86 uses for
 *   untracked MMIO pages faulted into a PFN mapping (lookup_memtype's default); for any other
 *   request an unreserved page is unexplained, so 'unknown';
 * - disagreeing parts: 'mixed'.
 */
export function effectiveFromPat(
  snapshot: PatSnapshot,
  start: bigint,
  end: bigint,
  pgprot: EffectiveMemAttr,
): EffectiveAttr {
  if (!snapshot.ok) return { attr: 'unknown', basis: `PAT memtype list unreadable: ${snapshot.reason}` };
  const range = `[${hex(start)}-${hex(end)})`;
  const hits = overlapping(snapshot.entries, start, end);
  const types = [...new Set(hits.map((e) => e.type))];
  const full = hits.length > 0 && covered(hits, start, end);
  if (hits.length === 0) {
    return pgprot === 'uc-'
      ? { attr: 'uc-', basis: `no PAT reservation covers ${range}: untracked MMIO pages map UC-` }
      : {
          attr: 'unknown',
          basis: `no PAT reservation covers ${range}, though a ${pgprot} mapping would have made one`,
        };
  }
  const list = hits.map((e) => `[${hex(e.start)}-${hex(e.end)}) ${e.type}`).join(', ');
  if (types.length > 1) return { attr: 'mixed', basis: `PAT entries for ${range} disagree: ${list}` };
  if (full || (types[0] === 'uc-' && pgprot === 'uc-')) return { attr: types[0], basis: `PAT: ${list}` };
  return { attr: 'mixed', basis: `PAT covers only part of ${range}: ${list}` };
}
