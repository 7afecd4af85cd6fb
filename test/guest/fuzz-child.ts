// Child of fuzz.test.ts: random call sequences against real devices (edu, nvme, ivshmem):
// open and close at random points, mappings of random regions at random offsets, accesses of
// every width (reads anywhere; writes only where they cannot start DMA or wedge a device: edu's
// liveness register and ivshmem's shared memory, elsewhere they become reads), config-space
// command bits, IRQ indexes enabled and disabled in random orders, DMA buffers mapped and
// unmapped, resets. Every call must return or throw a VfioError; objects of a closed device
// stay in the lists, so later calls on them must throw ClosedError, not crash. Runs are long and
// start with every device open: opening is the slowest call under emulation.
import * as fc from 'fast-check';
import { Device, DmaBuffer, DmaMapping, Irq, Mapping } from '../../lib';
import { call, fuzzChild } from '../tools/fuzz-kit';
import { openDevice } from './env';
import { must } from '../support/must';

const BDFS = process.argv.slice(4);
const KINDS = ['edu', 'nvme', 'ivshmem'];

const hostile = fc.constantFrom<unknown>(undefined, null, NaN, -1, 0.5, 2 ** 53, '0', 1n << 70n, Symbol('x'), {});
const offset = fc.oneof(
  { weight: 6, arbitrary: fc.integer({ min: 0, max: 0x2000 }).map((n) => n & ~3) as fc.Arbitrary<unknown> },
  { weight: 2, arbitrary: fc.integer({ min: -8, max: 1 << 22 }) },
  { weight: 1, arbitrary: hostile },
);

type Op =
  | { k: 'open' | 'close' | 'reset'; dev: number }
  | { k: 'map'; dev: number; bar: unknown; offset: unknown; length: unknown }
  | { k: 'access'; target: number; width: 1 | 2 | 4 | 8; write: boolean; off: unknown; v: number }
  | { k: 'unmapBar'; target: number }
  | { k: 'pread'; dev: number; region: number; off: unknown; width: 1 | 2 | 4 | 8 }
  | { k: 'command'; dev: number; bit: 'memorySpace' | 'busMaster' | 'ioSpace'; on: boolean }
  | { k: 'irq'; dev: number; index: unknown; count: unknown; enable: boolean }
  | { k: 'dma'; dev: number; size: unknown; iova: unknown; read: boolean; write: boolean }
  | { k: 'dmaUnmap'; target: number; close: boolean };

const dev = fc.nat(BDFS.length - 1);
const width = fc.constantFrom(1 as const, 2 as const, 4 as const, 8 as const);
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 2, arbitrary: fc.record({ k: fc.constant('open' as const), dev }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('close' as const), dev }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('reset' as const), dev }) },
  {
    weight: 6,
    arbitrary: fc.record({
      k: fc.constant('map' as const),
      dev,
      bar: fc.oneof(fc.nat(6) as fc.Arbitrary<unknown>, hostile),
      offset: fc.oneof(fc.constant<unknown>(undefined), offset),
      length: fc.oneof(fc.constant<unknown>(undefined), fc.constantFrom<unknown>(4096, 8192, 0, 3, 1 << 30), hostile),
    }),
  },
  {
    weight: 30,
    arbitrary: fc.record({
      k: fc.constant('access' as const),
      target: fc.nat(15),
      width,
      write: fc.boolean(),
      off: offset,
      v: fc.integer({ min: 0, max: 0xffff }),
    }),
  },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('unmapBar' as const), target: fc.nat(15) }) },
  {
    weight: 8,
    arbitrary: fc.record({ k: fc.constant('pread' as const), dev, region: fc.nat(8), off: offset, width }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      k: fc.constant('command' as const),
      dev,
      bit: fc.constantFrom('memorySpace' as const, 'busMaster' as const, 'ioSpace' as const),
      on: fc.boolean(),
    }),
  },
  {
    weight: 6,
    arbitrary: fc.record({
      k: fc.constant('irq' as const),
      dev,
      index: fc.oneof(fc.constantFrom<unknown>('INTX', 'MSI', 'MSIX', 'ERR', 'REQ', 0, 1, 2, 9), hostile),
      count: fc.oneof(fc.constantFrom<unknown>(undefined, 1, 2, 4, 65, 0), hostile),
      enable: fc.boolean(),
    }),
  },
  {
    weight: 4,
    arbitrary: fc.record({
      k: fc.constant('dma' as const),
      dev,
      size: fc.oneof(fc.constantFrom<unknown>(4096, 8192, 65536, 1, 0), hostile),
      iova: fc.oneof(fc.constantFrom<unknown>(undefined, 0x100000, 0x1000, 3, 0x100000n, 2 ** 48), hostile),
      read: fc.boolean(),
      write: fc.boolean(),
    }),
  },
  { weight: 3, arbitrary: fc.record({ k: fc.constant('dmaUnmap' as const), target: fc.nat(15), close: fc.boolean() }) },
);

