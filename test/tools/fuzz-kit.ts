// The fuzz suites' shared parts: the seed (printed, and replayable), batches run each in a child
// Node so that a crash or a hang is counted, and the child-side loop that checks every throw is
// a VfioError. The parent (a jest test) calls runBatches(); the child (fuzz-*-child.ts) calls
// fuzzChild() with its property.
//
// Replay: VFIO_FUZZ_SEED=<seed printed by the failed run> reruns the same batches (batch i uses
// seed + i); VFIO_FUZZ_SCALE=<factor> multiplies the runs per batch. Both are test-suite
// settings (docs/reliability.md), never read by the library.
import { spawnSync } from 'child_process';
import * as fc from 'fast-check';
import { VfioError } from '../../lib';

export interface Batches {
  /** What the suite is called in its output. */
  readonly name: string;
  /** The compiled child script and its arguments after the seed and run count. */
  readonly script: string;
  readonly args?: readonly string[];
  readonly flags?: readonly string[];
  readonly batches: number;
  /**
   * Batches go on past `batches` (seed + i each, up to three times as many) until the calls made
   * reach this: how many calls a run makes depends on what it drew.
   */
  readonly minCalls?: number;
  readonly runsPerBatch: number;
  /** A batch that runs longer is a hang. */
  readonly timeoutMs: number;
}

export interface BatchResult {
  readonly seed: number;
  readonly calls: number;
  readonly ms: number;
  /** Why the batch failed (a crash, a hang, an untyped throw), or undefined. */
  readonly failure?: string;
}

/** The seed of this run: VFIO_FUZZ_SEED when set (a replay), else a fresh one. */
export function fuzzSeed(): number {
  const s = process.env.VFIO_FUZZ_SEED;
  if (s === undefined || s === '') return Math.floor(Math.random() * 0x7fffffff);
  const n = Number(s);
  if (!Number.isSafeInteger(n)) throw new Error(`VFIO_FUZZ_SEED=${s} is not an integer`);
  return n;
}

export function fuzzScale(): number {
  const s = Number(process.env.VFIO_FUZZ_SCALE ?? '1');
  return Number.isFinite(s) && s > 0 ? s : 1;
}

/** Runs the batches one after another, batch i with seed + i; prints the seed first. */
export function runBatches(b: Batches, seed = fuzzSeed()): BatchResult[] {
  const runs = Math.max(1, Math.round(b.runsPerBatch * fuzzScale()));
  process.stdout.write(`[fuzz] ${b.name}: seed ${seed} (replay: VFIO_FUZZ_SEED=${seed})\n`);
  const out: BatchResult[] = [];
  let made = 0;
  const more = (i: number): boolean =>
    i < b.batches ||
    (b.minCalls !== undefined && made < b.minCalls && i < 3 * b.batches && !out.some((r) => r.failure));
  for (let i = 0; more(i); i++) {
    const s = (seed + i) | 0;
    const started = Date.now();
    const r = spawnSync(process.execPath, [...(b.flags ?? []), b.script, String(s), String(runs), ...(b.args ?? [])], {
      encoding: 'utf8',
      timeout: b.timeoutMs,
      killSignal: 'SIGKILL',
      maxBuffer: 64 << 20,
    });
    const ms = Date.now() - started;
    const last = (r.stdout ?? '').trim().split('\n').pop() ?? '';
    let report: { calls?: number; failure?: string };
    try {
      report = JSON.parse(last);
    } catch {
      report = {};
    }
    let failure = report.failure;
    if (r.error && (r.error as NodeJS.ErrnoException).code === 'ETIMEDOUT')
      failure = `hang: batch ${i} (seed ${s}) ran past ${b.timeoutMs} ms`;
    else if (r.signal) failure = `crash: batch ${i} (seed ${s}) ended by ${r.signal}\n${r.stderr}`;
    else if (r.status !== 0) failure = `crash: batch ${i} (seed ${s}) exited with ${r.status}\n${r.stderr}`;
    else if (report.calls === undefined)
      failure = `batch ${i} (seed ${s}) printed no report:\n${r.stdout}\n${r.stderr}`;
    out.push({ seed: s, calls: report.calls ?? 0, ms, failure });
    made += report.calls ?? 0;
  }
  const calls = out.reduce((a, r) => a + r.calls, 0);
  const ms = out.reduce((a, r) => a + r.ms, 0);
  process.stdout.write(`[fuzz] ${b.name}: ${calls} calls in ${out.length} batches, ${ms} ms, seed ${seed}\n`);
  return out;
}

/** A call's outcome: fine when it returned or threw a VfioError; anything else is a finding. */
export class Untyped extends Error {}

/** Runs `f`, counting the call; rethrows anything thrown that is not a VfioError as Untyped. */
export async function call(counter: { calls: number }, what: string, f: () => unknown): Promise<unknown> {
  counter.calls++;
  try {
    const r = f();
    return r instanceof Promise ? await r : r;
  } catch (e) {
    if (e instanceof VfioError) return e;
    throw new Untyped(`${what} threw ${e instanceof Error ? `${e.constructor.name}: ${e.message}` : String(e)}`, {
      cause: e,
    });
  }
}

/**
 * The child's main: argv[2] the seed, argv[3] the runs. Checks `property` with fast-check
 * (ending on the first failure; the seed and path replay it) and prints {calls, failure}.
 */
export function fuzzChild<T>(
  arb: fc.Arbitrary<T>,
  body: (value: T, counter: { calls: number }) => Promise<void>,
  setup: { timeoutMs?: number } = {},
): void {
  const seed = Number(process.argv[2]);
  const numRuns = Number(process.argv[3]);
  const counter = { calls: 0 };
  void (async () => {
    const details = await fc.check(
      fc.asyncProperty(arb, (v) => body(v, counter)),
      { seed, numRuns, endOnFailure: true, timeout: setup.timeoutMs },
    );
    const failure = details.failed
      ? `seed ${seed}, path ${details.counterexamplePath}: ${String(details.errorInstance ?? 'failed')}\n` +
        `counterexample: ${fc.stringify(details.counterexample)}`.slice(0, 8000)
      : undefined;
    process.stdout.write(`\n${JSON.stringify({ calls: counter.calls, failure })}\n`);
    process.exit(0);
  })();
}
