// Open → map → IRQ enable → DMA map → close cycles on edu (cycles-child.ts): the open fds and
// the locked and pinned memory (VmLck, VmPin) must be where they were after a warm-up, and RSS
// must not grow with the cycles. 10,000 cycles, or as many as a time budget allows under TCG:
// the test prints the figures and the rate.
//
// RSS is read after each half of the run. V8 sizes its young generation to the allocation rate
// and the allocator keeps what it grew, so RSS rises for a while in any long loop; a leak keeps
// rising. The child runs with a fixed young generation (--max-semi-space-size=1), and the check
// is on the second half, where warm-up is over: a page kept per cycle would show there as
// cycles × 4 kB (docs/reliability.md has the figures).
import { spawnSync } from 'child_process';
import * as path from 'path';
import { must } from '../support/must';

const EDU = must(process.env.VFIO_VM_EDU, 'process.env.VFIO_VM_EDU');
const CYCLES = 10_000;
const BUDGET_MS = 150_000;

describe('open → map → IRQ enable → DMA map → close cycles (edu)', () => {
  it(
    'leave fds, RSS and locked/pinned memory flat',
    () => {
      const r = spawnSync(
        process.execPath,
        [
          '--expose-gc',
          '--max-semi-space-size=1',
          path.join(__dirname, 'cycles-child.js'),
          EDU,
          String(CYCLES),
          String(BUDGET_MS),
        ],
        { encoding: 'utf8', timeout: BUDGET_MS + 300_000 },
      );
      expect({ status: r.status, signal: r.signal }).toEqual({ status: 0, signal: null });
      const out = JSON.parse(must(r.stdout.trim().split('\n').pop(), "r.stdout.trim().split('\\n').pop()"));
      process.stdout.write(
        `[cycles] ${out.done} cycles in ${out.ms} ms (${out.perSecond.toFixed(1)}/s; 10,000 would take ` +
          `${(CYCLES / out.perSecond) | 0} s): fds ${out.before.fds} → ${out.after.fds}, ` +
          `RSS ${out.before.VmRSS} → ${out.mid.VmRSS} (after ${out.doneAtMid}) → ${out.after.VmRSS} kB, VmLck ${out.before.VmLck} → ${out.after.VmLck} kB, ` +
          `VmPin ${out.before.VmPin} → ${out.after.VmPin} kB; ms per step over all cycles: ${JSON.stringify(out.steps)}\n`,
      );
      expect(r.stderr).toBe('');
      expect(out.done).toBeGreaterThanOrEqual(100);
      expect(out.after.fds).toBe(out.before.fds);
      expect(out.after.VmLck).toBe(out.before.VmLck);
      expect(out.after.VmPin).toBe(out.before.VmPin);
      // Second half: 1.5 MB for the collector's own noise, plus 1 kB a cycle (a leak of a page a
      // cycle is 4 kB).
      const secondHalf = out.done - out.doneAtMid;
      expect(secondHalf).toBeGreaterThanOrEqual(50);
      const grew = out.after.VmRSS - out.mid.VmRSS;
      if (grew >= 1536 + secondHalf) {
        // What else moved tells a leak from the allocators' noise: the JavaScript heap, memory
        // held outside it (ArrayBuffers), and the mappings (a kept mmap adds a line each cycle).
        const moved = (k: string) => `${k} ${out.mid[k]} → ${out.after[k]}`;
        throw new Error(
          `RSS grew ${grew} kB over the second half's ${secondHalf} cycles (budget ${1536 + secondHalf} kB); ` +
            ['heapKb', 'heapTotalKb', 'externalKb', 'maps'].map(moved).join(', '),
        );
      }
    },
    BUDGET_MS + 360_000,
  );
});
