// Host fuzz suite: random call sequences (fast-check) over the raw addon, the decoders,
// DmaBuffer, Mappings of a tmpfs file and IRQ taps, in batches that each run in a child Node
// (fuzz-child.ts), so that a crash or a hang is counted. Fails on a crash, a hang, or any throw
// that is not a VfioError (the raw addon: its "vfio native:" TypeError). Prints its seed;
// VFIO_FUZZ_SEED=<seed> replays it (test/tools/fuzz-kit.ts, docs/reliability.md).
import * as fs from 'fs';
import * as path from 'path';
import { runBatches } from '../tools/fuzz-kit';

const child = path.resolve(__dirname, '../../dist/test/host/fuzz-child.js');
const MIN_CALLS = 100_000;

describe('host fuzz', () => {
  it(`at least ${MIN_CALLS} random calls: no crash, no hang, only typed errors`, () => {
    if (!fs.existsSync(child)) throw new Error(`${child} is missing: build with \`npx tsc -p tsconfig.json\` first`);
    const results = runBatches({
      name: 'host',
      script: child,
      batches: 4,
      runsPerBatch: 1500,
      timeoutMs: 60_000,
    });
    const failures = results.filter((r) => r.failure).map((r) => r.failure);
    expect(failures).toEqual([]);
    expect(results.reduce((a, r) => a + r.calls, 0)).toBeGreaterThanOrEqual(MIN_CALLS);
  }, 300_000);
});
