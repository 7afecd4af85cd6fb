// Child of leak.test.ts (run with --expose-gc): opens a device, maps BAR0 and DMA-maps a
// buffer, then drops everything unclosed. Prints the fd count before, while open and after the
// collection, the warnings, and whether the device opens (and reads) again afterwards.
import * as fs from 'fs';
import { DmaBuffer } from '../../lib';
import { openDevice } from './env';

const fds = (): number => fs.readdirSync('/proc/self/fd').length;
const gc = (globalThis as unknown as { gc: () => void }).gc;
async function settle(): Promise<void> {
  for (let i = 0; i < 6; i++) {
    gc();
    await new Promise((r) => setImmediate(r));
  }
}

async function useAndDrop(bdf: string): Promise<{ open: number; id: number }> {
  const dev = await openDevice(bdf);
  const bar0 = dev.bar(0).map();
  const buf = DmaBuffer.allocate(1 << 16);
  dev.iommu.map(buf);
  return { open: fds(), id: bar0.read32(0) };
}

async function main(): Promise<void> {
  const bdf = process.argv[2];
  const warnings: string[] = [];
  process.on('warning', (w) => warnings.push(`${w.name}: ${w.message}`));
  // Node opens stderr's stream on the first warning it prints: not ours to count.
  process.emitWarning('warm-up');
  await settle();
  warnings.splice(0);
  const baseline = fds();
  const used = await useAndDrop(bdf);
  await settle();
  const after = fds();
  const again = await openDevice(bdf);
  const id = again.bar(0).map().read32(0);
  again.close();
  await settle();
  console.log(JSON.stringify({ baseline, open: used.open, firstId: used.id, after, id, end: fds(), warnings }));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
