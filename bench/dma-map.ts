// DMA map + unmap rate, Node against C in the same process (inside `vfio-vm run`): the Node
// side goes through the whole library path (IOVA allocation, argument checks, the addon's
// ioctl, bookkeeping, a DmaMapping object), the C side issues the two ioctls at a fixed IOVA
// on the same buffer in the same container. Reported as the median ratio of rates, Node/C.
import { Device, DmaBuffer } from '../lib';
import { loadBaseline, median, ratioLine } from './util';

const ROUNDS = 11;
const N = 300;
const SIZES = [4096, 64 * 1024];

async function main(): Promise<void> {
  const bdf = process.env.VFIO_VM_EDU;
  if (!bdf) throw new Error('needs VFIO_VM_EDU (run inside `vfio-vm run`)');
  const c = loadBaseline();
  const dev = await Device.open(bdf);
  const containerFd = dev.iommu.fd('bench');
  console.log(`DMA map+unmap (type1, edu's container), ${N} pairs x ${ROUNDS} rounds, median rate Node/C (1.00 = as fast as C):`);
  for (const size of SIZES) {
    const buf = DmaBuffer.allocate(size);
    buf.u8.fill(1); // fault the pages in before timing: both sides then pin resident memory
    const js = () => {
      const t0 = process.hrtime.bigint();
      for (let i = 0; i < N; i++) dev.iommu.map(buf).unmap();
      return Number(process.hrtime.bigint() - t0);
    };
    // The C loop maps where the allocator would: the same page-table path on both sides.
    const probe = dev.iommu.map(buf);
    const iova = Number(probe.iova);
    probe.unmap();
    const cLoop = () => {
      const ns = c.dma_map_loop(containerFd, buf.u8.buffer as ArrayBuffer, size, iova, N);
      if (ns < 0) throw new Error(`C MAP_DMA/UNMAP_DMA loop: errno ${-ns}`);
      return ns;
    };
    js();
    cLoop();
    const ratios: number[] = [];
    const perPair: number[] = [];
    for (let k = 0; k < ROUNDS; k++) {
      // Alternate the order so drift in the machine's speed hits both sides alike.
      let tc: number;
      let tj: number;
      if (k % 2) { tc = cLoop(); tj = js(); } else { tj = js(); tc = cLoop(); }
      ratios.push(tc / tj);
      perPair.push(tj / N / 1000);
    }
    console.log(ratioLine(`  ${size / 1024} KiB`, median(ratios)) + `  (Node ${median(perPair).toFixed(1)} us per pair)`);
    buf.close();
  }
  dev.close();
}

main().catch((e) => { console.error(e); process.exit(1); });
