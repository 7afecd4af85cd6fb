// The NVMe queue engine against a scripted controller in host memory: entries written as the
// specification lays them out, completions with the phase tag flipping at each wrap, error
// statuses, a full queue, timeouts and a reset failing what is in flight.
import { DmaBackend, DmaSpace } from '../../lib/dma/map';
import { DmaPool } from '../../lib/dma/pool';
import { NvmeAbortedError, NvmeError, NvmeQueue, NvmeQueueFullError } from './nvme-fixtures';

const backend: DmaBackend = {
  name: 'Fake',
  mapOp: 'MAP',
  unmapOp: 'UNMAP',
  geometry: () => ({ ranges: [{ start: 0n, end: 0xffffffffn }], pageSizes: 0x1000n }),
  map: () => 0,
  unmap: () => 0,
  dmaAvailable: () => undefined,
};

/** A controller that answers each submitted entry (after a setImmediate) with `status(opcode)`. */
function setup(
  depth: number,
  o: { status?: (opc: number, cdw10: number) => number; hold?: boolean; doorbellError?: () => Error | undefined } = {},
) {
  const pool = DmaPool.create(new DmaSpace(backend), { blockSize: 4096, blocks: 2 });
  const seen: { opcode: number; cid: number; nsid: number; prp1: bigint; cdw10: number; cdw12: number }[] = [];
  const doorbells: [number, number][] = [];
  const timeouts: number[] = [];
  let sqHead = 0;
  let cqTail = 0;
  let phase = 1;
  const held: number[] = [];
  const host = {
    label: 'fake',
    doorbellStride: 4,
    bar: {
      write32(off: number, v: number) {
        doorbells.push([off, v]);
      },
      writeRelease32(off: number, v: number) {
        const error = o.doorbellError?.();
        if (error) throw error;
        doorbells.push([off, v]);
        setImmediate(() => {
          while (!pool.closed && sqHead !== v) {
            const e = q.sq.offset + sqHead * 64;
            const b = pool.buffer;
            const cid = b.read32(e) >>> 16;
            const cmd = {
              opcode: b.read8(e),
              cid,
              nsid: b.read32(e + 4),
              prp1: b.read64(e + 24),
              cdw10: b.read32(e + 40),
              cdw12: b.read32(e + 48),
            };
            seen.push(cmd);
            sqHead = (sqHead + 1) % depth;
            if (o.hold) {
              held.push(cid);
              continue;
            }
            post(cid, o.status?.(cmd.opcode, cmd.cdw10) ?? 0, cmd.cdw10 + 1);
          }
        });
      },
    },
    onTimeout(_q: NvmeQueue, cid: number) {
      timeouts.push(cid);
    },
  };
  function post(cid: number, status: number, dw0 = 0) {
    const b = pool.buffer;
    const e = q.cq.offset + cqTail * 16;
    b.write32(e, dw0);
    b.write32(e + 8, sqHead | (1 << 16));
    b.write32(e + 12, cid | (phase << 16) | (status << 17));
    cqTail = (cqTail + 1) % depth;
    if (cqTail === 0) phase ^= 1;
  }
  const q = new NvmeQueue(host, pool, { qid: 1, depth, timeoutMs: 50 });
  return { q, pool, seen, doorbells, timeouts, held, post };
}

/** Waits (a turn of the event loop at a time) until `cond` holds; throws after `ms`, never spins on. */
async function until(cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`still not so after ${ms} ms`);
    await new Promise((r) => setImmediate(r));
  }
}

