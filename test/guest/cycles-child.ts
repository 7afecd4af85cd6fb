// Child of cycles.test.ts: open → map BAR0 → enable MSI → allocate and DMA-map a buffer →
// close, over and over on one device, until the count or the time budget runs out. Prints the
// open fds, RSS and the locked and pinned memory (VmLck, VmPin) after a warm-up and at the end,
// and the rate.
import * as fs from 'fs';
import { DmaBuffer } from '../../lib';
import { openDevice } from './env';

function status(): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of fs.readFileSync('/proc/self/status', 'utf8').split('\n')) {
    const m = /^(VmRSS|RssAnon|VmLck|VmPin):\s+(\d+) kB/.exec(line);
    if (m) out[m[1]] = Number(m[2]);
  }
  out.fds = fs.readdirSync('/proc/self/fd').length;
  const m = process.memoryUsage();
  out.heapKb = Math.round(m.heapUsed / 1024);
  out.heapTotalKb = Math.round(m.heapTotal / 1024);
  out.maps = fs.readFileSync('/proc/self/maps', 'utf8').split('\n').length - 1;
  out.externalKb = Math.round(m.external / 1024);
  return out;
}

/** Where a cycle's time goes: milliseconds spent in each step, summed over the measured cycles. */
const STEPS = ['open', 'map', 'irq', 'dma', 'close'] as const;
const spent: Record<(typeof STEPS)[number], number> = { open: 0, map: 0, irq: 0, dma: 0, close: 0 };
let mark = 0;
function lap(step: (typeof STEPS)[number]): void {
  const now = performance.now();
  spent[step] += now - mark;
  mark = now;
}

async function cycle(bdf: string): Promise<void> {
  mark = performance.now();
  const dev = await openDevice(bdf);
  lap('open');
  const buf = DmaBuffer.allocate(4096);
  try {
    const bar0 = dev.bar(0).map();
    if (bar0.read32(0) !== 0x010000ed) throw new Error('edu ID register reads wrong');
    lap('map');
    dev.config.busMaster = true; // MSI messages are DMA writes
    dev.irq('MSI').enable();
    lap('irq');
    dev.iommu.map(buf, { dmaMaskBits: 28 });
    lap('dma');
  } finally {
    dev.close();
    buf.close();
    lap('close');
  }
}

async function main(): Promise<void> {
  const [bdf, countText, budgetText] = process.argv.slice(2);
  const count = Number(countText);
  const budgetMs = Number(budgetText);
  const gc = (globalThis as unknown as { gc: () => void }).gc;
  const WARM = 20;
  for (let i = 0; i < WARM; i++) await cycle(bdf);
  for (const k of STEPS) spent[k] = 0;
  const settle = async () => {
    // Collected memory is given back by finalizers that run after the collection: let them run.
    for (let i = 0; i < 3; i++) {
      gc();
      await new Promise((r) => setTimeout(r, 50));
    }
    return status();
  };
  const before = await settle();
  const started = Date.now();
  let done = 0;
  // Two equal halves of the budget: a leak grows RSS in both by its size per cycle; the heap's
  // and the allocator's warm-up show in the first.
  let mid: Record<string, number> | undefined;
  let doneAtMid = 0;
  while (done < count && Date.now() - started < budgetMs) {
    await cycle(bdf);
    done++;
    if (mid === undefined && (done * 2 >= count || (Date.now() - started) * 2 >= budgetMs)) {
      mid = await settle();
      doneAtMid = done;
    }
  }
  const ms = Date.now() - started;
  const after = await settle();
  const steps = Object.fromEntries(STEPS.map((k) => [k, Math.round(spent[k])]));
  console.log(
    JSON.stringify({ done, doneAtMid, ms, perSecond: (done * 1000) / ms, steps, before, mid: mid ?? after, after }),
  );
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
