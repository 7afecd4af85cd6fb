// Child of faults.test.ts (run with --expose-gc): one driver flow on edu — open, map BAR0 and
// read it, enable MSI, allocate and DMA-map a buffer, close — run once to count the addon's
// syscalls, then once per syscall with that one failing (addon.__faults) with the errno given.
// Prints each run's outcome and any leak: open fds or the addon's mapping table not back where
// they were once the garbage collector has run.
import * as fs from 'fs';
import { DmaBuffer, VfioError } from '../../lib';
import { native } from '../../lib/addon/native';
import { openDevice } from './env';

const n = native() as unknown as {
  __faults(nth: number, errno: number): number;
  __mem_stats(): Record<string, number>;
};
const gc = (globalThis as unknown as { gc: () => void }).gc;

async function flow(bdf: string): Promise<void> {
  const dev = await openDevice(bdf);
  let buf: DmaBuffer | undefined;
  try {
    const bar0 = dev.bar(0).map();
    if (bar0.read32(0) !== 0x010000ed) throw new Error('edu ID register reads wrong');
    dev.config.busMaster = true; // MSI messages are DMA writes
    dev.irq('MSI').enable();
    buf = DmaBuffer.allocate(4096);
    dev.iommu.map(buf, { dmaMaskBits: 28 });
  } finally {
    try {
      dev.close();
    } finally {
      buf?.close();
    }
  }
}

const fds = (): string => fs.readdirSync('/proc/self/fd').sort().join(',');
async function settle(): Promise<void> {
  for (let i = 0; i < 3; i++) {
    gc();
    await new Promise((r) => setImmediate(r));
  }
}

async function main(): Promise<void> {
  const [bdf, errnoText] = process.argv.slice(2);
  const errno = Number(errnoText);
  await flow(bdf);
  n.__faults(2 ** 53, errno);
  await flow(bdf);
  const count = n.__faults(0, 0);
  await settle();
  const baseline = { fds: fds(), stats: JSON.stringify(n.__mem_stats()) };
  const outcomes: string[] = [];
  const leaks: unknown[] = [];
  for (let i = 1; i <= count; i++) {
    n.__faults(i, errno);
    let outcome = 'completed';
    try {
      await flow(bdf);
    } catch (e) {
      outcome =
        e instanceof VfioError
          ? `${e.constructor.name}:${e.code}:${e.errno}:${e.op}`
          : `untyped:${String((e as Error)?.stack ?? e)}`;
    }
    n.__faults(0, 0);
    outcomes.push(outcome);
    await settle();
    const now = { fds: fds(), stats: JSON.stringify(n.__mem_stats()) };
    if (now.fds !== baseline.fds || now.stats !== baseline.stats) leaks.push({ i, outcome, baseline, now });
  }
  // Afterwards the device still opens and works.
  await flow(bdf);
  console.log(JSON.stringify({ count, outcomes, leaks }));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
