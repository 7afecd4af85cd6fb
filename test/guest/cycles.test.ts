// Open → map → IRQ enable → DMA map → close cycles on edu (cycles-child.ts): the open fds and
// the locked and pinned memory (VmLck, VmPin) must be where they were after a warm-up, and the
// memory a leak would take must not grow with the cycles. 10,000 cycles, or as many as a time budget allows under TCG:
// the test prints the figures and the rate.
//
// Memory is read after each half of the run, and checked on the second, where warm-up is over.
// V8 sizes its young generation to the allocation rate (the child runs with a fixed one,
// --max-semi-space-size=1) and reserves old-space pages by its own policy, and code pages of
// the binary are read in as new paths run: none of that is a leak, and all of it shows in
// VmRSS. So each kind of memory is checked where a leak of that kind would show: anonymous
// memory outside V8's heap (RssAnon minus V8's heap size: malloc, the addon, buffers), the
// JavaScript heap in use after a collection, and the count of mappings (docs/reliability.md).
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
      const secondHalf = out.done - out.doneAtMid;
      expect(secondHalf).toBeGreaterThanOrEqual(50);
      const grew = (k: string) => out.after[k] - out.mid[k];
      const figures = ['VmRSS', 'RssAnon', 'heapTotalKb', 'heapKb', 'externalKb', 'maps']
        .map((k) => `${k} ${out.mid[k]} → ${out.after[k]}`)
        .join(', ');
      // A page kept per cycle (a DMA buffer, an fd's table, a native struct) adds 4 kB a cycle;
      // the budget is 1.5 MB of allocator noise and 1 kB a cycle.
      const native = grew('RssAnon') - grew('heapTotalKb');
      // Objects kept per cycle (a Device, its regions, a listener) grow the heap in use after a
      // collection; the budget is 512 kB and 0.25 kB a cycle.
      const js = grew('heapKb');
      // A mapping kept per cycle (a BAR, a buffer) adds a line each; V8's pages add a few.
      const maps = grew('maps');
      const limits = {
        native: 1536 + secondHalf,
        js: 512 + secondHalf / 4,
        maps: 16 + secondHalf / 4,
      };
      const summary = `${secondHalf} cycles: native +${native} kB, heap in use +${js} kB, maps +${maps} (limits ${JSON.stringify(limits)}); ${figures}`;
      process.stdout.write(`[cycles] second half: ${summary}\n`);
      expect({
        native: native < limits.native,
        js: js < limits.js,
        maps: maps < limits.maps,
        summary,
      }).toEqual(expect.objectContaining({ native: true, js: true, maps: true }));
    },
    BUDGET_MS + 360_000,
  );
});
