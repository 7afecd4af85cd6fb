// Every argument the public API takes, in every shape a JavaScript caller may pass, gives either
// the result or a VfioError whose message says which values are allowed: never a TypeError from
// deep inside, a BigInt mixing error, or a message that itself fails to build (Symbols).
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { DmaBuffer } from '../../lib/dma/buffer';
import { DmaBackend, DmaSpace } from '../../lib/dma/map';
import { IovaAllocator } from '../../lib/dma/iova';
import { Device } from '../../lib/device/device';
import { Region } from '../../lib/device/region';
import { InvalidArgumentError, VfioError } from '../../lib/errors';
import { native } from '../../lib/addon/native';
import { rejection, thrown } from '../support/errors';

const PAGE = native().constants.PAGE_SIZE;

function expectArgError(e: unknown, message?: RegExp): void {
  expect(e).toBeInstanceOf(InvalidArgumentError);
  expect(e).toBeInstanceOf(VfioError);
  if (message) expect((e as Error).message).toMatch(message);
}

function backend(): DmaBackend & { log: string[] } {
  const log: string[] = [];
  return {
    name: 'Ctx',
    mapOp: 'MAP',
    unmapOp: 'UNMAP',
    log,
    geometry: () => ({ ranges: [{ start: 0n, end: 0xffffffffn }], pageSizes: 0x1000n }),
    map(_m, offset, size, iova) {
      log.push(`map ${iova.toString(16)} +${size.toString(16)} @${offset}`);
      return 0;
    },
    unmap() {
      return 0;
    },
    dmaAvailable: () => 100,
  };
}

describe('DmaBuffer arguments', () => {
  it.each([
    [
      'hugepages: 1',
      () => DmaBuffer.allocate(4096, { hugepages: 1 as never }),
      /hugepages is 1: it must be true or false/,
    ],
    ['null options', () => DmaBuffer.allocate(4096, null as never), /options must be an object/],
    ['a Symbol size', () => DmaBuffer.allocate(Symbol('x') as never), /size is a symbol/],
    ['size 0.5', () => DmaBuffer.allocate(0.5), /not an integer/],
    ['size 0', () => DmaBuffer.allocate(0), /out of range: it must be an integer from 0x1/],
  ])('allocate with %s is an InvalidArgumentError', (_n, fn, msg) => {
    expectArgError(thrown(fn), msg);
  });

  it('allocate takes a bigint size', () => {
    using b = DmaBuffer.allocate(4096n);
    expect(b.length).toBe(PAGE);
  });

  it.each([
    ['write8(0, 1n)', (b: DmaBuffer) => b.write8(0, 1n as never), /value 1n is not a number/],
    ['write32(0, Symbol())', (b: DmaBuffer) => b.write32(0, Symbol() as never), /value a symbol/],
    ['write64(0, 1)', (b: DmaBuffer) => b.write64(0, 1 as never), /not a bigint/],
    ['read32(4n)', (b: DmaBuffer) => b.read32(4n as never), /offset 4n is not an integer/],
    ['write16(Symbol(), 1)', (b: DmaBuffer) => b.write16(Symbol() as never, 1), /offset a symbol/],
    ['read8(0.5)', (b: DmaBuffer) => b.read8(0.5), /not an integer/],
    ['copyIn(0, null)', (b: DmaBuffer) => b.copyIn(0, null as never), /bytes is null/],
    ['copyOut(0, 1n)', (b: DmaBuffer) => b.copyOut(0, 1n as never), /1n bytes/],
  ])('%s is an InvalidArgumentError', (_n, fn, msg) => {
    using b = DmaBuffer.allocate(PAGE);
    expectArgError(
      thrown(() => fn(b)),
      msg,
    );
  });

  it('copyIn takes any typed array by its bytes', () => {
    using b = DmaBuffer.allocate(PAGE);
    b.copyIn(0, Uint16Array.of(0x0201));
    expect([...b.copyOut(0, 2)]).toEqual([1, 2]);
  });
});

