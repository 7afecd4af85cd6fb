// Child of kill-open.test.ts, on edu. Mode 'hold': opens the device, maps BAR0, DMA-maps a
// buffer (and proves the mapping with one transfer), enables MSI, prints "held" and waits to be
// killed, closing nothing. Mode 'drive': a new process after the kill; opens the same device and
// drives it (ID register, liveness, factorial, an MSI, a DMA round trip), then prints what it
// read as JSON. edu is given device addresses (dev.iommu.deviceAddress): the IOVA behind an
// IOMMU, the physical address without one.
import { once } from 'events';
import { DmaBuffer, Mapping } from '../../lib';
import { EDU_DMA_MASK_BITS, EDU_IRQ_ACK, eduDmaFromRam, eduDmaToRam } from './dma-edu';
import { openDevice } from './env';
import { waitFor } from '../support/time';

const EDU_ID = 0x00;
const EDU_LIVENESS = 0x04;
const EDU_FACTORIAL = 0x08;
const EDU_STATUS = 0x20;
const EDU_IRQ_RAISE = 0x60;
const PAGE = 4096;

const pattern = (n: number, seed: number): Uint8Array =>
  Uint8Array.from({ length: n }, (_, i) => (i * 7 + seed) & 0xff);

async function hold(bdf: string): Promise<void> {
  const dev = await openDevice(bdf);
  const bar0 = dev.bar(0).map();
  dev.config.busMaster = true; // edu's DMA and MSI messages
  const buf = DmaBuffer.allocate(16 * PAGE);
  const m = dev.iommu.map(buf, { dmaMaskBits: EDU_DMA_MASK_BITS });
  buf.copyIn(0, pattern(256, 3));
  const at = dev.iommu.deviceAddress(m, 0, 256);
  await eduDmaFromRam(bar0, at, 0x200, 256);
  dev.irq('MSI').enable();
  process.stdout.write(`held ${bar0.read32(EDU_ID).toString(16)} ${at.toString(16)}\n`);
  // Everything stays open: only SIGKILL ends this process.
  setInterval(() => undefined, 1 << 30);
}

async function factorial(bar0: Mapping, n: number): Promise<number> {
  bar0.write32(EDU_FACTORIAL, n);
  await waitFor('edu to compute a factorial', () => (bar0.read32(EDU_STATUS) & 1) === 0, 60000);
  return bar0.read32(EDU_FACTORIAL);
}

async function drive(bdf: string): Promise<void> {
  const dev = await openDevice(bdf);
  try {
    const bar0 = dev.bar(0).map();
    dev.config.busMaster = true;
    const id = bar0.read32(EDU_ID);
    bar0.write32(EDU_LIVENESS, 0x12345678);
    const liveness = bar0.read32(EDU_LIVENESS);
    const fact = await factorial(bar0, 10);
    const msi = dev.irq('MSI').enable();
    const got = once(msi, 'interrupt');
    bar0.write32(EDU_IRQ_RAISE, 0x42);
    const [count] = await got;
    bar0.write32(EDU_IRQ_ACK, 0x42);
    using src = DmaBuffer.allocate(PAGE);
    using dst = DmaBuffer.allocate(PAGE);
    const ms = dev.iommu.map(src, { write: false, dmaMaskBits: EDU_DMA_MASK_BITS });
    const md = dev.iommu.map(dst, { read: false, dmaMaskBits: EDU_DMA_MASK_BITS });
    const data = pattern(1000, 91);
    src.copyIn(0, data);
    await eduDmaFromRam(bar0, dev.iommu.deviceAddress(ms, 0, data.length), 0x400, data.length);
    await eduDmaToRam(bar0, 0x400, dev.iommu.deviceAddress(md, 0, data.length), data.length);
    const back = dst.copyOut(0, data.length);
    const dma = back.every((b, i) => b === data[i]);
    console.log(JSON.stringify({ id, liveness, fact, interrupts: count, dma }));
  } finally {
    dev.close();
  }
}

const [bdf, mode] = process.argv.slice(2);
(mode === 'hold' ? hold(bdf) : drive(bdf)).catch((e) => {
  process.stderr.write(`${(e as Error).stack ?? String(e)}\n`);
  process.exit(1);
});