describe('NvmeQueue (scripted controller)', () => {
  it('writes entries as the specification lays them out and resolves to DW0, across several wraps', async () => {
    const { q, pool, seen, doorbells } = setup(4);
    for (let i = 0; i < 10; i++) {
      await expect(
        q.submit({ opcode: 2, nsid: 1, prp1: 0x12345000, prp2: 0, cdw10: i, cdw11: 0, cdw12: 7 }),
      ).resolves.toBe(i + 1);
    }
    expect(seen.map((c) => c.cdw10)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(seen[0]).toMatchObject({ opcode: 2, nsid: 1, prp1: 0x12345000n, cdw12: 7 });
    // SQ tail doorbell of queue 1 at 0x1008, CQ head at 0x100c; both wrap at the depth.
    expect(doorbells.slice(0, 6)).toEqual([
      [0x1008, 1],
      [0x100c, 1],
      [0x1008, 2],
      [0x100c, 2],
      [0x1008, 3],
      [0x100c, 3],
    ]);
    expect(doorbells).toContainEqual([0x1008, 0]);
    expect(q.completions).toBe(10);
    expect(q.inFlight).toBe(0);
    pool.close();
  });

  it('rings the submission doorbell once for the commands submitted in one tick, and reaps them all', async () => {
    const { q, pool, seen, doorbells } = setup(16);
    const cmd = (i: number) => ({ opcode: 2, nsid: 1, prp1: 0, prp2: 0, cdw10: i, cdw11: 0, cdw12: 0 });
    // Five in one tick, then three more from the continuation of one of them.
    const first = [0, 1, 2, 3, 4].map((i) => q.submit(cmd(i)));
    const more = first[0].then(() => Promise.all([5, 6, 7].map((i) => q.submit(cmd(i)))));
    expect(doorbells).toEqual([]); // not before the current tick is done
    expect(await Promise.all(first)).toEqual([1, 2, 3, 4, 5]);
    expect(await more).toEqual([6, 7, 8]);
    const sq = doorbells.filter(([off]) => off === 0x1008);
    expect(sq[0]).toEqual([0x1008, 5]);
    expect(sq[sq.length - 1]).toEqual([0x1008, 8]);
    expect(sq.length).toBeLessThanOrEqual(2);
    expect(q.doorbells).toBe(sq.length);
    expect(seen.map((c) => c.cdw10)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect([q.completions, q.inFlight]).toEqual([8, 0]);
    pool.close();
  });

  it('fails the commands a doorbell could not announce, with its error, and takes their entries back', async () => {
    let fail = true;
    const { q, pool, seen } = setup(8, { doorbellError: () => (fail ? new Error('BAR gone') : undefined) });
    const cmd = (i: number) => ({ opcode: 2, nsid: 1, prp1: 0, prp2: 0, cdw10: i, cdw11: 0, cdw12: 0 });
    const lost = [q.submit(cmd(0)), q.submit(cmd(1))];
    for (const p of lost) await expect(p).rejects.toThrow('BAR gone');
    expect(q.inFlight).toBe(0);
    fail = false;
    // The next command takes the first entry again: the controller never saw the lost ones.
    await expect(q.submit(cmd(2))).resolves.toBe(3);
    expect(seen.map((c) => [c.cid, c.cdw10])).toEqual([[seen[0].cid, 2]]);
    pool.close();
  });

  it('rejects an error completion with NvmeError and stays usable', async () => {
    const { q, pool } = setup(8, { status: (_opc, cdw10) => (cdw10 === 1 ? 0x4080 : 0) });
    const results = await Promise.allSettled(
      [0, 1, 2].map((i) =>
        q.submit({ opcode: 2, nsid: 1, prp1: 0, prp2: 0, cdw10: i, cdw11: 0, cdw12: 0, lba: i, blocks: 1 }),
      ),
    );
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    const e = (results[1] as PromiseRejectedResult).reason;
    expect(e).toBeInstanceOf(NvmeError);
    expect([e.sc, e.sct, e.dnr, e.command.lba, e.command.name]).toEqual([0x80, 0, true, 1, 'Read']);
    pool.close();
  });

  it('throws NvmeQueueFullError with depth - 1 commands in flight, and fails them all on a reset', async () => {
    const { q, pool, held } = setup(4, { hold: true });
    const ps = [0, 1, 2].map((i) => q.submit({ opcode: 1, nsid: 1, prp1: 0, prp2: 0, cdw10: i, cdw11: 0, cdw12: 0 }));
    expect(() => q.submit({ opcode: 1, nsid: 1, prp1: 0, prp2: 0, cdw10: 9, cdw11: 0, cdw12: 0 })).toThrow(
      NvmeQueueFullError,
    );
    // The doorbell rings after this tick, the scripted controller reads the entries one later.
    await until(() => held.length >= 3);
    expect(held).toHaveLength(3);
    expect(q.failAll('reset', 'test')).toBe(3);
    for (const p of ps) await expect(p).rejects.toBeInstanceOf(NvmeAbortedError);
    expect(q.inFlight).toBe(0);
    pool.close();
  });

  it('gives back the pages and the pin it was handed when it cannot take the command: full, a bad entry, closed', async () => {
    const { q, pool, held } = setup(4, { hold: true });
    using data = DmaPool.create(new DmaSpace(backend), { blockSize: 4096, blocks: 8 });
    const cmd = (i: number) => ({ opcode: 1, nsid: 1, prp1: 0, prp2: 0, cdw10: i, cdw11: 0, cdw12: 0 });
    const caller = data.alloc();
    const ps = [0, 1].map((i) => q.submit(cmd(i), [data.alloc()]));
    expect(data.available).toBe(5);
    // An entry that cannot be written (a Symbol NSID): the id, the pages and the pin come back.
    expect(() => q.submit({ ...cmd(2), nsid: Symbol('x') as never }, [data.alloc()], undefined, caller)).toThrow(
      TypeError,
    );
    expect([data.available, data.isPinned(caller)]).toEqual([5, false]);
    ps.push(q.submit(cmd(3), [data.alloc()]));
    // Full (depth - 1 in flight): the pages come back.
    expect(() => q.submit(cmd(4), [data.alloc(), data.alloc()], undefined, caller)).toThrow(NvmeQueueFullError);
    expect([data.available, data.isPinned(caller)]).toEqual([4, false]);
    await until(() => held.length >= 3);
    q.close('close');
    for (const p of ps) await expect(p).rejects.toBeInstanceOf(NvmeAbortedError);
    expect(data.available).toBe(7);
    // Closed: rejected, and the pages come back.
    await expect(q.submit(cmd(5), [data.alloc()])).rejects.toMatchObject({ reason: 'close' });
    expect(data.available).toBe(7);
    pool.close();
  });

  it('refuses a timeout a timer cannot wait', () => {
    const { q, pool } = setup(4);
    for (const bad of [0, -1, 1.5, Infinity, NaN, 2 ** 31, '5' as never]) {
      expect(() => (q.timeoutMs = bad)).toThrow(/is not an integer from 1 to 2147483647 ms/);
    }
    q.timeoutMs = 2000;
    expect(q.timeoutMs).toBe(2000);
    pool.close();
  });

  it('tells the host about a timeout; an abandoned command keeps its pages until it completes', async () => {
    const s = setup(4, { hold: true });
    const p = s.q.submit({ opcode: 2, nsid: 1, prp1: 0, prp2: 0, cdw10: 0, cdw11: 0, cdw12: 0 });
    await new Promise((r) => setTimeout(r, 150));
    // Reported once, however many deadline checks pass.
    expect(s.timeouts).toEqual([0]);
    s.q.abandon(0, new Error('timed out'));
    await expect(p).rejects.toThrow('timed out');
    expect(s.q.inFlight).toBe(1);
    s.post(0, 0);
    s.q.reap();
    expect(s.q.inFlight).toBe(0);
    s.pool.close();
  });

  it('fails what is in flight, without throwing from the poller, when its memory goes away', async () => {
    const { q, pool } = setup(4, { hold: true });
    const p = q.submit({ opcode: 2, nsid: 1, prp1: 0, prp2: 0, cdw10: 0, cdw11: 0, cdw12: 0 });
    pool.close();
    await expect(p).rejects.toBeInstanceOf(NvmeAbortedError);
    await expect(
      q.submit({ opcode: 2, nsid: 1, prp1: 0, prp2: 0, cdw10: 0, cdw11: 0, cdw12: 0 }),
    ).rejects.toMatchObject({ reason: 'close' });
  });
});
