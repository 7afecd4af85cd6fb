// Guest fuzz suite: random call sequences against edu, nvme and ivshmem (fuzz-child.ts), in
// batches that each run in a child Node so that a crash or a hang is counted. Fails on a crash,
// a hang or any throw that is not a VfioError. Prints its seed; VFIO_FUZZ_SEED=<seed> replays
// it (test/tools/fuzz-kit.ts, docs/reliability.md). Only behind an IOMMU: random DMA mappings
// and enabled devices are contained by it.
import * as path from 'path';
import { runBatches } from '../tools/fuzz-kit';
import { describeIf, hasIommu } from './env';
import { must } from '../support/must';

const MIN_CALLS = 10_000;

describeIf(hasIommu(), 'random DMA needs an IOMMU to contain it')('guest fuzz', () => {
  it(`at least ${MIN_CALLS} random calls on edu, nvme and ivshmem: no crash, no hang, only typed errors`, () => {
    const env = process.env;
    const results = runBatches({
      name: 'guest',
      script: path.join(__dirname, 'fuzz-child.js'),
      args: [
        must(env.VFIO_VM_EDU, 'env.VFIO_VM_EDU'),
        must(env.VFIO_VM_NVME, 'env.VFIO_VM_NVME'),
        must(env.VFIO_VM_IVSHMEM, 'env.VFIO_VM_IVSHMEM'),
      ],
      batches: 4,
      minCalls: MIN_CALLS,
      runsPerBatch: 12,
      timeoutMs: 600_000,
    });
    const failures = results.filter((r) => r.failure).map((r) => r.failure);
    expect(failures).toEqual([]);
    expect(results.reduce((a, r) => a + r.calls, 0)).toBeGreaterThanOrEqual(MIN_CALLS);
  }, 3_600_000);
});
