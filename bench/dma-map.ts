// DMA map + unmap rate, Node against C in the same process (inside `vfio-vm run`). The library
// side goes through the whole path (IOVA allocation, argument checks, the addon's ioctls,
// bookkeeping, a DmaMapping object); the C side issues the two ioctls in a loop at a fixed IOVA
// on the same buffer in the same container. Reported as the median over rounds of the ratio of
// rates, Node/C, with two reference points that show where the difference goes:
// - "the addon alone": the addon's MAP_DMA and UNMAP_DMA called straight from a JS loop;
// - "one call per pair": a JS loop calling the C pair one at a time, i.e. what merely crossing
//   from JavaScript into C once per pair costs. Map and unmap are two calls in any binding.
import { Device, DmaBuffer } from '../lib';
import { VFIO_DMA_MAP_FLAG_READ, VFIO_DMA_MAP_FLAG_WRITE } from '../lib/abi';
import { native } from '../lib/addon/native';
import { loadBaseline, median, ratioLine } from './util';

const ROUNDS = 15;
const N = 300;
const SIZES = [4096, 64 * 1024, 1024 * 1024];
const WARMUP_MS = 5000;

async function main(): Promise<void> {
  const bdf = process.env.VFIO_VM_EDU;
  if (!bdf) throw new Error('needs VFIO_VM_EDU (run inside `vfio-vm run`)');
  const c = loadBaseline();
  const n = native();
  const dev = await Device.open(bdf);
  const containerFd = dev.iommu.fd('bench');
  console.log(
    `DMA map+unmap (type1, edu's container), ${N} pairs x ${ROUNDS} rounds, median rate ratio against the C loop (1.00 = as fast as C):`,
  );
  for (const size of SIZES) {
    const buf = DmaBuffer.allocate(size);
    buf.u8.fill(1); // fault the pages in before timing: every variant then pins resident memory
    // Every variant maps where the allocator does: the same page-table path for all.
    const probe = dev.iommu.map(buf);
    const iova = probe.iova;
    const at = Number(iova);
    probe.unmap();
    const mem = buf.memId('bench');
    const ab = buf.u8.buffer as ArrayBuffer;
    const flags = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE;
    const timed = (loop: () => void) => {
      const t0 = process.hrtime.bigint();
      loop();
      return Number(process.hrtime.bigint() - t0);
    };
    const variants = {
      library: () =>
        timed(() => {
          for (let i = 0; i < N; i++) dev.iommu.map(buf).unmap();
        }),
      addon: () =>
        timed(() => {
          for (let i = 0; i < N; i++) {
            if (n.VFIO_IOMMU_MAP_DMA(containerFd, mem, 0, size, at, flags) < 0) throw new Error('MAP_DMA');
            if (n.VFIO_IOMMU_UNMAP_DMA(containerFd, at, size, 0) < 0) throw new Error('UNMAP_DMA');
          }
        }),
      perPair: () =>
        timed(() => {
          for (let i = 0; i < N; i++) if (c.dma_map_loop(containerFd, ab, size, at, 1) < 0) throw new Error('C pair');
        }),
      c: () => {
        const ns = c.dma_map_loop(containerFd, ab, size, at, N);
        if (ns < 0) throw new Error(`C MAP_DMA/UNMAP_DMA loop: errno ${-ns}`);
        return ns;
      },
    };
    // Warm up until V8 has optimised every loop: under TCG its background compiler takes
    // seconds, and until it finishes the JavaScript runs in the interpreter.
    for (const until = Date.now() + WARMUP_MS; Date.now() < until;) for (const v of Object.values(variants)) v();
    const names = Object.keys(variants) as (keyof typeof variants)[];
    const ratios: Record<string, number[]> = { library: [], addon: [], perPair: [] };
    const cPerPair: number[] = [];
    for (let k = 0; k < ROUNDS; k++) {
      // Rotate the order so drift in the machine's speed hits every variant alike.
      const t: Record<string, number> = {};
      for (let j = 0; j < names.length; j++) {
        const name = names[(j + k) % names.length];
        t[name] = variants[name]();
      }
      for (const name of ['library', 'addon', 'perPair']) ratios[name].push(t.c / t[name]);
      cPerPair.push(t.c / N / 1000);
    }
    console.log(
      ratioLine(`  ${size >= 1 << 20 ? `${size >> 20} MiB` : `${size >> 10} KiB`}: library`, median(ratios.library)) +
        `   (addon alone ${median(ratios.addon).toFixed(2)}x, one call per pair ${median(ratios.perPair).toFixed(2)}x; ` +
        `C ${median(cPerPair).toFixed(1)} us per pair)`,
    );
    buf.close();
  }
  dev.close();
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
