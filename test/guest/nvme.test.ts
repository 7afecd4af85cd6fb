// The NVMe driver (lib/nvme) against QEMU's controller in the emulated host: bring-up and
// Identify against what QEMU was told, data through interrupt-driven and polled queues (single
// blocks and PRP-list transfers), several queues with their own MSI-X vectors, error paths, a
// device reset in the middle of I/O, a controller that stops answering, orderly shutdown.
import { randomBytes, randomInt } from 'crypto';
import { BusyError, ClosedError, Device, DmaPool, InvalidArgumentError, VfioError } from '../../lib';
import { NvmeAbortedError, NvmeController, NvmeError, NvmeQueueFullError } from '../../lib/nvme';
import { openDevice } from './env';
import { testNvme } from './nvme-env';
import { must } from '../support/must';

const T = testNvme();
const NSID = 1;
jest.setTimeout(300000);

/** Settles within `ms` or fails the test: the driver must never hang. */
function within<X>(p: Promise<X>, ms: number, what: string): Promise<X> {
  let t: NodeJS.Timeout;
  return Promise.race([
    p,
    new Promise<X>((_r, rej) => {
      t = setTimeout(() => rej(new Error(`${what} hung for ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(t));
}

describe(`nvme driver on ${T.bdf}`, () => {
  let dev: Device;
  let c: NvmeController;
  let blocks = 0;
  let bs = 0;
  /** A random LBA with `span` blocks after it inside the namespace. */
  const lba = (span = 128) => randomInt(0, blocks - span);

  beforeAll(async () => {
    dev = await openDevice(T.bdf);
    c = await NvmeController.open(dev, { ioQueues: 6, timeoutMs: 20000 });
    const ns = must(c.namespaces.get(NSID), 'c.namespaces.get(NSID)');
    blocks = ns.size;
    bs = ns.format.blockBytes;
  });
  afterAll(async () => {
    await c?.close().catch(() => undefined);
    dev?.close();
  });

  it('nvme: open honours CAP and the controller is enabled with the page size it allows', () => {
    const bar = dev.bar(0).map();
    try {
      const cap = c.cap;
      expect(cap.pageSizeMin).toBeLessThanOrEqual(c.pageSize);
      expect(c.pageSize).toBeLessThanOrEqual(cap.pageSizeMax);
      expect(bar.read32(0x1c) & 1).toBe(1); // CSTS.RDY
      const cc = bar.read32(0x14);
      expect(cc & 1).toBe(1);
      expect(2 ** (12 + ((cc >>> 7) & 0xf))).toBe(c.pageSize);
      expect([(cc >>> 16) & 0xf, (cc >>> 20) & 0xf]).toEqual([6, 4]);
      expect(cap.maxQueueEntries).toBe((bar.read32(0) & 0xffff) + 1);
      expect(cap.doorbellStride).toBe(4 << (bar.read32(4) & 0xf));
      expect(c.grantedQueues).toBe(6);
    } finally {
      bar.close();
    }
  });

  it('nvme: Identify equals what QEMU was told (serial, namespace size, LBA format)', () => {
    expect(c.identity.serial).toBe(T.serial);
    expect(c.identity.vendorId).toBe(dev.config.read16(0));
    expect(c.identity.mdts).toBeGreaterThan(0);
    expect([...c.namespaces.keys()]).toEqual([NSID]);
    const ns = must(c.namespaces.get(NSID), 'c.namespaces.get(NSID)');
    if (T.blockSize !== undefined) expect(ns.format.blockBytes).toBe(T.blockSize);
    if (T.imageBytes !== undefined) expect(ns.size * ns.format.blockBytes).toBe(T.imageBytes);
    expect(ns.capacity).toBe(ns.size);
    expect(c.maxTransferBytes).toBe(Math.min(2 ** c.identity.mdts * c.cap.pageSizeMin, 512 * c.pageSize));
  });

  it('nvme: data written is read back, single blocks and multi-page transfers through PRP lists (interrupts)', async () => {
    for (const n of [1, 2, 3, (256 * 1024) / bs, c.maxTransferBytes / bs]) {
      const at = lba(n);
      const data = randomBytes(n * bs);
      await c.write(NSID, at, data);
      expect(Buffer.from(await c.read(NSID, at, n)).equals(data)).toBe(true);
    }
    await c.flush(NSID);
  });

  it("nvme: a read into the caller's buffer fills its start; a short, foreign or detached buffer is a typed error", async () => {
    const q = await c.createQueue();
    try {
      const at = lba();
      const data = randomBytes(3 * bs);
      await c.write(NSID, at, data, { queue: q });
      const into = new Uint8Array(4 * bs).fill(0xa5);
      const r = await c.read(NSID, at, 3, { into, queue: q });
      expect([r.buffer === into.buffer, r.byteOffset, r.length]).toEqual([true, 0, 3 * bs]);
      expect(Buffer.from(r).equals(data)).toBe(true);
      expect(into.subarray(3 * bs).every((b) => b === 0xa5)).toBe(true);
      const exact = new Uint8Array(bs);
      expect(await c.read(NSID, at, 1, { into: exact, queue: q })).toBe(exact);
      expect(Buffer.from(exact).equals(data.subarray(0, bs))).toBe(true);

      // Refused before anything reaches the controller.
      const sent = q.completions;
      const short = await c.read(NSID, at, 2, { into: new Uint8Array(bs), queue: q }).catch((e: unknown) => e);
      expect(short).toBeInstanceOf(InvalidArgumentError);
      expect((short as VfioError).code).toBe('EINVAL');
      expect((short as VfioError).message).toMatch(`at least ${2 * bs} bytes`);
      const foreign = await c
        .read(NSID, at, 1, { into: [1, 2, 3] as unknown as Uint8Array, queue: q })
        .catch((e: unknown) => e);
      expect((foreign as VfioError).code).toBe('EINVAL');
      expect([q.completions, q.inFlight]).toEqual([sent, 0]);

      // Detached while the read is in flight: the read fails, the queue goes on.
      const ab = new ArrayBuffer(bs);
      const pending = c.read(NSID, at, 1, { into: new Uint8Array(ab), queue: q });
      structuredClone(ab, { transfer: [ab] });
      const detached = await pending.catch((e: unknown) => e);
      expect(detached).toBeInstanceOf(InvalidArgumentError);
      expect((detached as VfioError).message).toMatch(/detached/);
      expect(Buffer.from(await c.read(NSID, at, 3, { queue: q })).equals(data)).toBe(true);
      expect(q.inFlight).toBe(0);
    } finally {
      await c.deleteQueue(q);
    }
  });

  it('nvme: reads and writes in place in a DmaBlock of the device, pinned while the controller has it', async () => {
    const q = await c.createQueue();
    const pool = DmaPool.create(dev, { blockSize: 256 * 1024, blocks: 3 });
    try {
      const n = (256 * 1024) / bs;
      const at = lba(n + 1);
      const data = randomBytes(256 * 1024);
      const src = pool.alloc();
      src.u8.set(data);
      // Written from the block in place (a PRP list for 256 KiB); the copying path reads it back.
      const written = c.write(NSID, at, src, { queue: q });
      const busy = (() => {
        try {
          src.free();
        } catch (e) {
          return e;
        }
      })();
      expect(busy).toBeInstanceOf(BusyError);
      await written;
      expect(pool.isPinned(src)).toBe(false);
      expect(Buffer.from(await c.read(NSID, at, n, { queue: q })).equals(data)).toBe(true);

      // Read into the block: the controller wrote the block's own memory, and only its start.
      const dst = pool.alloc();
      dst.u8.fill(0x5a);
      const r = await c.read(NSID, at, 3, { into: dst, queue: q });
      expect([r.buffer === dst.u8.buffer, r.byteOffset, r.length]).toEqual([true, dst.u8.byteOffset, 3 * bs]);
      expect(Buffer.from(r).equals(data.subarray(0, 3 * bs))).toBe(true);
      expect(dst.u8.subarray(3 * bs).every((b) => b === 0x5a)).toBe(true);
      expect(await c.read(NSID, at, n, { into: dst, queue: q })).toBe(dst.u8);
      expect(Buffer.from(dst.u8).equals(data)).toBe(true);

      // Part of a block, or of an array: its first blocks only (the rest would write 0xee).
      const part = randomBytes(2 * bs);
      src.u8.fill(0xee);
      src.u8.set(part.subarray(0, bs));
      await c.write(NSID, at, src, { queue: q, blocks: 1 });
      await c.write(NSID, at + 1, Buffer.concat([part.subarray(bs), Buffer.alloc(bs, 0xee)]), { queue: q, blocks: 1 });
      const after = Buffer.from(await c.read(NSID, at, 3, { queue: q }));
      expect(after.equals(Buffer.concat([part, data.subarray(2 * bs, 3 * bs)]))).toBe(true);

      // Refused before anything reaches the controller: too short, freed.
      const sent = q.completions;
      const short = await c.read(NSID, at, n + 1, { into: dst, queue: q }).catch((e: unknown) => e);
      expect((short as VfioError).message).toMatch(`the transfer needs ${(n + 1) * bs}`);
      const tooMany = await c.write(NSID, at, src, { queue: q, blocks: n + 1 }).catch((e: unknown) => e);
      expect((tooMany as VfioError).message).toMatch(`${n + 1} blocks need ${(n + 1) * bs} bytes; data has ${n * bs}`);
      const gone = pool.alloc();
      gone.free();
      const freed = await c.write(NSID, at, gone, { queue: q }).catch((e: unknown) => e);
      expect([(freed as VfioError).code, (freed as VfioError).op]).toEqual(['EINVAL', 'NvmeController.write']);
      // A pool the device may not write (the IOMMU would fail the read with a data transfer error).
      using readOnly = DmaPool.create(dev, { blockSize: bs, blocks: 1, write: false });
      const ro = await c.read(NSID, at, 1, { into: readOnly.alloc(), queue: q }).catch((e: unknown) => e);
      expect(ro).toBeInstanceOf(InvalidArgumentError);
      expect((ro as VfioError).message).toMatch('mapped with write: false');
      expect([q.completions, q.inFlight]).toEqual([sent, 0]);

      // The pool does not close under a read in flight.
      const pending = c.read(NSID, at, 1, { into: dst, queue: q });
      expect(() => pool.close()).toThrow(BusyError);
      await pending;
    } finally {
      pool.close();
      await c.deleteQueue(q);
    }
  });

  it('nvme: a polled queue gives the same data and takes no interrupt', async () => {
    const q = await c.createQueue({ polled: true });
    try {
      expect(q.vector).toBeUndefined();
      const at = lba();
      const data = randomBytes(64 * bs);
      await c.write(NSID, at, data, { queue: q });
      const viaPoll = await c.read(NSID, at, 64, { queue: q });
      const viaIrq = await c.read(NSID, at, 64);
      expect(Buffer.from(viaPoll).equals(data)).toBe(true);
      expect(Buffer.from(viaIrq).equals(data)).toBe(true);
      expect(q.completions).toBe(2);
      expect([q.interrupts, q.completionsInInterrupt]).toEqual([0, 0]);
    } finally {
      await c.deleteQueue(q);
    }
  });

  it('nvme: several I/O queues in parallel, each on its own MSI-X vector; every completion comes with a device interrupt', async () => {
    const qs = await Promise.all([0, 1, 2].map(() => c.createQueue()));
    try {
      expect(new Set(qs.map((q) => q.vector)).size).toBe(3);
      const rounds = 8;
      // Each queue at queue depth 1, all queues at once: one completion per interrupt.
      await Promise.all(
        qs.map(async (q, i) => {
          for (let r = 0; r < rounds; r++) {
            const at = (i * rounds + r) * 4 + 1000;
            const data = randomBytes(4 * bs);
            await c.write(NSID, at, data, { queue: q });
            expect(Buffer.from(await c.read(NSID, at, 4, { queue: q })).equals(data)).toBe(true);
          }
        }),
      );
      for (const q of qs) {
        expect(q.completions).toBe(2 * rounds);
        expect(q.completionsInInterrupt).toBe(q.completions);
        expect(q.interrupts).toBe(q.completions);
      }
      // And deeper: 32 commands in flight on one queue, all reaped in interrupt handlers.
      const q = qs[0];
      const before = q.completions;
      const reads = await Promise.all(Array.from({ length: 32 }, (_x, i) => c.read(NSID, 1000 + i, 1, { queue: q })));
      expect(reads).toHaveLength(32);
      expect(q.completions - before).toBe(32);
      expect(q.completionsInInterrupt).toBe(q.completions);
      expect(q.interrupts).toBeGreaterThan(2 * rounds);
    } finally {
      for (const q of qs) await c.deleteQueue(q);
    }
  });

  it('nvme: 32 commands submitted together share one doorbell; random reads at queue depth 32 return the written data (interrupts and polled)', async () => {
    const qs = [await c.createQueue({ depth: 64 }), await c.createQueue({ depth: 64, polled: true })];
    try {
      const span = 256;
      const at = lba(span);
      const pattern = randomBytes(span * bs);
      for (let i = 0; i < span; i += 64) await c.write(NSID, at + i, pattern.subarray(i * bs, (i + 64) * bs));
      const expectBlock = (data: Uint8Array, k: number) =>
        expect(Buffer.from(data).equals(pattern.subarray(k * bs, (k + 1) * bs))).toBe(true);
      for (const q of qs) {
        const start = { doorbells: q.doorbells, completions: q.completions, inIrq: q.completionsInInterrupt };
        const irqs = q.interrupts;
        // One tick, 32 submissions: the controller hears of them through one tail doorbell.
        const first = Array.from({ length: 32 }, (_x, i) => c.read(NSID, at + i, 1, { queue: q }));
        await new Promise((r) => setImmediate(r));
        expect(q.doorbells - start.doorbells).toBe(1);
        (await within(Promise.all(first), 60000, 'the first 32 reads')).forEach((d, i) => expectBlock(d, i));
        // Then 32 loops, each submitting its next read from the previous one's continuation.
        const perLoop = 8;
        await within(
          Promise.all(
            Array.from({ length: 32 }, async () => {
              for (let r = 0; r < perLoop; r++) {
                const k = randomInt(0, span);
                expectBlock(await c.read(NSID, at + k, 1, { queue: q }), k);
              }
            }),
          ),
          120000,
          'random reads at queue depth 32',
        );
        const n = 32 + 32 * perLoop;
        expect(q.completions - start.completions).toBe(n);
        expect(q.inFlight).toBe(0);
        const doorbells = q.doorbells - start.doorbells;
        expect(doorbells).toBeGreaterThan(1);
        expect(doorbells).toBeLessThanOrEqual(n);
        if (q.polled) {
          expect([q.interrupts, q.completionsInInterrupt]).toEqual([0, 0]);
        } else {
          // Every completion was reaped in an interrupt handler; an interrupt may bring several.
          expect(q.completionsInInterrupt - start.inIrq).toBe(n);
          expect(q.interrupts - irqs).toBeGreaterThan(0);
          expect(q.interrupts - irqs).toBeLessThanOrEqual(n);
        }
      }
    } finally {
      for (const q of qs) await c.deleteQueue(q);
    }
  });

  it('nvme: writeZeroes and deallocate leave blocks that read as zeroes', async () => {
    const at = lba();
    await c.write(NSID, at, randomBytes(16 * bs));
    await c.writeZeroes(NSID, at, 8);
    const z = await c.read(NSID, at, 16);
    expect(z.subarray(0, 8 * bs).every((b) => b === 0)).toBe(true);
    expect(z.subarray(8 * bs).some((b) => b !== 0)).toBe(true);
    expect(must(c.namespaces.get(NSID), 'c.namespaces.get(NSID)').deallocatedRead).toBe(1);
    const before = await c.read(NSID, at + 8, 8);
    await c.dsm(NSID, [{ lba: at + 8, blocks: 8 }]);
    const after = await c.read(NSID, at + 8, 8);
    // Only a drive that passes discards on to the image (discard=unmap) forgets the data.
    if (T.discard) expect(after.every((b) => b === 0)).toBe(true);
    else expect(Buffer.from(after).equals(Buffer.from(before))).toBe(true);
  });

  it('nvme: an LBA past the end and an inactive namespace are typed errors from the controller; it stays usable', async () => {
    const past = await c.read(NSID, blocks - 1, 2).catch((e) => e);
    expect(past).toBeInstanceOf(NvmeError);
    expect(past).toBeInstanceOf(VfioError);
    expect([past.sct, past.sc, past.statusName, past.command.lba, past.command.name]).toEqual([
      0,
      0x80,
      'LBA Out of Range',
      blocks - 1,
      'Read',
    ]);
    // An inactive namespace ID is an invalid field; one beyond what the controller can have, an invalid namespace.
    const inactive = await c.write(77, 0, new Uint8Array(bs)).catch((e) => e);
    expect(inactive).toBeInstanceOf(NvmeError);
    expect([inactive.sct, inactive.sc, inactive.dnr, inactive.command.nsid]).toEqual([0, 0x02, true, 77]);
    const invalid = await c.read(0xfffffff0, 0, 1).catch((e) => e);
    expect(invalid).toBeInstanceOf(NvmeError);
    expect([invalid.sct, invalid.sc, invalid.dnr, invalid.statusName]).toEqual([
      0,
      0x0b,
      true,
      'Invalid Namespace or Format',
    ]);
    const tooBig = await c.read(NSID, 0, c.maxTransferBytes / bs + 1).catch((e) => e);
    expect(tooBig).toBeInstanceOf(InvalidArgumentError);
    expect(tooBig.code).toBe('ERANGE');
    const data = randomBytes(bs);
    await c.write(NSID, 5, data);
    expect(Buffer.from(await c.read(NSID, 5, 1)).equals(data)).toBe(true);
  });

  it('nvme: a full queue is a typed error at once; the queue keeps working', async () => {
    const q = await c.createQueue({ depth: 4 });
    try {
      const inFlight = [0, 1, 2].map((i) => c.read(NSID, i, 1, { queue: q }));
      const full = await c.read(NSID, 3, 1, { queue: q }).catch((e) => e);
      expect(full).toBeInstanceOf(NvmeQueueFullError);
      expect([full.code, full.queue]).toEqual(['EBUSY', q.qid]);
      await Promise.all(inFlight);
      expect((await c.read(NSID, 3, 1, { queue: q })).length).toBe(bs);
    } finally {
      await c.deleteQueue(q);
    }
  });

  it('nvme: dev.reset() in the middle of I/O: every command settles (data or a typed error), then the driver works again', async () => {
    const at = lba();
    const data = randomBytes(32 * bs);
    await c.write(NSID, at, data);
    const recoveries = c.recoveries;
    const ios = Array.from({ length: 48 }, (_x, i) => c.read(NSID, at + (i % 32), 1));
    const reset = dev.reset();
    const settled = await within(Promise.allSettled(ios), 60000, 'I/O across a reset');
    await reset;
    for (const [i, r] of settled.entries()) {
      if (r.status === 'fulfilled')
        expect(Buffer.from(r.value).equals(data.subarray((i % 32) * bs, ((i % 32) + 1) * bs))).toBe(true);
      else {
        expect(r.reason).toBeInstanceOf(NvmeAbortedError);
        expect(r.reason.reason).toBe('reset');
      }
    }
    // The driver recovers by itself: the next I/O waits for it and goes through.
    expect(Buffer.from(await within(c.read(NSID, at, 32), 60000, 'I/O after a reset')).equals(data)).toBe(true);
    expect(c.recoveries).toBe(recoveries + 1);
  });

  it('nvme: a controller that stops answering: the command times out with a typed error, the controller is reset and usable', async () => {
    const q = await c.createQueue();
    const bar = dev.bar(0).map();
    try {
      q.timeoutMs = 2000;
      const recoveries = c.recoveries;
      // Disable the controller behind the driver's back: nothing it was given will complete.
      bar.write32(0x14, bar.read32(0x14) & ~1);
      await bar.waitFor(0x1c, 1, 0, { timeoutMs: 10000 });
      const e = await within(
        c.read(NSID, 0, 1, { queue: q }).catch((x) => x),
        60000,
        'a command to a dead controller',
      );
      expect(e).toBeInstanceOf(NvmeAbortedError);
      expect([e.reason, e.code]).toEqual(['timeout', 'ETIMEDOUT']);
      // The abort cannot work either: the admin timeout or the abort's grace period resets it.
      const data = randomBytes(bs);
      const deadline = Date.now() + 60000;
      while (c.recoveries === recoveries && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      expect(c.recoveries).toBeGreaterThan(recoveries);
      await c.write(NSID, 9, data, { queue: q });
      expect(Buffer.from(await c.read(NSID, 9, 1, { queue: q })).equals(data)).toBe(true);
    } finally {
      bar.close();
      await c.deleteQueue(q);
    }
  });

  it('nvme: close() shuts the controller down in order (CC.SHN, CSTS.SHST complete) and fails later calls', async () => {
    const q0 = c.queues[0] ?? (await c.createQueue());
    await c.close();
    const bar = dev.bar(0).map();
    try {
      expect((bar.read32(0x14) >>> 14) & 3).toBe(1); // CC.SHN normal
      expect((bar.read32(0x1c) >>> 2) & 3).toBe(2); // CSTS.SHST complete
    } finally {
      bar.close();
    }
    await expect(c.read(NSID, 0, 1)).rejects.toMatchObject({ code: 'ECLOSED' });
    const late = await Promise.all(
      [c.read(NSID, 0, 1), c.read(NSID, 0, 1, { queue: q0 }), c.identify(1, 0), c.createQueue(), c.deleteQueue(q0)].map(
        (p: Promise<unknown>) => p.then(String, (e: unknown) => e),
      ),
    );
    expect(late.map((e) => (e instanceof ClosedError ? 'ClosedError' : String(e)))).toEqual(
      late.map(() => 'ClosedError'),
    );
    expect(dev.closed).toBe(false);
  });
});
