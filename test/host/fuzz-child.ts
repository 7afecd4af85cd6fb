// Child of fuzz.test.ts: random sequences of calls, many with hostile arguments, against what
// runs without a device: the raw addon (on fds of its own: a tmpfs file, eventfds), every
// decoder, DmaBuffer, a Region and its Mappings over a tmpfs file, and IRQ taps. Every call must
// return or throw a VfioError (the raw addon: return, or throw its documented TypeError); a
// crash ends the process, which the parent counts.
import * as fc from 'fast-check';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { DmaBuffer, Mapping, Region } from '../../lib';
import * as decode from '../../lib/decode';
import { native } from '../../lib/addon/native';
import { Tap } from '../../lib/irq/irq';
import { Untyped, call, fuzzChild } from '../tools/fuzz-kit';
import { must } from '../support/must';

const n = native();
const { PAGE_SIZE, O_RDWR, O_CLOEXEC, EFD_CLOEXEC, EFD_NONBLOCK, PROT_READ, PROT_WRITE } = n.constants;
const FILE_BYTES = 4 * PAGE_SIZE;
const dir = fs.mkdtempSync(path.join(fs.existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir(), 'vfio-fuzz-'));
process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));

/** Offsets and sizes near the edges that matter, plus values of every other kind. */
const edgeInt = fc.oneof(
  fc.integer({ min: -16, max: FILE_BYTES + 16 }),
  fc.constantFrom(0, 1, 2, 4, 7, 8, PAGE_SIZE - 8, PAGE_SIZE, FILE_BYTES - 8, FILE_BYTES, 2 ** 31, 2 ** 32, 2 ** 53),
);
const hostile = fc.oneof(
  fc.constantFrom<unknown>(undefined, null, NaN, Infinity, -0, 0.5, '', '0', true, [], {}, Symbol('x'), () => 0),
  fc.bigInt({ min: -(1n << 65n), max: 1n << 65n }),
  fc.double(),
  fc.string({ maxLength: 8 }),
);
const anyOffset = fc.oneof(
  { weight: 8, arbitrary: edgeInt as fc.Arbitrary<unknown> },
  { weight: 1, arbitrary: hostile },
);
const anyValue = fc.oneof(
  { weight: 4, arbitrary: fc.integer({ min: -(2 ** 32), max: 2 ** 33 }) as fc.Arbitrary<unknown> },
  { weight: 2, arbitrary: fc.bigInt({ min: -(1n << 64n), max: 1n << 65n }) },
  { weight: 1, arbitrary: hostile },
);
const bytes = fc.uint8Array({ maxLength: 512 });
/** Sizes that would really allocate stay small; the rest must be refused. */
const allocSize = fc.oneof(
  fc.integer({ min: -16, max: 1 << 20 }) as fc.Arbitrary<unknown>,
  fc.constantFrom<unknown>(2 ** 32 + 1, 2 ** 53, -(2 ** 31), 1n << 64n),
);
/** A raw length argument past 1 MiB that the addon would accept is capped there (memory is shared). */
const LENGTH_ARG: Record<string, number> = { dma_alloc: 0, mmap: 2 };
function capLength(fn: string, i: number, a: unknown): unknown {
  if (LENGTH_ARG[fn] !== i) return a;
  if (typeof a === 'number' && a > 1 << 20 && a <= 2 ** 32) return 1 << 20;
  if (typeof a === 'bigint' && a > 1n << 20n && a <= 1n << 32n) return 1 << 20;
  return a;
}

/** Text decoders take strings (their type says so): bytes become latin1 text, the rest String(). */
function text(b: unknown): string {
  return b instanceof Uint8Array ? Buffer.from(b).toString('latin1') : typeof b === 'symbol' ? 'sym' : String(b);
}

