// The generic driver helpers on memfd-backed DMA memory, without a device: the DMA pool over a
// scripted IOMMU backend, waitFor, write64n/write64x2, acquire/release accessors.
import { native } from '../../lib/addon/native';
import { DmaBuffer } from '../../lib/dma/buffer';
import { DmaBackend, DmaSpace } from '../../lib/dma/map';
import { DmaPool, DmaPoolExhaustedError, DmaPoolSpace } from '../../lib/dma/pool';
import { ClosedError, InvalidArgumentError, TimeoutError, VfioError } from '../../lib/errors';
import { orderingNeedsFences } from '../../lib/memory/ordering';

const PAGE = native().constants.PAGE_SIZE;

function space(): DmaSpace & { log: string[] } {
  const log: string[] = [];
  const backend: DmaBackend = {
    name: 'FakeContext',
    mapOp: 'FAKE_MAP',
    unmapOp: 'FAKE_UNMAP',
    geometry: () => ({ ranges: [{ start: 0n, end: 0xffffffffn }], pageSizes: 0x1000n }),
    map(_mem, offset, size, iova) {
      log.push(`map ${iova.toString(16)} +${size.toString(16)} @${offset}`);
      return 0;
    },
    unmap(iova, size) {
      log.push(`unmap ${iova.toString(16)} +${size.toString(16)}`);
      return 0;
    },
    dmaAvailable: () => undefined,
  };
  return Object.assign(new DmaSpace(backend), { log });
}

function caught(fn: () => unknown): VfioError {
  try {
    fn();
  } catch (e) {
    return e as VfioError;
  }
  throw new Error('expected a throw');
}

