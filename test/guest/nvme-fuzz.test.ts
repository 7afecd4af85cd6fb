// The NVMe driver's data calls fuzzed against QEMU's controller: random reads and writes with
// hostile arguments (NSIDs, LBAs, block counts, `into` and data of every kind: Uint8Arrays of
// any size, DmaBlocks allocated, freed, too small, of a closed pool), several in flight at once,
// mixed with the DMA pool's own calls (alloc, free, pin, unpin, close) on blocks the controller
// may be using. Every call must settle, each failure a VfioError; afterwards nothing is left
// pinned or in flight and the controller still reads back what was written.
// Replay a failure with VFIO_FUZZ_SEED=<seed printed below>.
import * as fc from 'fast-check';
import { randomBytes } from 'crypto';
import { Device, DmaBlock, DmaPool, InvalidArgumentError, VfioError } from '../../lib';
import { NvmeController, NvmeQueue, NvmeQueueFullError } from '../../lib/nvme';
import { fuzzScale, fuzzSeed } from '../tools/fuzz-kit';
import { openDevice } from './env';
import { testNvme } from './nvme-env';
import { must } from '../support/must';

const T = testNvme();
const NSID = 1;
jest.setTimeout(300000);

const hostile = fc.constantFrom<unknown>(undefined, null, NaN, -1, 0.5, 2 ** 53, '1', 1n, {}, [1], Symbol('x'));

type Target = { kind: 'none' } | { kind: 'array'; bytes: number } | { kind: 'block'; pool: number; pick: number };
type Op =
  | {
      k: 'read' | 'write';
      nsid: unknown;
      lba: unknown;
      blocks: unknown;
      target: Target;
      hostileTarget?: unknown;
      writeBlocks?: unknown;
      options?: 'dead queue' | 'not an object';
    }
  | { k: 'alloc' | 'free' | 'pin' | 'unpin' | 'close'; pool: number; pick: number };

const target: fc.Arbitrary<Target> = fc.oneof(
  fc.constant({ kind: 'none' as const }),
  fc.record({ kind: fc.constant('array' as const), bytes: fc.constantFrom(0, 100, 4096, 8192, 65536) }),
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('block' as const), pool: fc.nat(3), pick: fc.nat(7) }) },
);
const op: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 8,
    arbitrary: fc.record(
      {
        k: fc.constantFrom('read' as const, 'write' as const),
        nsid: fc.oneof(
          { weight: 8, arbitrary: fc.constant<unknown>(NSID) },
          fc.constantFrom<unknown>(0, 2, 0xffffffff),
          hostile,
        ),
        lba: fc.oneof(
          { weight: 6, arbitrary: fc.nat(4096) as fc.Arbitrary<unknown> },
          fc.constant<unknown>(1e12),
          hostile,
        ),
        blocks: fc.oneof({ weight: 6, arbitrary: fc.integer({ min: 1, max: 20 }) as fc.Arbitrary<unknown> }, hostile),
        target,
        hostileTarget: hostile,
        writeBlocks: fc.oneof(fc.integer({ min: 1, max: 20 }) as fc.Arbitrary<unknown>, hostile),
        options: fc.constantFrom('dead queue' as const, 'not an object' as const),
      },
      { requiredKeys: ['k', 'nsid', 'lba', 'blocks', 'target'] },
    ),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      k: fc.constantFrom('alloc' as const, 'free' as const, 'pin' as const, 'unpin' as const, 'close' as const),
      pool: fc.nat(3),
      pick: fc.nat(7),
    }),
  },
);

