// DMA map + unmap rate, Node against C in the same process (inside `vfio-vm run`): the Node
// side goes through the whole library path (IOVA allocation, argument checks, the addon's
// ioctl, bookkeeping, a DmaMapping object), the C side issues the two ioctls at a fixed IOVA
// on the same buffer in the same container. Reported as the median ratio of rates, Node/C.
import { Device, DmaBuffer } from '../lib';
import { VFIO_DMA_MAP_FLAG_READ, VFIO_DMA_MAP_FLAG_WRITE } from '../lib/abi';
import { native } from '../lib/native';
import { loadBaseline, median, ratioLine } from './util';

const ROUNDS = 11;
const N = 300;
const SIZES = [4096, 64 * 1024];
const WARMUP_MS = 5000;

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
    // The addon's ioctls called straight from JavaScript: what the binding costs by itself.
    const mem = buf.memHandle('bench');
    const bare = (at: number) => {
      const n = native();
      const iovaBig = BigInt(at);
      const len = BigInt(size);
      const t0 = process.hrtime.bigint();
      for (let i = 0; i < N; i++) {
        if (n.VFIO_IOMMU_MAP_DMA(containerFd, mem, 0n, len, iovaBig, VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE) < 0) throw new Error('MAP_DMA');
        if (n.VFIO_IOMMU_UNMAP_DMA(containerFd, iovaBig, len, 0) < 0) throw new Error('UNMAP_DMA');
      }
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
    // Warm up until V8 has optimised the map path: under TCG its background compiler takes
    // seconds, and until it finishes the Node side runs in the interpreter.
    for (const until = Date.now() + WARMUP_MS; Date.now() < until;) js();
    cLoop();
    bare(iova);
    const ratios: number[] = [];
    const bareRatios: number[] = [];
    const perPair: number[] = [];
    const cPerPair: number[] = [];
    for (let k = 0; k < ROUNDS; k++) {
      // Alternate the order so drift in the machine's speed hits both sides alike.
      let tc: number;
      let tj: number;
      if (k % 2) { tc = cLoop(); tj = js(); } else { tj = js(); tc = cLoop(); }
      ratios.push(tc / tj);
      bareRatios.push(tc / bare(iova));
      perPair.push(tj / N / 1000);
      cPerPair.push(tc / N / 1000);
    }
    console.log(ratioLine(`  ${size / 1024} KiB`, median(ratios)) +
      `  (per pair: Node ${median(perPair).toFixed(1)} us, C ${median(cPerPair).toFixed(1)} us; ` +
      `the addon's two calls alone from JavaScript: ${median(bareRatios).toFixed(2)}x)`);
    buf.close();
  }
  dev.close();
}

main().catch((e) => { console.error(e); process.exit(1); });