const DECODERS: Record<string, (b: Uint8Array) => unknown> = {
  deviceInfo: (b) => decode.decodeDeviceInfo(b),
  regionInfo: (b) => decode.decodeRegionInfo(b),
  irqInfo: (b) => decode.decodeIrqInfo(b),
  type1Info: (b) => decode.decodeType1Info(b),
  hotResetInfo: (b) => decode.decodeHotResetInfo(b),
  configHeader: (b) => decode.decodeConfigHeader(b),
  pciCapabilities: (b) => decode.pciCapabilities(b),
  pciExtCapabilities: (b) => decode.pciExtCapabilities(b),
  msix: (b) => decode.decodeMsixCap(b, b[0] ?? 0),
  msi: (b) => decode.decodeMsiCap(b, b[0] ?? 0),
  pcie: (b) => decode.decodePcieCap(b, b[0] ?? 0),
  pm: (b) => decode.decodePmCap(b, b[0] ?? 0),
  migration: (b) => decode.decodeMigrationFeature(b),
  migState: (b) => decode.decodeMigState(b),
  migDataSize: (b) => decode.decodeMigDataSize(b),
  vtd: (b) => decode.decodeVtdHwInfo(b),
  hwInfo: (b) => decode.decodeIommuHwInfo(b?.[0] ?? 0, new BigUint64Array(3), b),
  dirty: (b) => decode.dirtyRanges(b, 0n, BigInt(Math.max(1, (b?.length ?? 1) * 8) * 4096), 4096),
  dirtyCount: (b) => decode.dirtyPageCount(b, (b?.length ?? 0) * 8 + 3),
  pat: (b) => decode.parsePatMemtypeList(text(b)),
  resource: (b) => decode.parseResourceFile(text(b)),
  bdf: (b) => decode.parseBdf(text(b)),
};

const ANY_INPUT = new Set(['dirty', 'dirtyCount', 'hwInfo', 'pat', 'resource', 'bdf']);

type Op =
  | { k: 'map'; offset: unknown; length: unknown }
  | { k: 'access'; target: number; method: string; off: unknown; v: unknown; w: unknown }
  | { k: 'closeMem'; target: number }
  | { k: 'alloc'; size: unknown; opts: unknown }
  | { k: 'pio'; method: string; off: unknown; v: unknown }
  | { k: 'tap'; vector: number }
  | { k: 'tapOp'; target: number; op: 'ref' | 'unref' | 'close' | 'signal' }
  | { k: 'decode'; name: string; input: unknown }
  | { k: 'raw'; fn: string; args: unknown[] };

const ACCESS = [
  'read8',
  'read16',
  'read32',
  'read64',
  'write8',
  'write16',
  'write32',
  'write64',
  'write64n',
  'write64x2',
  'readAcquire32',
  'writeRelease32',
  'copyIn',
  'copyOut',
];
const PIO = ['read8', 'read16', 'read32', 'read64', 'write8', 'write16', 'write32', 'write64', 'readBytes'];
/** Raw functions fed values of every kind; fds come from the child's own pool (below). */
const RAW = [
  'read',
  'write',
  'pread',
  'pwrite',
  'mmap',
  'munmap',
  'dma_alloc',
  'dma_free',
  'mem_suspend',
  'mem_resume',
  'poll_ref',
  'poll_stop',
  'VFIO_GET_API_VERSION',
  'VFIO_CHECK_EXTENSION',
  'VFIO_DEVICE_GET_INFO',
  'VFIO_DEVICE_GET_REGION_INFO',
  'VFIO_DEVICE_SET_IRQS',
  'VFIO_DEVICE_FEATURE',
  'VFIO_IOMMU_MAP_DMA',
  'VFIO_IOMMU_UNMAP_DMA',
  'IOMMU_IOAS_MAP',
  'IOMMU_IOAS_UNMAP',
  'IOMMU_GET_HW_INFO',
  'VFIO_DEVICE_RESET',
];
/** Stand-ins resolved at call time: an fd of the pool, a live handle, a fresh buffer. */
const rawArg = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom<unknown>('$fd', '$eventfd', '$handle', '$buffer', '$bigbuf', -1, 1 << 30) },
  { weight: 3, arbitrary: anyValue },
  { weight: 1, arbitrary: fc.constantFrom<unknown>(PROT_READ, PROT_READ | PROT_WRITE, 0n, BigInt(PAGE_SIZE)) },
);

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 2, arbitrary: fc.record({ k: fc.constant('map' as const), offset: anyOffset, length: anyOffset }) },
  {
    weight: 12,
    arbitrary: fc.record({
      k: fc.constant('access' as const),
      target: fc.nat(7),
      method: fc.constantFrom(...ACCESS),
      off: anyOffset,
      v: anyValue,
      w: anyValue,
    }),
  },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('closeMem' as const), target: fc.nat(7) }) },
  {
    weight: 2,
    arbitrary: fc.record({
      k: fc.constant('alloc' as const),
      size: fc.oneof(allocSize, hostile),
      opts: fc.oneof(
        fc.constant<unknown>(undefined),
        fc.record({ hugepages: fc.oneof(fc.boolean(), hostile) }),
        hostile,
      ),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      k: fc.constant('pio' as const),
      method: fc.constantFrom(...PIO),
      off: anyOffset,
      v: anyValue,
    }),
  },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('tap' as const), vector: fc.nat(4) }) },
  {
    weight: 2,
    arbitrary: fc.record({
      k: fc.constant('tapOp' as const),
      target: fc.nat(3),
      op: fc.constantFrom('ref' as const, 'unref' as const, 'close' as const, 'signal' as const),
    }),
  },
  {
    weight: 4,
    arbitrary: fc.record({
      k: fc.constant('decode' as const),
      name: fc.constantFrom(...Object.keys(DECODERS)),
      input: fc.oneof({ weight: 6, arbitrary: bytes as fc.Arbitrary<unknown> }, { weight: 1, arbitrary: hostile }),
      // Decoders typed Uint8Array get bytes; those taking any byte source (and the text ones) get anything.
    }),
  },
  {
    weight: 4,
    arbitrary: fc.record({
      k: fc.constant('raw' as const),
      fn: fc.constantFrom(...RAW),
      args: fc.array(rawArg, { maxLength: 7 }),
    }),
  },
);