describe('DmaPool', () => {
  it('is one buffer and one mapping carved into aligned blocks with their IOVAs', () => {
    const s = space();
    using pool = DmaPool.create(s, { blockSize: 64, blocks: 100 });
    expect(s.log).toEqual([`map 1000 +${(Math.ceil(6400 / PAGE) * PAGE).toString(16)} @0`]);
    expect(pool.capacity).toBe(100);
    const a = pool.alloc();
    const b = pool.alloc();
    expect([a.index, b.index]).toEqual([0, 1]);
    expect([a.offset, b.offset]).toEqual([0, 64]);
    expect([a.iova, b.iova]).toEqual([0x1000, 0x1040]);
    expect(b.deviceAddress(8)).toBe(0x1048);
    expect(a.u8.length).toBe(64);
    b.u8[3] = 0xab;
    expect(pool.buffer.read8(64 + 3)).toBe(0xab);
    expect(pool.available).toBe(98);
  });

  it('rounds the stride up to the alignment', () => {
    using pool = DmaPool.create(space(), { blockSize: 100, blocks: 3 });
    expect(pool.blocks.map((b) => b.offset)).toEqual([0, 128, 256]);
    using pages = DmaPool.create(space(), { blockSize: 3 * PAGE, blocks: 2 });
    expect(pages.blocks.map((b) => [b.offset, b.iova])).toEqual([
      [0, 0x1000],
      [3 * PAGE, 0x1000 + 3 * PAGE],
    ]);
    expect(pages.blocks.every((b) => b.contiguous)).toBe(true);
    using aligned = DmaPool.create(space(), { blockSize: 24, blocks: 4, align: 8 });
    expect(aligned.blocks.map((b) => b.offset)).toEqual([0, 24, 48, 72]);
  });

  it('hands freed blocks out again and fails with a typed error when exhausted', () => {
    using pool = DmaPool.create(space(), { blockSize: PAGE, blocks: 2 });
    const a = pool.alloc();
    const b = pool.alloc();
    expect(pool.tryAlloc()).toBeUndefined();
    const e = caught(() => pool.alloc());
    expect(e).toBeInstanceOf(DmaPoolExhaustedError);
    expect(e).toBeInstanceOf(VfioError);
    expect(e.code).toBe('ENOBUFS');
    expect(e.hint).toMatch(/more blocks/);
    a.free();
    expect(pool.alloc()).toBe(a);
    expect(
      caught(() => {
        b.free();
        b.free();
      }),
    ).toBeInstanceOf(InvalidArgumentError);
    using other = DmaPool.create(space(), { blockSize: PAGE, blocks: 1 });
    expect(caught(() => pool.free(other.alloc())).message).toMatch(/another pool/);
  });

  it('uses per-page device addresses where the space says the pages are not contiguous', () => {
    const s = space();
    // Without an IOMMU the device sees physical pages: pretend page 1 lies far from page 0.
    const unsafe: DmaPoolSpace = {
      unsafe: true,
      map: (buf, o) => s.map(buf, o),
      deviceAddress: (_m, off = 0) => BigInt(off < PAGE ? 0x100000 + off : 0x900000 + off - PAGE),
    };
    using pool = DmaPool.create(unsafe, { blockSize: PAGE * 2, blocks: 1 });
    const blk = pool.alloc();
    expect(blk.iova).toBe(0x100000);
    expect(blk.deviceAddress(PAGE + 4)).toBe(0x900004);
    expect(blk.contiguous).toBe(false);
  });

  it('rejects bad options and closes: unmapped, freed, every call then a ClosedError', () => {
    const s = space();
    expect(caught(() => DmaPool.create(s, { blockSize: 0, blocks: 1 })).code).toBe('EINVAL');
    expect(caught(() => DmaPool.create(s, { blockSize: 64, blocks: 1, align: 48 })).code).toBe('EINVAL');
    const pool = DmaPool.create(s, { blockSize: 64, blocks: 4 });
    pool.close();
    pool.close();
    expect(s.log[s.log.length - 1]).toMatch(/^unmap 1000/);
    expect(pool.closed).toBe(true);
    expect(pool.buffer.closed).toBe(true);
    expect(caught(() => pool.alloc())).toBeInstanceOf(ClosedError);
  });

  it('refuses to free a pinned block or close a pool with pins (EBUSY) until every pin is undone', () => {
    const s = space();
    const pool = DmaPool.create(s, { blockSize: 64, blocks: 4 });
    expect(pool.space).toBe(s);
    const a = pool.alloc();
    const first = pool.pin(a);
    const second = pool.pin(a);
    expect(pool.isPinned(a)).toBe(true);
    const free = caught(() => a.free());
    expect([free.code, free.op]).toEqual(['EBUSY', 'DmaPool.free']);
    expect(free.hint).toMatch(/settled/);
    expect(caught(() => pool.close()).code).toBe('EBUSY');
    expect(pool.closed).toBe(false);
    // Each pin is undone by its own holder, once: a second call does not undo someone else's.
    first();
    first();
    expect(caught(() => a.free()).code).toBe('EBUSY');
    second();
    expect(pool.isPinned(a)).toBe(false);
    a.free();
    expect(pool.available).toBe(4);
    // Only allocated blocks of this pool are pinned.
    expect(caught(() => pool.pin(a)).message).toMatch(/not allocated/);
    using other = DmaPool.create(s, { blockSize: 64, blocks: 1 });
    expect(caught(() => pool.pin(other.alloc())).message).toMatch(/another pool/);
    // Anything but a block is an argument error, never a TypeError.
    for (const bad of [null, undefined, {}, { index: 0 }, 1]) {
      expect(caught(() => pool.pin(bad as never)).code).toBe('EINVAL');
      expect(caught(() => pool.free(bad as never)).message).toMatch(/not a DmaBlock/);
      expect([pool.isPinned(bad as never), pool.isAllocated(bad as never)]).toEqual([false, false]);
    }
    pool.close();
    expect(caught(() => pool.pin(pool.blocks[0]))).toBeInstanceOf(ClosedError);
  });

  it('refuses what is not a place, options or an offset with InvalidArgumentError, never a TypeError', () => {
    for (const on of [null, undefined, 1, {}, { map: 1 }]) {
      expect(caught(() => DmaPool.create(on as never, { blockSize: 64, blocks: 1 })).message).toMatch(
        /on a Device or an IOMMU context/,
      );
    }
    for (const o of [null, undefined, 'x']) {
      expect(caught(() => DmaPool.create(space(), o as never)).message).toMatch(/options \{ blockSize, blocks \}/);
    }
    for (const [k, v] of [
      ['blockSize', Symbol('s')],
      ['blocks', 1n],
      ['align', Symbol('a')],
    ] as const) {
      const e = caught(() => DmaPool.create(space(), { blockSize: 64, blocks: 1, [k]: v }));
      expect([e.code, e.constructor.name]).toEqual(['EINVAL', 'InvalidArgumentError']);
    }
    using pool = DmaPool.create(space(), { blockSize: 64, blocks: 4 });
    for (const off of [1n, Symbol('o'), 0.5, -1, 4096, '0']) {
      expect(caught(() => pool.deviceAddressAt(off as never)).code).toBe('ERANGE');
      expect(caught(() => pool.blocks[0].deviceAddress(off as never)).code).toBe('ERANGE');
    }
    expect(pool.blocks[1].deviceAddress(3)).toBe(pool.deviceAddressAt(67));
  });

  it('closes with pins once its mapping is gone: the device can no longer reach the memory', () => {
    const pool = DmaPool.create(space(), { blockSize: 64, blocks: 4 });
    pool.pin(pool.alloc());
    pool.mapping.unmap();
    pool.close();
    expect(pool.buffer.closed).toBe(true);
  });

  it('reads closed when its mapping is gone (the context dropped it)', () => {
    using pool = DmaPool.create(space(), { blockSize: 64, blocks: 4 });
    pool.mapping.unmap();
    expect(pool.closed).toBe(true);
    expect(caught(() => pool.tryAlloc())).toBeInstanceOf(ClosedError);
  });
});