interface World {
  devs: (Device | undefined)[];
  bars: { m: Mapping; kind: string; bar: number }[];
  irqs: Irq[];
  dma: { buf: DmaBuffer; map?: DmaMapping }[];
}

function pick<T>(list: readonly T[], i: number): T | undefined {
  return list.length === 0 ? undefined : list[i % list.length];
}

async function step(w: World, op: Op, c: { calls: number }): Promise<void> {
  const d = 'dev' in op ? w.devs[op.dev] : undefined;
  const kind = 'dev' in op ? KINDS[op.dev] : '';
  switch (op.k) {
    case 'open': {
      if (d && !d.closed) return;
      const r = await call(c, 'Device.open', () => openDevice(BDFS[op.dev]));
      if (r instanceof Device) w.devs[op.dev] = r;
      return;
    }
    case 'close':
      if (d) await call(c, 'Device.close', () => d.close());
      return;
    case 'reset':
      if (d) await call(c, 'Device.reset', () => d.reset());
      return;
    case 'map': {
      if (!d) return;
      const r = await call(c, 'Region.map', () =>
        d.bar(op.bar as number).map({ offset: op.offset, length: op.length } as never),
      );
      if (r instanceof Mapping) w.bars.push({ m: r, kind, bar: op.bar as number });
      if (w.bars.length > 16) must(w.bars.shift(), 'w.bars.shift()').m.close();
      return;
    }
    case 'access': {
      const b = pick(w.bars, op.target);
      if (!b) return;
      const mayWrite = (b.kind === 'ivshmem' && b.bar === 2) || (b.kind === 'edu' && b.bar === 0 && op.off === 4);
      const m = b.m as unknown as Record<string, (...a: unknown[]) => unknown>;
      const name = `${op.write && mayWrite ? 'write' : 'read'}${op.width * 8}`;
      const v = op.width === 8 ? BigInt(op.v) : op.v & (2 ** (op.width * 8) - 1);
      await call(c, `Mapping.${name}`, () => m[name].call(b.m, op.off, v));
      return;
    }
    case 'unmapBar': {
      const b = pick(w.bars, op.target);
      if (b) await call(c, 'Mapping.close', () => b.m.close());
      return;
    }
    case 'pread': {
      if (!d) return;
      await call(c, 'Region.read', () => {
        const r = d.region(op.region) as unknown as Record<string, (o: unknown) => unknown>;
        return r[`read${op.width * 8}`].call(r, op.off);
      });
      return;
    }
    case 'command':
      if (d) await call(c, `config.${op.bit}`, () => (d.config[op.bit] = op.on));
      return;
    case 'irq': {
      if (!d) return;
      if (op.enable) {
        const r = await call(c, 'IrqIndex.enable', () =>
          d.irq(op.index as string).enable({ count: op.count } as never),
        );
        if (r instanceof Irq) w.irqs.push(r);
      } else {
        await call(c, 'IrqIndex.disable', () => d.irq(op.index as string).disable());
      }
      return;
    }
    case 'dma': {
      if (!d) return;
      const buf = await call(c, 'DmaBuffer.allocate', () => DmaBuffer.allocate(op.size as number));
      if (!(buf instanceof DmaBuffer)) return;
      const map = await call(c, 'iommu.map', () =>
        d.iommu.map(buf, { iova: op.iova, read: op.read, write: op.write } as never),
      );
      w.dma.push({ buf, map: map instanceof DmaMapping ? map : undefined });
      if (w.dma.length > 16) {
        const old = must(w.dma.shift(), 'w.dma.shift()');
        await call(c, 'DmaMapping.unmap', () => old.map?.unmap());
        old.buf.close();
      }
      return;
    }
    case 'dmaUnmap': {
      const e = pick(w.dma, op.target);
      if (!e) return;
      await call(c, op.close ? 'DmaBuffer.close' : 'DmaMapping.unmap', () =>
        op.close ? e.buf.close() : e.map?.unmap(),
      );
      return;
    }
  }
}

/** Each device's BAR with registers or memory to read: edu's and nvme's BAR0, ivshmem's BAR2. */
const MAIN_BAR = [0, 0, 2];

fuzzChild(fc.array(opArb, { minLength: 150, maxLength: 350 }), async (ops, c) => {
  const w: World = { devs: [], bars: [], irqs: [], dma: [] };
  try {
    // Every run starts with the devices open and a BAR of each mapped (an open is the slowest
    // call under emulation); the operations close, reopen and unmap them at random from there.
    for (let i = 0; i < BDFS.length; i++) {
      await step(w, { k: 'open', dev: i }, c);
      await step(w, { k: 'map', dev: i, bar: MAIN_BAR[i], offset: undefined, length: undefined }, c);
    }
    for (const op of ops) await step(w, op, c);
  } finally {
    for (const d of w.devs) if (d) await call(c, 'Device.close', () => d.close());
    for (const e of w.dma) await call(c, 'DmaBuffer.close', () => e.buf.close());
  }
});
