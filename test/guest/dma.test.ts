// DMA against the real kernel and IOMMU of the emulated host, with edu's DMA engine as the
// device: buffers, mappings, the IOVA allocator, faults after unmap, huge pages, closing (the
// limits and their hints are dma-limits.test.ts).
import { once } from 'events';
import * as fs from 'fs';
import * as path from 'path';
import { Device, DmaBuffer, DmaMapping, Mapping, NotSupportedError, Type1Context } from '../../lib';
import { parseHugepageInfo } from '../../lib/dma/buffer';
import { native } from '../../lib/addon/native';
import {
  EDU_BUFFER,
  EDU_DMA_CMD,
  EDU_DMA_MASK_BITS,
  EDU_IRQ_ACK,
  EDU_IRQ_DMA,
  EDU_IRQ_STATUS,
  eduDmaFromRam,
  eduDmaStart,
  eduDmaToRam,
} from './dma-edu';
import { describeIf, guestEnv, hasIommu, itIf, openDevice, vtdIovaEnd, writeSysfs } from './env';
import { rejection } from '../support/errors';

const env = guestEnv();
const EDU = env.edu;
const PAGE = 4096;

interface ForkHelper {
  forkWrite(target: ArrayBufferLike | null, offset: number, bytes: Uint8Array | null, ms: number): number;
  waitExit(pid: number): number;
}
/** The fork() test helper, built by scripts/build-tools.js into build/tools/. */
function forkHelper(): ForkHelper {
  // A native module found at run time: require is the only way to load it.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require(path.join(__dirname, '..', '..', '..', 'build', 'tools', 'fork-helper.node')) as ForkHelper;
}
// IOVAs, faults and IOMMU limits need an IOMMU: no-IOMMU mode has its own tests.
const withIommu = describeIf(hasIommu(), 'no IOMMU in this configuration (noiommu.test covers DMA there)');

function pattern(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = (i * 7 + seed) & 0xff;
  return out;
}

/** The kernel log records so far (root may read /dev/kmsg; one record per read). */
function kernelLog(): string[] {
  const n = native();
  const fd = n.open('/dev/kmsg', n.constants.O_RDONLY | n.constants.O_NONBLOCK | n.constants.O_CLOEXEC);
  if (fd < 0) throw new Error(`open /dev/kmsg: ${-fd}`);
  const lines: string[] = [];
  const buf = new Uint8Array(8192);
  try {
    for (;;) {
      const r = n.read(fd, buf);
      if (r < 0) break; // EAGAIN at the end (EPIPE when records were overwritten is skipped past)
      lines.push(Buffer.from(buf.subarray(0, r)).toString('utf8').split(';').slice(1).join(';').trim());
    }
  } finally {
    n.close(fd);
  }
  return lines;
}

withIommu('IOMMU info', () => {
  it('type1 reports the emulated VT-d geometry: ranges around the MSI window, DMA_AVAIL, page sizes', async () => {
    await using dev = await openDevice(EDU, { backend: 'type1' });
    expect(dev.iommu.iovaRanges).toEqual([
      { start: 0n, end: 0xfedfffffn },
      { start: 0xfef00000n, end: vtdIovaEnd() },
    ]);
    expect(dev.iommu.dmaAvailable).toBe(65535);
    expect(dev.iommu.pageSizes & 0x1000n).toBe(0x1000n);
    const info = (dev.iommu as Type1Context).info();
    expect(info.flags).toEqual({ pgsizes: true, caps: true });
    expect(info.caps.map((c) => c.type).sort()).toEqual(['dma-avail', 'iova-range', 'migration']);
  });

  it("with this configuration's backend too, the ranges leave out the MSI window", async () => {
    await using dev = await openDevice(EDU);
    const ranges = dev.iommu.iovaRanges;
    expect(ranges[0]).toEqual({ start: 0n, end: 0xfedfffffn });
    expect(ranges[1].start).toBe(0xfef00000n);
    expect(dev.iommu.pageSizes & 0x1000n).toBe(0x1000n);
  });

  it('refuses to map before a device has set the IOMMU, saying what to do', async () => {
    const ctx = Type1Context.open();
    using buf = DmaBuffer.allocate(PAGE);
    try {
      const e = await rejection(() => ctx.map(buf));
      expect(e.code).toBe('EINVAL');
      expect(e.hint).toMatch(/open a device in it first/);
      expect(() => ctx.iovaRanges).toThrow(/no IOMMU set yet/);
    } finally {
      ctx.close();
    }
  });
});