describe('waitFor', () => {
  it('resolves at once when the value is there, and to the last value read', async () => {
    using buf = DmaBuffer.allocate(PAGE);
    buf.write32(0x1c, 0x5);
    await expect(buf.waitFor(0x1c, 0x1, 0x1)).resolves.toBe(0x5);
  });

  it('sees a change made later, without blocking the event loop', async () => {
    using buf = DmaBuffer.allocate(PAGE);
    setTimeout(() => buf.write32(8, 0x80000001), 30);
    const t0 = Date.now();
    await expect(buf.waitFor(8, 0x80000000, 0x80000000, { timeoutMs: 2000 })).resolves.toBe(0x80000001);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(25);
    setTimeout(() => buf.write8(3, 0x7), 5);
    await expect(buf.waitFor(3, 0xff, 7, { width: 1 })).resolves.toBe(7);
  });

  it('fails with a TimeoutError naming what it waited for and the last value', async () => {
    using buf = DmaBuffer.allocate(PAGE);
    buf.write32(0, 0xdead);
    const t0 = Date.now();
    const e = await buf.waitFor(0, 1, 0, { timeoutMs: 50, what: 'CSTS.RDY = 0' }).catch((x) => x);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(45);
    expect(e).toBeInstanceOf(TimeoutError);
    expect(e.code).toBe('ETIMEDOUT');
    expect(e.message).toMatch(/CSTS.RDY = 0 did not happen within 50 ms \(last value read: 0xdead\)/);
  });

  it('reads sparingly on a long wait (timers, not a busy loop)', async () => {
    using buf = DmaBuffer.allocate(PAGE);
    let reads = 0;
    const mem = {
      read8: () => 0,
      read16: () => 0,
      read32: () => {
        reads++;
        return buf.read32(0);
      },
    };
    const { waitFor } = await import('../../lib/memory/poll');
    await expect(waitFor(mem, 0, 1, 1, { timeoutMs: 200 })).rejects.toBeInstanceOf(TimeoutError);
    expect(reads).toBeLessThan(16 + 40);
  });

  it('stops on an abort signal, and refuses a closed buffer', async () => {
    const buf = DmaBuffer.allocate(PAGE);
    const ac = new AbortController();
    setTimeout(() => ac.abort(new Error('stop')), 10);
    await expect(buf.waitFor(0, 1, 1, { signal: ac.signal, timeoutMs: 5000 })).rejects.toThrow('stop');
    buf.close();
    await expect(buf.waitFor(0, 1, 1)).rejects.toBeInstanceOf(ClosedError);
  });
});

describe('64-bit stores without a bigint, acquire and release', () => {
  it('write64n stores numbers below 2^53 as two little-endian halves', () => {
    using buf = DmaBuffer.allocate(PAGE);
    buf.write64n(8, 0x1f_ffff_ffff_fffe);
    expect(buf.read64(8)).toBe(0x1f_ffff_ffff_fffen);
    buf.write64n(16, 0xfedc_b000);
    expect(buf.read64(16)).toBe(0xfedcb000n);
    buf.write64x2(24, 0x89abcdef, 0x01234567);
    expect(buf.read64(24)).toBe(0x0123456789abcdefn);
    for (const bad of [2 ** 53, -1, 1.5, NaN])
      expect(caught(() => buf.write64n(8, bad)).message).toMatch(/not an integer in \[0, 2\^53\)/);
    expect(caught(() => buf.write64n(4, 1)).message).toMatch(/8-byte aligned/);
    expect(caught(() => buf.write64x2(8, 0, 2 ** 32)).message).toMatch(/32-bit half/);
    expect(buf.read64(8)).toBe(0x1f_ffff_ffff_fffen);
  });

  it('readAcquire32 and writeRelease32 are width-exact 32-bit accesses', () => {
    using buf = DmaBuffer.allocate(PAGE);
    buf.writeRelease32(12, 0xcafef00d);
    expect(buf.read32(12)).toBe(0xcafef00d);
    expect(buf.readAcquire32(12)).toBe(0xcafef00d);
    expect(caught(() => buf.readAcquire32(2)).code).toBe('EINVAL');
    expect(orderingNeedsFences).toBe(process.arch !== 'x64' && process.arch !== 'ia32');
    // The fences exist in the addon on every architecture.
    native().load_fence();
    native().store_fence();
  });
});
