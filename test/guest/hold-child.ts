// Run by test/guest/hot-unplug.test.ts as its own process: opens a device, maps BAR0, DMA-maps
// a buffer, says "held" and then waits to be killed, with everything still open.
import { DmaBuffer } from '../../lib';
import { openDevice } from './env';

async function main(): Promise<void> {
  const dev = await openDevice(process.argv[2]);
  dev.config.memorySpace = true;
  const bar = dev.bar(0).map();
  const buf = DmaBuffer.allocate(16 * 4096);
  const dma = dev.iommu.map(buf);
  buf.u32[0] = bar.read32(0);
  process.stdout.write(`held ${buf.u32[0].toString(16)} ${dma.iova.toString(16)}\n`);
  setInterval(() => undefined, 1000);
}

main().catch((e) => {
  process.stderr.write(`${(e as Error).stack}\n`);
  process.exit(1);
});