withIommu('edu DMA through IOMMU mappings', () => {
  let dev: Device;
  let bar0: Mapping;
  beforeAll(async () => {
    dev = await openDevice(EDU);
    bar0 = dev.bar(0).map();
    dev.config.busMaster = true;
  });
  afterAll(() => dev?.close());

  it('round trip: a pattern DMAed into edu comes back unchanged into a second buffer', async () => {
    using src = DmaBuffer.allocate(2 * PAGE);
    using dst = DmaBuffer.allocate(2 * PAGE);
    const avail = dev.iommu.dmaAvailable; // type1 only: iommufd has no such count
    // The device only reads src and only writes dst.
    const ms = dev.iommu.map(src, { write: false, dmaMaskBits: EDU_DMA_MASK_BITS });
    const md = dev.iommu.map(dst, { read: false, dmaMaskBits: EDU_DMA_MASK_BITS });
    if (avail !== undefined) expect(dev.iommu.dmaAvailable).toBe(avail - 2);
    expect(ms.iova + BigInt(ms.size)).toBeLessThanOrEqual(1n << 28n);
    const data = pattern(3000, 11);
    src.copyIn(PAGE - 1000, data); // straddles the page boundary of src
    await eduDmaFromRam(bar0, ms.iovaOf(PAGE - 1000), 0x100, data.length);
    await eduDmaToRam(bar0, 0x100, md.iovaOf(500), data.length);
    expect(dst.copyOut(500, data.length)).toEqual(data);
    // Bytes around the transfer were not touched.
    expect(dst.read8(499)).toBe(0);
    expect(dst.read8(500 + data.length)).toBe(0);
    ms.unmap();
    md.unmap();
    expect(dev.iommu.dmaAvailable).toBe(avail);
  });

  it('the DMA engine signals completion with an MSI, in both directions', async () => {
    using src = DmaBuffer.allocate(PAGE);
    using dst = DmaBuffer.allocate(PAGE);
    const ms = dev.iommu.map(src, { write: false, dmaMaskBits: EDU_DMA_MASK_BITS });
    const md = dev.iommu.map(dst, { read: false, dmaMaskBits: EDU_DMA_MASK_BITS });
    const irq = dev.irq('MSI').enable();
    try {
      const data = pattern(2048, 42);
      src.copyIn(0, data);
      for (const t of [
        { src: ms.iova, dst: EDU_BUFFER + 0x700n, count: data.length, toRam: false },
        { src: EDU_BUFFER + 0x700n, dst: md.iova, count: data.length, toRam: true },
      ]) {
        const done = once(irq, 'interrupt');
        eduDmaStart(bar0, { ...t, irq: true });
        const [count] = await done;
        expect(count).toBe(1);
        expect(bar0.read32(EDU_DMA_CMD) & 1).toBe(0); // the engine is idle when it signals
        expect(bar0.read32(EDU_IRQ_STATUS) & EDU_IRQ_DMA).toBe(EDU_IRQ_DMA);
        bar0.write32(EDU_IRQ_ACK, EDU_IRQ_DMA);
      }
      expect(dst.copyOut(0, data.length)).toEqual(data);
    } finally {
      // edu keeps its state across opens (it has no reset): leave no interrupt pending.
      bar0.write32(EDU_IRQ_ACK, EDU_IRQ_DMA);
      irq.disable();
      ms.unmap();
      md.unmap();
    }
  });

  it('after unmap(), a DMA to the old IOVA is blocked by the IOMMU and logged; the process carries on', async () => {
    using buf = DmaBuffer.allocate(PAGE);
    buf.u8.fill(0xaa);
    const m = dev.iommu.map(buf, { dmaMaskBits: EDU_DMA_MASK_BITS });
    const iova = m.iova;
    // Prove the mapping works first, then remove it.
    using seed = DmaBuffer.allocate(PAGE);
    seed.copyIn(0, pattern(64, 3));
    const ms = dev.iommu.map(seed, { dmaMaskBits: EDU_DMA_MASK_BITS });
    await eduDmaFromRam(bar0, ms.iova, 0, 64);
    await eduDmaToRam(bar0, 0, iova, 64);
    expect(buf.copyOut(0, 64)).toEqual(pattern(64, 3));
    buf.u8.fill(0xaa);
    m.unmap();
    const before = kernelLog().length;
    await eduDmaToRam(bar0, 0, iova, 64);
    expect(buf.u8.every((b) => b === 0xaa)).toBe(true);
    const faults = kernelLog()
      .slice(before)
      .filter((l) => /DMAR/.test(l) && /fault/i.test(l));
    expect(faults.some((l) => l.includes(`fault addr 0x${iova.toString(16)}`))).toBe(true);
    // Mapped again (the allocator hands the same IOVA back), DMA lands again.
    const again = dev.iommu.map(buf, { dmaMaskBits: EDU_DMA_MASK_BITS });
    expect(again.iova).toBe(iova);
    await eduDmaToRam(bar0, 0, iova, 64);
    expect(buf.copyOut(0, 64)).toEqual(pattern(64, 3));
    again.unmap();
    ms.unmap();
  });

  it('many map/unmap cycles stay inside the ranges, never overlap, and DMA_AVAIL follows', () => {
    const ranges = dev.iommu.iovaRanges;
    const base = dev.iommu.dmaAvailable; // type1 only
    const bufs = [1, 2, 3, 5, 8, 16].map((pages) => DmaBuffer.allocate(pages * PAGE));
    const live: DmaMapping[] = [];
    let seed = 7;
    const rnd = (n: number) => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    const bad: string[] = [];
    for (let i = 0; i < 400; i++) {
      if (live.length > 0 && (rnd(2) === 0 || live.length > 40)) {
        live.splice(rnd(live.length), 1)[0].unmap();
      } else {
        live.push(dev.iommu.map(bufs[rnd(bufs.length)], { dmaMaskBits: rnd(2) ? EDU_DMA_MASK_BITS : undefined }));
      }
      const sorted = [...live].sort((a, b) => (a.iova < b.iova ? -1 : 1));
      sorted.forEach((m, j) => {
        const end = m.iova + BigInt(m.size) - 1n;
        if (!ranges.some((r) => m.iova >= r.start && end <= r.end)) bad.push(`step ${i}: ${m.iova} outside the ranges`);
        if (j > 0 && sorted[j - 1].iova + BigInt(sorted[j - 1].size) > m.iova)
          bad.push(`step ${i}: overlap at ${m.iova}`);
      });
      if (base !== undefined && i % 50 === 0 && dev.iommu.dmaAvailable !== base - live.length)
        bad.push(`step ${i}: DMA_AVAIL ${dev.iommu.dmaAvailable}, expected ${base - live.length}`);
    }
    expect(bad).toEqual([]);
    expect(dev.iommu.dmaMappings.length).toBe(live.length);
    for (const b of bufs) b.close(); // closing a buffer unmaps what is still mapped
    expect(dev.iommu.dmaMappings).toEqual([]);
    expect(dev.iommu.dmaAvailable).toBe(base);
  });

  it('an IOVA outside the reported ranges is refused before the kernel sees it', async () => {
    using buf = DmaBuffer.allocate(PAGE);
    const e = await rejection(() => dev.iommu.map(buf, { iova: 0xfee00000n }));
    expect(e.code).toBe('ERANGE');
    expect(e.message).toMatch(/not inside one of the IOMMU's IOVA ranges/);
    expect(e.hint).toMatch(/iovaRanges/);
  });

  // fork() without exec (a Node-API test helper, test/tools/fork-helper.c): the child shares every
  // page of the buffer while it lives. Private memory would be copy-on-write from here on: a write
  // by either side would land in a page the device does not see.
  it('a fork that shares the pages: writes by the parent and by the child both reach the device', async () => {
    const helper = forkHelper();
    using src = DmaBuffer.allocate(PAGE);
    using dst = DmaBuffer.allocate(PAGE);
    const ms = dev.iommu.map(src, { dmaMaskBits: EDU_DMA_MASK_BITS });
    const md = dev.iommu.map(dst, { dmaMaskBits: EDU_DMA_MASK_BITS });
    src.copyIn(0, pattern(256, 1));
    // The parent writes while the child holds the pages.
    const holder = helper.forkWrite(null, 0, null, 2000);
    expect(holder).toBeGreaterThan(0);
    const fromParent = pattern(256, 99);
    src.copyIn(0, fromParent);
    await eduDmaFromRam(bar0, ms.iova, 0x200, fromParent.length);
    await eduDmaToRam(bar0, 0x200, md.iova, fromParent.length);
    expect(dst.copyOut(0, fromParent.length)).toEqual(fromParent);
    expect(helper.waitExit(holder)).toBe(0);
    // The child writes into the buffer it inherited, then exits: the device reads the child's data.
    const fromChild = pattern(256, 42);
    const writer = helper.forkWrite(src.u8.buffer, 0x400, fromChild, 0);
    expect(helper.waitExit(writer)).toBe(0);
    expect(src.copyOut(0x400, fromChild.length)).toEqual(fromChild);
    await eduDmaFromRam(bar0, ms.iovaOf(0x400), 0x300, fromChild.length);
    await eduDmaToRam(bar0, 0x300, md.iovaOf(0x400), fromChild.length);
    expect(dst.copyOut(0x400, fromChild.length)).toEqual(fromChild);
    ms.unmap();
    md.unmap();
  });

  it('huge pages: a clear error when none are reserved, a working 2 MiB buffer when they are', async () => {
    if (parseHugepageInfo(fs.readFileSync('/proc/meminfo', 'utf8')).size === 0) {
      // A kernel without hugetlbfs (the custom one): refused up front, with the way out.
      const e = await rejection(() => DmaBuffer.allocate(PAGE, { hugepages: true }));
      expect(e).toBeInstanceOf(NotSupportedError);
      expect(e.hint).toBe('allocate without hugepages');
      return;
    }
    const nr = '/proc/sys/vm/nr_hugepages';
    const old = writeSysfs(nr, '0');
    try {
      const e = await rejection(() => DmaBuffer.allocate(PAGE, { hugepages: true }));
      expect(['ENOMEM', 'ENOSPC']).toContain(e.code);
      expect(e.hint).toMatch(/HugePages_Free 0/);
      expect(e.hint).toMatch(/nr_hugepages/);
      fs.writeFileSync(nr, '2');
      using huge = DmaBuffer.allocate(PAGE, { hugepages: true });
      expect(huge.length).toBe(2 << 20);
      const m = dev.iommu.map(huge, { dmaMaskBits: EDU_DMA_MASK_BITS });
      expect(m.iova % (2n << 20n)).toBe(0n); // aligned for a 2 MiB IOMMU page
      const data = pattern(1024, 5);
      huge.copyIn((1 << 20) + 8, data);
      await eduDmaFromRam(bar0, m.iovaOf((1 << 20) + 8), 0x400, data.length);
      await eduDmaToRam(bar0, 0x400, m.iovaOf(64), data.length);
      expect(huge.copyOut(64, data.length)).toEqual(data);
      m.unmap();
    } finally {
      fs.writeFileSync(nr, old);
    }
  });
});

withIommu('closing', () => {
  it('device close turns bus mastering off and unmaps DMA before the device goes; buffers stay usable', async () => {
    const dev = await openDevice(EDU);
    dev.config.busMaster = true;
    using buf = DmaBuffer.allocate(PAGE);
    const m = dev.iommu.map(buf);
    const seen: string[] = [];
    dev.once('close', () => seen.push(`close: mapping ${m.closed ? 'closed' : 'open'}`));
    const configRegion = dev.config.region;
    dev.close();
    expect(seen).toEqual(['close: mapping closed']);
    expect(buf.mappings).toEqual([]);
    expect(() => configRegion.read16(4)).toThrow(/closed/);
    // Reopened, the device shows the command register without bus mastering.
    await using again = await openDevice(EDU);
    expect(again.config.busMaster).toBe(false);
    buf.write32(0, 0x1234);
    expect(buf.read32(0)).toBe(0x1234);
  });

  // iommufd's container compatibility (kernels with CONFIG_IOMMUFD) keeps its IOAS while /dev/iommu is open.
  const withCompat = itIf(fs.existsSync('/dev/iommu'), 'no /dev/iommu on this kernel');
  withCompat(
    "through iommufd's compatibility container, mappings outlive the last device; a device joining again reaches them",
    async () => {
      const ctx = Type1Context.open({ iommufdCompat: true });
      try {
        let dev = await openDevice(EDU, { iommu: ctx });
        expect(ctx.dmaAvailable).toBeUndefined(); // iommufd sets no limit on the number of mappings
        using src = DmaBuffer.allocate(PAGE);
        src.copyIn(0, pattern(128, 77));
        const m = ctx.map(src, { dmaMaskBits: EDU_DMA_MASK_BITS });
        dev.close();
        expect(m.closed).toBe(false);
        // The device joins again and DMAs from the mapping made before it left.
        dev = await openDevice(EDU, { iommu: ctx });
        dev.config.busMaster = true;
        using dst = DmaBuffer.allocate(PAGE);
        const md = ctx.map(dst, { dmaMaskBits: EDU_DMA_MASK_BITS });
        const bar0 = dev.bar(0).map();
        await eduDmaFromRam(bar0, m.iova, 0, 128);
        await eduDmaToRam(bar0, 0, md.iova, 128);
        expect(dst.copyOut(0, 128)).toEqual(pattern(128, 77));
        dev.close();
      } finally {
        ctx.close();
      }
      expect(ctx.dmaMappings).toEqual([]);
    },
  );

  it('type1: a shared context keeps its mappings while any device is open in it; the kernel drops them with the last', async () => {
    const NVME = env.nvme;
    const ctx = Type1Context.open();
    try {
      const edu = await openDevice(EDU, { iommu: ctx });
      const nvme = await openDevice(NVME, { iommu: ctx });
      using buf = DmaBuffer.allocate(PAGE);
      const m = ctx.map(buf);
      expect(ctx.dmaAvailable).toBe(65534);
      edu.close();
      expect(m.closed).toBe(false);
      expect(ctx.dmaAvailable).toBe(65534); // still in the kernel
      nvme.close();
      expect(m.closed).toBe(true);
      expect(buf.mappings).toEqual([]);
      // A device joining again gets a fresh IOMMU with nothing mapped.
      await using _again = await openDevice(EDU, { iommu: ctx });
      expect(ctx.dmaAvailable).toBe(65535);
      expect(ctx.map(buf).iova).toBe(m.iova);
    } finally {
      ctx.close();
    }
    expect(ctx.dmaMappings).toEqual([]);
  });
});