describe(`nvme driver fuzzed on ${T.bdf}`, () => {
  let dev: Device;
  let c: NvmeController;
  let q: NvmeQueue;
  /** A queue this controller made and deleted: no longer one to submit on. */
  let dead: NvmeQueue;
  let bs = 0;

  beforeAll(async () => {
    dev = await openDevice(T.bdf);
    c = await NvmeController.open(dev, { ioQueues: 2, queueDepth: 16, timeoutMs: 20000 });
    dead = await c.createQueue();
    await c.deleteQueue(dead);
    q = await c.createQueue();
    bs = c.blockSize(NSID);
  });
  afterAll(async () => {
    await c?.close().catch(() => undefined);
    dev?.close();
  });

  it('nvme: a deleted queue, options that are not an object and a Symbol NSID are refused before the controller sees them', async () => {
    const seen = [q.completions, dead.completions];
    const errs = await Promise.all([
      c.read(NSID, 0, 1, { queue: dead }).catch((e: unknown) => e),
      c.write(NSID, 0, new Uint8Array(bs), { queue: dead }).catch((e: unknown) => e),
      c.read(NSID, 0, 1, null as never).catch((e: unknown) => e),
      c.flush(Symbol('ns') as never, { queue: q }).catch((e: unknown) => e),
    ]);
    expect(errs.map((e) => [(e as VfioError).code, (e as VfioError).op])).toEqual([
      ['EINVAL', 'NvmeController.read'],
      ['EINVAL', 'NvmeController.write'],
      ['EINVAL', 'NvmeController.read'],
      ['EINVAL', 'NvmeController.flush'],
    ]);
    expect((errs[0] as VfioError).message).toMatch(/not a live I\/O queue of this controller/);
    expect([q.completions, dead.completions]).toEqual(seen);
  });

  it('nvme: controller calls with hostile arguments are refused; floods past a queue depth, a deleted default queue and a doubled delete leak nothing', async () => {
    const pages = (c as unknown as { dataPool: DmaPool }).dataPool;
    const free = pages.available;
    const typed = (e: unknown) => [e instanceof InvalidArgumentError, (e as VfioError).code];
    const refused = await Promise.all(
      [
        () => c.identify(Symbol('cns') as never, 0),
        () => c.identify(1, 1n as never),
        () => c.setNumberOfQueues(Symbol('n') as never),
        () => c.setNumberOfQueues(0),
        () => c.createQueue(null as never),
        () => c.createQueue({ depth: 1n as never }),
        () => c.createQueue({ polled: 'yes' as never }),
        () => c.deleteQueue(undefined as never),
        () => NvmeController.open(dev, null as never),
        () => NvmeController.open(dev, { timeoutMs: Infinity }),
        () => NvmeController.open(dev, { ioQueues: Symbol('q') as never }),
        () => NvmeController.open(123 as never),
        // A hole in the ranges is no range.
        // eslint-disable-next-line no-sparse-arrays
        () => c.dsm(NSID, [, { lba: 0, blocks: 1 }] as never, { queue: q }),
        // The controller's own queue memory is not a place to read into.
        () => c.read(NSID, 0, 1, { into: (q as unknown as { sq: DmaBlock }).sq, queue: q }),
      ].map((f) => f().catch((e: unknown) => e)),
    );
    expect(refused.map(typed)).toEqual(refused.map(() => [true, 'EINVAL']));
    expect((refused[13] as VfioError).message).toMatch("the controller's own memory");
    expect(() => (q.timeoutMs = Infinity)).toThrow(InvalidArgumentError);

    // Past the depth (15 in flight on a 16-entry queue; 31 on the admin queue): the rest are
    // refused as full, and every data page comes back.
    const flood = await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        c.read(NSID, i, 1, { queue: q }).then(
          () => 'read',
          (e: unknown) => e,
        ),
      ),
    );
    expect(flood.filter((r) => r === 'read')).toHaveLength(15);
    expect(flood.filter((r) => r instanceof NvmeQueueFullError)).toHaveLength(25);
    const ids = await Promise.all(
      Array.from({ length: 40 }, () =>
        c.identify(1, 0).then(
          () => 'identify',
          (e: unknown) => e,
        ),
      ),
    );
    expect(ids.filter((r) => r instanceof NvmeQueueFullError).length).toBeGreaterThan(0);
    expect(ids.every((r) => r === 'identify' || r instanceof NvmeQueueFullError)).toBe(true);
    expect(pages.available).toBe(free);

    // dsm works on its own copy of the ranges.
    const ranges = [{ lba: 100, blocks: 2 }];
    const trimmed = c.dsm(NSID, ranges, { queue: q });
    ranges.length = 0;
    await trimmed;

    // The default queue deleted: the next default I/O makes another. A write whose buffer is
    // detached while it waits for that queue is refused, not sent with stale page contents.
    const data = randomBytes(bs);
    await c.write(NSID, 8, data);
    const deleteDefault = () =>
      c.deleteQueue(
        must(
          c.queues.find((x) => x !== q),
          'the default queue',
        ),
      );
    await deleteDefault();
    expect(Buffer.from(await c.read(NSID, 8, 1)).equals(data)).toBe(true);
    await deleteDefault();
    const gone = new Uint8Array(bs).fill(0xaa);
    const detached = c.write(NSID, 8, gone);
    structuredClone(gone.buffer, { transfer: [gone.buffer] });
    expect(typed(await detached.catch((e: unknown) => e))).toEqual([true, 'EINVAL']);
    expect(Buffer.from(await c.read(NSID, 8, 1, { queue: q })).equals(data)).toBe(true);

    // One queue deleted twice at once is deleted once; a queue made afterwards works.
    await deleteDefault();
    const extra = await c.createQueue();
    await Promise.all([c.deleteQueue(extra), c.deleteQueue(extra)]);
    const again = await c.createQueue();
    await c.write(NSID, 9, data, { queue: again });
    expect(Buffer.from(await c.read(NSID, 9, 1, { queue: again })).equals(data)).toBe(true);
    await c.deleteQueue(again);
    expect([pages.available, q.inFlight]).toEqual([free, 0]);
  });

  it('nvme: random reads and writes with hostile arguments and pool calls settle with VfioErrors; nothing leaks', async () => {
    const seed = fuzzSeed();
    process.stdout.write(`[fuzz] nvme: seed ${seed} (replay: VFIO_FUZZ_SEED=${seed})\n`);
    let calls = 0;
    let failed = 0;
    const untyped: string[] = [];
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 20, maxLength: 60 }), async (ops) => {
        // Pools on the device: one-page and 64 KiB blocks, one already closed, one the device
        // may only read (a read into it is refused).
        const pools = [
          DmaPool.create(dev, { blockSize: 4096, blocks: 8 }),
          DmaPool.create(dev, { blockSize: 65536, blocks: 4 }),
          DmaPool.create(dev, { blockSize: 4096, blocks: 2 }),
          DmaPool.create(dev, { blockSize: 4096, blocks: 4, write: false }),
        ];
        const closed = pools[2];
        const late = closed.alloc();
        closed.close();
        const held: DmaBlock[] = [late];
        const pins: (() => void)[] = [];
        const inFlight: Promise<unknown>[] = [];
        const settle = (p: Promise<unknown>) =>
          inFlight.push(
            p.then(
              () => calls++,
              (e: unknown) => {
                calls++;
                failed++;
                if (!(e instanceof VfioError)) untyped.push(String(e));
              },
            ),
          );
        const sync = (f: () => unknown) => settle(new Promise((r) => r(f())));
        for (const o of ops) {
          const pool = 'pool' in o ? pools[o.pool] : pools[0];
          const pick = 'pick' in o ? o.pick : 0;
          const some = held.length ? held[pick % held.length] : late;
          switch (o.k) {
            case 'read':
            case 'write': {
              let t: unknown = undefined;
              if (o.target.kind === 'array') t = new Uint8Array(o.target.bytes);
              else if (o.target.kind === 'block') t = held.length ? held[o.target.pick % held.length] : late;
              else if ('hostileTarget' in o) t = o.hostileTarget;
              const args = [o.nsid, o.lba, o.blocks] as [number, number, number];
              const queue = o.options === 'dead queue' ? dead : q;
              const opts = (x: object) => (o.options === 'not an object' ? (o.hostileTarget as object) : x);
              if (o.k === 'read') settle(c.read(...args, opts({ into: t as Uint8Array, queue })));
              else settle(c.write(args[0], args[1], t as Uint8Array, opts({ queue, blocks: o.writeBlocks as number })));
              break;
            }
            case 'alloc':
              sync(() => held.push(pool.alloc()));
              break;
            case 'free':
              sync(() => {
                some.free();
                held.splice(held.indexOf(some), 1);
              });
              break;
            case 'pin':
              sync(() => pins.push(some.pool.pin(some)));
              break;
            case 'unpin':
              // Undoing one's own pin, sometimes twice: never anyone else's.
              sync(() => pins[pick % Math.max(1, pins.length)]?.());
              break;
            case 'close':
              sync(() => pool.close());
              break;
          }
          // Let some of them complete between calls, as a busy program would.
          if (inFlight.length % 4 === 0) await Promise.race(inFlight);
        }
        await Promise.all(inFlight);
        // Nothing in flight, no pin but the test's own, and every pool closes once those are undone.
        expect(q.inFlight).toBe(0);
        for (const unpin of pins) unpin();
        for (const p of pools) {
          expect(p.blocks.filter((b) => p.isPinned(b))).toEqual([]);
          p.close();
        }
      }),
      { seed, numRuns: Math.max(1, Math.round(40 * fuzzScale())) },
    );
    expect(untyped).toEqual([]);
    expect(calls).toBeGreaterThan(100);
    expect(failed).toBeGreaterThan(0);
    expect(failed).toBeLessThan(calls);
    // The controller still does its job.
    const data = randomBytes(4 * bs);
    await c.write(NSID, 64, data, { queue: q });
    expect(Buffer.from(await c.read(NSID, 64, 4, { queue: q })).equals(data)).toBe(true);
    must(c.namespaces.get(NSID), 'namespace');
  });
});