interface World {
  fd: number;
  eventfds: number[];
  region: Region;
  mems: (Mapping | DmaBuffer)[];
  taps: Tap[];
  raw: { handle: unknown }[];
}

function openWorld(): World {
  const file = path.join(dir, 'bar');
  fs.writeFileSync(file, new Uint8Array(FILE_BYTES));
  const fd = n.open(file, O_RDWR | O_CLOEXEC);
  if (fd < 0) throw new Error(`open: ${fd}`);
  const info = {
    argsz: 32,
    rawFlags: 0xf,
    index: 0,
    capOffset: 0,
    size: BigInt(FILE_BYTES),
    offset: 0n,
    caps: [],
    flags: { read: true, write: true, mmap: true, caps: false },
  };
  const region = new Region(info, { label: 'tmpfs', fd: () => fd, track() {}, untrack() {} });
  return { fd, eventfds: [n.eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)], region, mems: [], taps: [], raw: [] };
}

function closeWorld(w: World): void {
  for (const m of w.mems) m.close();
  for (const t of w.taps) t.close();
  for (const r of w.raw) n.munmap(r.handle as never);
  for (const e of w.eventfds) n.close(e);
  n.close(w.fd);
}

/** Where the raw functions take an fd: the first argument, but mem_resume's second. */
const FD_ARG: Record<string, number> = {
  mem_resume: 1,
  munmap: -1,
  dma_alloc: -1,
  dma_free: -1,
  mem_suspend: -1,
  poll_ref: -1,
  poll_stop: -1,
};
/** A number of an fd that is surely closed: above any RLIMIT_NOFILE. */
const CLOSED_FD = 1 << 30;

/**
 * An fd argument is one of the world's own fds or a closed one. A number naming any other open
 * fd (the stdio socket that the parent reads, libuv's epoll and wake-up pipes) becomes a closed
 * one: the raw addon does what it is told on any fd, and a read on the parent's socket waits
 * forever. The public API never takes an fd from JS; only the library's own fds reach the addon.
 */
function ownFd(w: World, fn: string, i: number, a: unknown): unknown {
  if (i !== (FD_ARG[fn] ?? 0) || typeof a !== 'number' || !Number.isInteger(a) || a < 0) return a;
  const own = a === w.fd || w.eventfds.includes(a) || w.taps.some((t) => t.fd === a);
  return own || !fs.existsSync(`/proc/self/fd/${a}`) ? a : CLOSED_FD;
}

function resolve(w: World, a: unknown): unknown {
  switch (a) {
    case '$fd':
      return w.fd;
    case '$eventfd':
      return w.eventfds[0];
    case '$handle':
      return w.raw[0]?.handle ?? null;
    case '$buffer':
      return new Uint8Array(64);
    case '$bigbuf':
      return new BigUint64Array(8);
    default:
      return a;
  }
}

