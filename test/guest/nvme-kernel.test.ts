// The NVMe driver checked against the Linux kernel's own nvme driver on the same controller:
// what one writes (random patterns at random LBAs, single blocks and PRP-list transfers), the
// other reads back byte for byte, through O_DIRECT on the kernel's block device; this driver's
// side copies through its own pages for some extents and works in place in DmaBlocks for the
// others. The Identify
// data both drivers read must agree too. Needs the test controller and the nvme module, which
// the default configuration of scripts/test.js provides.
import { randomBytes, randomInt } from 'crypto';
import * as fs from 'fs';
import { DmaBuffer, DmaPool } from '../../lib';
import { NvmeController } from '../../lib/nvme';
import { describeIf, openDevice } from './env';
import { KernelNvme, bindTo, boundDriver, kernelNvme, testNvme } from './nvme-env';
import { must } from '../support/must';

const T = testNvme();
const NSID = 1;
const haveKernelDriver = T.dedicated && fs.existsSync('/sys/bus/pci/drivers/nvme');
jest.setTimeout(600000);

interface Extent {
  lba: number;
  data: Buffer;
}

/** Random extents that do not overlap: `sizes` in blocks, placed at random block addresses. */
function extents(blocks: number, bs: number, sizes: number[], avoid: Extent[] = []): Extent[] {
  const out: Extent[] = [];
  const taken = [...avoid];
  for (const n of sizes) {
    for (;;) {
      const lba = randomInt(0, blocks - n);
      if (taken.some((e) => lba < e.lba + e.data.length / bs && e.lba < lba + n)) continue;
      const e = { lba, data: randomBytes(n * bs) };
      out.push(e);
      taken.push(e);
      break;
    }
  }
  return out;
}

/** O_DIRECT I/O on the kernel's block device, through page-aligned memory. */
function directIo(k: KernelNvme, write: boolean, e: Extent): Buffer {
  const mem = DmaBuffer.allocate(e.data.length);
  const fd = fs.openSync(k.disk, (write ? fs.constants.O_RDWR : fs.constants.O_RDONLY) | fs.constants.O_DIRECT);
  try {
    const view = mem.u8.subarray(0, e.data.length);
    const pos = e.lba * k.logicalBlockSize;
    if (write) {
      view.set(e.data);
      expect(fs.writeSync(fd, view, 0, view.length, pos)).toBe(view.length);
      fs.fsyncSync(fd);
      return e.data;
    }
    expect(fs.readSync(fd, view, 0, view.length, pos)).toBe(view.length);
    return Buffer.from(view);
  } finally {
    fs.closeSync(fd);
    mem.close();
  }
}

describeIf(haveKernelDriver, 'no test controller or no nvme module in this configuration')(
  `nvme driver and the kernel's nvme driver on ${T.bdf}`,
  () => {
    let ours: Extent[] = [];
    let theirs: Extent[] = [];
    let bs = 0;
    let blocks = 0;
    let identity: { serial: string; model: string; firmware: string } | undefined;

    afterAll(() => {
      if (boundDriver(T.bdf) !== 'vfio-pci') bindTo(T.bdf, 'vfio-pci');
    });

    it('nvme: this driver writes random patterns at random LBAs (single blocks and ≥ 256 KiB through PRP lists; copied and in place)', async () => {
      expect(boundDriver(T.bdf)).toBe('vfio-pci');
      const dev = await openDevice(T.bdf);
      try {
        const c = await NvmeController.open(dev);
        const ns = must(c.namespaces.get(NSID), 'c.namespaces.get(NSID)');
        bs = ns.format.blockBytes;
        blocks = ns.size;
        identity = { serial: c.identity.serial, model: c.identity.model, firmware: c.identity.firmware };
        ours = extents(blocks, bs, [1, 1, 1, 1, 1, (256 * 1024) / bs, c.maxTransferBytes / bs]);
        // Every other single block and the 256 KiB extent go in place, from DmaBlocks of their size.
        using small = DmaPool.create(dev, { blockSize: bs, blocks: 1 });
        using big = DmaPool.create(dev, { blockSize: 256 * 1024, blocks: 1 });
        const inPlace = new Set([ours[1], ours[3], ours[5]]);
        for (const e of ours) {
          if (!inPlace.has(e)) {
            await c.write(NSID, e.lba, e.data);
            continue;
          }
          const b = (e.data.length === bs ? small : big).alloc();
          b.u8.set(e.data);
          await c.write(NSID, e.lba, b);
          b.free();
        }
        await c.flush(NSID);
        await c.close();
      } finally {
        dev.close();
      }
    });

    it('nvme: the kernel driver agrees on Identify and reads back what this driver wrote; then writes its own', async () => {
      bindTo(T.bdf, 'nvme');
      try {
        await kernelSide();
      } finally {
        bindTo(T.bdf, 'vfio-pci');
      }
    });

    async function kernelSide(): Promise<void> {
      const k = await kernelNvme(T.bdf);
      expect(k.attr('serial')).toBe(must(identity, 'identity').serial);
      expect(k.attr('model')).toBe(must(identity, 'identity').model);
      expect(k.attr('firmware_rev')).toBe(must(identity, 'identity').firmware);
      expect(k.logicalBlockSize).toBe(bs);
      expect(k.bytes).toBe(blocks * bs);
      if (T.imageBytes !== undefined) expect(k.bytes).toBe(T.imageBytes);
      for (const e of ours) expect(directIo(k, false, e).equals(e.data)).toBe(true);
      theirs = extents(blocks, bs, [1, 1, 1, 1, 1, 64, 128], ours);
      for (const e of theirs) directIo(k, true, e);
    }

    it('nvme: this driver reads back what the kernel driver wrote, and its own data is still there (copied and in place)', async () => {
      const dev = await openDevice(T.bdf);
      try {
        const c = await NvmeController.open(dev);
        using pool = DmaPool.create(dev, { blockSize: c.maxTransferBytes, blocks: 1 });
        const into = pool.alloc();
        for (const [i, e] of [...theirs, ...ours].entries()) {
          const n = e.data.length / bs;
          const got = i % 2 === 1 ? await c.read(NSID, e.lba, n, { into }) : await c.read(NSID, e.lba, n);
          expect(Buffer.from(got).equals(e.data)).toBe(true);
        }
        await c.close();
      } finally {
        dev.close();
      }
    });
  },
);
