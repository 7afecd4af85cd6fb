// Run by test/guest/irq.test.ts as its own process: opens nvme, enables interrupts and proves
// they work, then leaves them enabled and returns. Mode 'idle' must exit by itself; mode
// 'listen' keeps an 'interrupt' listener and so must keep running until it is killed.
import { once } from 'events';
import { openDevice } from './env';

async function main(): Promise<void> {
  const [bdf, mode] = process.argv.slice(2);
  const dev = await openDevice(bdf);
  dev.config.busMaster = true;
  const msix = dev.irq('MSIX').enable({ vectors: [0, 3] });
  const err = dev.irq('ERR').enable();
  dev.on('release-request', () => dev.close());
  const got = once(msix, 'interrupt');
  msix.trigger(3);
  const [count, vector] = await got;
  const errGot = once(err, 'interrupt');
  err.trigger();
  await errGot;
  if (mode === 'listen') msix.on('interrupt', () => undefined);
  // Every vector stays enabled and nothing is closed: only the listener decides about exit.
  process.stdout.write(`armed ${vector} ${count}\n`);
}

main().catch((e) => {
  process.stderr.write(`${(e as Error).stack}\n`);
  process.exit(1);
});