async function step(w: World, op: Op, c: { calls: number }): Promise<void> {
  switch (op.k) {
    case 'map': {
      const r = await call(c, 'Region.map', () => w.region.map({ offset: op.offset, length: op.length } as never));
      if (r instanceof Mapping) w.mems.push(r);
      return;
    }
    case 'access': {
      const m = w.mems[op.target % Math.max(1, w.mems.length)];
      if (!m) return;
      const f = (m as unknown as Record<string, (...a: unknown[]) => unknown>)[op.method];
      const extra =
        op.method === 'copyIn'
          ? [op.v instanceof Object ? op.v : new Uint8Array(typeof op.w === 'number' ? op.w & 63 : 8)]
          : [op.v, op.w];
      await call(c, `${m.constructor.name}.${op.method}`, () => f.call(m, op.off, ...extra));
      return;
    }
    case 'closeMem': {
      const m = w.mems[op.target % Math.max(1, w.mems.length)];
      if (m) await call(c, `${m.constructor.name}.close`, () => m.close());
      return;
    }
    case 'alloc': {
      const r = await call(c, 'DmaBuffer.allocate', () =>
        (DmaBuffer.allocate as (...a: unknown[]) => DmaBuffer)(op.size, op.opts),
      );
      if (r instanceof DmaBuffer) w.mems.push(r);
      // Bound what the batch keeps mapped.
      if (w.mems.length > 16) must(w.mems.shift(), 'w.mems.shift()').close();
      return;
    }
    case 'pio': {
      const f = (w.region as unknown as Record<string, (...a: unknown[]) => unknown>)[op.method];
      await call(c, `Region.${op.method}`, () => f.call(w.region, op.off, op.v));
      return;
    }
    case 'tap': {
      if (w.taps.length >= 4) return;
      const r = await call(c, 'Tap.open', () => Tap.open(op.vector, () => {}, 'fuzz'));
      if (r instanceof Tap) w.taps.push(r);
      return;
    }
    case 'tapOp': {
      const t = w.taps[op.target % Math.max(1, w.taps.length)];
      if (!t) return;
      await call(c, `Tap.${op.op}`, () => {
        if (op.op === 'ref' || op.op === 'unref') t.ref(op.op === 'ref');
        else if (op.op === 'close') t.close();
        else n.write(t.fd, new Uint8Array(new BigUint64Array([1n]).buffer));
      });
      // A closed tap's fd number may be reused: never written again.
      if (op.op === 'close') w.taps.splice(w.taps.indexOf(t), 1);
      return;
    }
    case 'decode': {
      const d = DECODERS[op.name];
      const input = ANY_INPUT.has(op.name) || op.input instanceof Uint8Array ? op.input : new Uint8Array(0);
      await call(c, `decode ${op.name}`, () => d(input as Uint8Array));
      return;
    }
    case 'raw': {
      const f = (n as unknown as Record<string, (...a: unknown[]) => unknown>)[op.fn];
      const a = op.args.map((x, i) => ownFd(w, op.fn, i, capLength(op.fn, i, resolve(w, x))));
      c.calls++;
      try {
        let r = f(...a);
        if (r instanceof Promise) r = await r;
        if (r !== null && typeof r === 'object' && 'handle' in r) {
          w.raw.push(r as { handle: unknown });
          if (w.raw.length > 8) n.munmap(must(w.raw.shift(), 'w.raw.shift()').handle as never);
        } else if (r !== undefined && typeof r !== 'number' && typeof r !== 'bigint' && !Array.isArray(r)) {
          throw new Untyped(`raw ${op.fn} returned ${typeof r}`);
        }
        // A new fd from a raw call (none of these should make one): closed, not leaked.
      } catch (e) {
        if (e instanceof Untyped) throw e;
        if (!(e instanceof TypeError) || !e.message.startsWith('vfio native:'))
          throw new Untyped(`raw ${op.fn} threw ${String(e)}`);
      }
      return;
    }
  }
}

fuzzChild(fc.array(opArb, { minLength: 20, maxLength: 120 }), async (ops, c) => {
  const w = openWorld();
  try {
    for (const op of ops) await step(w, op, c);
  } finally {
    closeWorld(w);
  }
});