describe('DMA map arguments', () => {
  it('iova, offset and length take numbers or bigints alike', () => {
    const be = backend();
    const space = new DmaSpace(be);
    using b = DmaBuffer.allocate(2 * PAGE);
    expect(space.map(b, { iova: 0x100000 }).iova).toBe(0x100000n);
    expect(space.map(b, { iova: 0x200000n, offset: BigInt(PAGE), length: BigInt(PAGE) }).iova).toBe(0x200000n);
    expect(be.log).toEqual(['map 100000 +2000 @0', `map 200000 +1000 @${PAGE}`]);
  });

  it.each([
    [{ iova: 0.5 }, /iova is 0.5, not an integer/],
    [{ iova: -4096 }, /iova -0x1000 is out of range: it must be an integer from 0x0 to 0xffffffffffffffff/],
    [{ iova: 'x' }, /iova is "x"/],
    [{ offset: Symbol() }, /offset is a symbol/],
  ])('%p is an InvalidArgumentError saying what is allowed', (o, msg) => {
    const space = new DmaSpace(backend());
    using b = DmaBuffer.allocate(PAGE);
    expectArgError(
      thrown(() => space.map(b, o as never)),
      msg,
    );
  });

  it('null options are an InvalidArgumentError', () => {
    const space = new DmaSpace(backend());
    using b = DmaBuffer.allocate(PAGE);
    expectArgError(
      thrown(() => space.map(b, null as never)),
      /options must be an object/,
    );
  });

  it('the IOVA allocator takes numbers too', () => {
    const a = new IovaAllocator([{ start: 0n, end: 0xffffffn }], { pageSize: 4096n });
    a.reserve(0x10000, 0x1000);
    expectArgError(
      thrown(() => a.reserve(65536.5, 0x1000)),
      /not an integer/,
    );
  });
});

describe('Region arguments', () => {
  let dir: string;
  let fd: number;
  let region: Region;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(fs.existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir(), 'vfio-args-'));
    const file = path.join(dir, 'bar');
    fs.writeFileSync(file, new Uint8Array(2 * PAGE));
    const { O_RDWR, O_CLOEXEC } = native().constants;
    fd = native().open(file, O_RDWR | O_CLOEXEC);
    const info = {
      argsz: 32,
      rawFlags: 0xf,
      index: 0,
      capOffset: 0,
      size: BigInt(2 * PAGE),
      offset: 0n,
      caps: [],
      flags: { read: true, write: true, mmap: true, caps: false },
    };
    region = new Region(info as never, { label: 'tmpfs', fd: () => fd, track() {}, untrack() {} } as never);
  });
  afterAll(() => {
    native().close(fd);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it.each([
    [{ offset: 0.5 }, /offset is 0.5, not an integer/],
    [{ offset: Symbol() }, /offset is a symbol/],
    [{ length: 'big' }, /length is "big"/],
  ])('map(%p) is an InvalidArgumentError', (o, msg) => {
    expectArgError(
      thrown(() => region.map(o as never)),
      msg,
    );
  });

  it('map takes bigint and number offsets and lengths', () => {
    const m = region.map({ offset: PAGE, length: BigInt(PAGE) });
    m.write32(0, 7);
    expect(region.read32(BigInt(PAGE))).toBe(7);
    m.close();
  });

  it.each([
    ['read32(0.5)', () => region.read32(0.5), /not an integer/],
    ['read32(Symbol())', () => region.read32(Symbol() as never), /offset is a symbol/],
    ['write32(0, 1n)', () => region.write32(0, 1n as never), /value 1n is not an integer/],
    ['write64(0, 1)', () => region.write64(0, 1 as never), /not a bigint/],
  ])('%s is an InvalidArgumentError', (_n, fn, msg) => {
    expectArgError(thrown(fn), msg);
  });
});

describe('Device.open arguments', () => {
  it.each([
    ['undefined', undefined, /address is undefined/],
    ['42', 42, /address is 42/],
    ['a Symbol', Symbol('x'), /address is a symbol/],
  ])('address %s is an InvalidArgumentError', async (_n, addr, msg) => {
    expectArgError(await rejection(() => Device.open(addr as never)), msg);
  });

  it("backend: 'bogus' is refused before anything is looked up", async () => {
    expectArgError(
      await rejection(() => Device.open('0000:00:03.0', { backend: 'bogus' as never, sysfs: '/nonexistent' })),
      /backend is "bogus": it must be one of 'auto', 'type1'/,
    );
  });

  it('null options are an InvalidArgumentError', async () => {
    expectArgError(await rejection(() => Device.open('0000:00:03.0', null as never)), /options must be an object/);
  });
});

describe('Device region and BAR indexes', () => {
  // The index checks come before anything of the device is used: a stand-in with its label and
  // an empty region list is enough to reach them.
  const dev = { bdf: '0000:00:03.0', regions: [], fd: () => 3, region: Device.prototype.region } as unknown as Device;

  it.each([
    ['bar', Symbol('x'), /BAR index a symbol is not 0–5/],
    ['bar', 1n << 70n, /BAR index 1180591620717411303424n is not 0–5/],
    ['bar', {}, /BAR index an object \(Object\) is not 0–5/],
    ['region', Symbol('x'), /has no region a symbol/],
  ])('%s(%p) is an InvalidArgumentError', (name, index, msg) => {
    const f = (Device.prototype as unknown as Record<string, (i: unknown) => unknown>)[name];
    expectArgError(
      thrown(() => f.call(dev, index)),
      msg,
    );
  });
});
