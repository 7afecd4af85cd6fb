// DMA buffers without a device (the addon's memfd allocation, views, accessors, close), and the
// DMA layer over a scripted IOMMU backend: IOVA choice, the order of close, errors and hints.
import * as fs from 'fs';
import * as os from 'os';
import { DmaBuffer, parseHugepageInfo } from '../../lib/dma/buffer';
import { DmaBackend, DmaSpace, alignmentChoices, naturalAlignment } from '../../lib/dma/map';
import { ClosedError, VfioError } from '../../lib/errors';
import { native } from '../../lib/addon/native';

const E = os.constants.errno;
const PAGE = native().constants.PAGE_SIZE;

function caught(fn: () => unknown): VfioError {
  try {
    fn();
  } catch (e) {
    return e as VfioError;
  }
  throw new Error('expected a throw');
}

/** The smaps entry of our memfd-backed buffers: their size and permission flags. */
function dmaMappingsInSmaps(): { perms: string; kb: number }[] {
  const text = fs.readFileSync('/proc/self/smaps', 'utf8');
  const out: { perms: string; kb: number }[] = [];
  const re = /^[0-9a-f]+-[0-9a-f]+ (\S{4}) .*\/memfd:vfio-dma.*\nSize:\s+(\d+) kB/gm;
  for (let m = re.exec(text); m; m = re.exec(text)) out.push({ perms: m[1], kb: Number(m[2]) });
  return out;
}

describe('DmaBuffer', () => {
  it('rounds up to whole pages and starts zeroed', () => {
    using buf = DmaBuffer.allocate(10000);
    expect(buf.length).toBe(Math.ceil(10000 / PAGE) * PAGE);
    expect([buf.u8.length, buf.u16.length, buf.u32.length, buf.u64.length]).toEqual([
      buf.length,
      buf.length / 2,
      buf.length / 4,
      buf.length / 8,
    ]);
    expect(buf.u8.every((b) => b === 0)).toBe(true);
    expect(buf.hugepages).toBe(false);
  });

  it('is a shared mapping (fork-safe): the kernel lists it rw-s', () => {
    const before = dmaMappingsInSmaps().length;
    using buf = DmaBuffer.allocate(3 * PAGE);
    const now = dmaMappingsInSmaps();
    expect(now.length).toBe(before + 1);
    expect(now.some((m) => m.perms === 'rw-s' && m.kb * 1024 === buf.length)).toBe(true);
  });

  it('typed views and width-exact accessors see the same little-endian bytes', () => {
    using buf = DmaBuffer.allocate(PAGE);
    buf.write32(8, 0x11223344);
    expect([...buf.u8.subarray(8, 12)]).toEqual([0x44, 0x33, 0x22, 0x11]);
    expect(buf.read16(10)).toBe(0x1122);
    buf.u64[2] = 0x0102030405060708n;
    expect(buf.read64(16)).toBe(0x0102030405060708n);
    expect(buf.read8(23)).toBe(0x01);
    buf.write16(2, 0xbeef);
    expect(buf.u16[1]).toBe(0xbeef);
    buf.copyIn(100, Uint8Array.of(1, 2, 3));
    expect([...buf.copyOut(99, 5)]).toEqual([0, 1, 2, 3, 0]);
  });

  it('checks offsets, alignment and value widths', () => {
    using buf = DmaBuffer.allocate(PAGE);
    expect(caught(() => buf.read32(PAGE)).code).toBe('ERANGE');
    expect(caught(() => buf.read32(2)).code).toBe('EINVAL');
    expect(caught(() => buf.write8(0, 256)).message).toMatch(/does not fit in 8 bits/);
    expect(caught(() => buf.copyOut(PAGE - 2, 4)).message).toMatch(/run past the 4096-byte buffer/);
    expect(caught(() => DmaBuffer.allocate(0)).code).toBe('ERANGE');
    expect(caught(() => DmaBuffer.allocate(2 ** 33)).code).toBe('ERANGE');
  });

  it('accepts exactly the aligned integer offsets inside the buffer and the integers that fit each width', () => {
    using buf = DmaBuffer.allocate(PAGE);
    const badOffsets: unknown[] = [-4, -0.5, 4.5, NaN, Infinity, -Infinity, PAGE, 2 ** 32 + 4, '4', null, undefined];
    for (const off of badOffsets) {
      for (const fn of [
        () => buf.read16(off as number),
        () => buf.read32(off as number),
        () => buf.read64(off as number),
        () => buf.write16(off as number, 1),
        () => buf.write32(off as number, 1),
        () => buf.write64(off as number, 1n),
        () => buf.read8(off as number),
        () => buf.write8(off as number, 1),
      ]) {
        expect(caught(fn)).toBeInstanceOf(VfioError);
      }
    }
    for (const off of [1, 2, 3, 5, 6, 7]) expect(caught(() => buf.write64(off, 1n)).code).toBe('EINVAL');
    expect(caught(() => buf.write32(6, 1)).code).toBe('EINVAL');
    expect(caught(() => buf.write32(PAGE, 1)).code).toBe('ERANGE');
    buf.write32(PAGE - 4, 0xffffffff);
    expect(buf.read32(PAGE - 4)).toBe(0xffffffff);
    buf.write32(0, -1);
    expect(buf.read32(0)).toBe(0xffffffff);
    buf.write32(0, -(2 ** 31));
    expect(buf.read32(0)).toBe(0x80000000);
    buf.write16(0, -1);
    expect(buf.read16(0)).toBe(0xffff);
    buf.write8(0, -128);
    expect(buf.read8(0)).toBe(0x80);
    const badValues: [(v: number) => void, number[]][] = [
      [(v) => buf.write8(0, v), [256, -129, 1.5, NaN, Infinity]],
      [(v) => buf.write16(0, v), [65536, -32769, 0.1, NaN, -Infinity]],
      [(v) => buf.write32(0, v), [2 ** 32, -(2 ** 31) - 1, 1.5, NaN, Infinity, '1' as unknown as number]],
    ];
    for (const [write, values] of badValues)
      for (const v of values) expect(caught(() => write(v)).message).toMatch(/does not fit in/);
    expect(buf.read32(0)).toBe(0x8000ff80); // the refused writes above changed nothing
  });

  it('after close, views and accessors throw instead of reading detached memory', () => {
    const buf = DmaBuffer.allocate(PAGE);
    const view = buf.u32;
    buf.close();
    buf.close(); // idempotent
    expect(buf.closed).toBe(true);
    expect(view.length).toBe(0); // the addon detached the ArrayBuffer before unmapping
    for (const fn of [
      () => buf.u8,
      () => buf.u64,
      () => buf.read32(0),
      () => buf.write8(0, 1),
      () => buf.copyOut(0, 1),
    ]) {
      const e = caught(fn);
      expect(e).toBeInstanceOf(ClosedError);
      expect(e.code).toBe('ECLOSED');
    }
  });
});

describe('parseHugepageInfo', () => {
  it('reads the size and counts from /proc/meminfo text', () => {
    const text =
      'MemTotal:  2000000 kB\nHugePages_Total:       4\nHugePages_Free:        3\nHugePages_Rsvd:  0\nHugepagesize:       2048 kB\n';
    expect(parseHugepageInfo(text)).toEqual({ size: 2 << 20, total: 4, free: 3 });
    expect(parseHugepageInfo('MemTotal: 1 kB\n')).toEqual({ size: 0, total: 0, free: 0 });
  });
});

/** A scripted backend: records calls, fails on demand. */
function fakeBackend(
  geometry = {
    ranges: [
      { start: 0n, end: 0xfedfffffn },
      { start: 0xfef00000n, end: 0x7fffffffffn },
    ],
    pageSizes: 0x40201000n,
  },
) {
  const log: string[] = [];
  const fail = { map: 0, unmap: 0 };
  const backend: DmaBackend & { log: string[]; fail: typeof fail; avail: number } = {
    name: 'FakeContext',
    mapOp: 'FAKE_MAP',
    unmapOp: 'FAKE_UNMAP',
    log,
    fail,
    avail: 100,
    geometry: () => geometry,
    map(_mem, offset, size, iova, read, write) {
      log.push(`map ${iova.toString(16)} +${size.toString(16)} @${offset} ${read ? 'r' : ''}${write ? 'w' : ''}`);
      return fail.map ? -fail.map : 0;
    },
    unmap(iova, size) {
      log.push(`unmap ${iova.toString(16)} +${size.toString(16)}`);
      return fail.unmap ? -fail.unmap : 0;
    },
    dmaAvailable: () => backend.avail,
  };
  return backend;
}

describe('DmaSpace (scripted backend)', () => {
  it('allocates IOVAs in the ranges, aligned for superpages when the size allows', () => {
    const be = fakeBackend();
    const space = new DmaSpace(be);
    using small = DmaBuffer.allocate(2 * PAGE);
    using big = DmaBuffer.allocate(2 << 20);
    const a = space.map(small);
    const b = space.map(big, { write: false });
    const c = space.map(small, { offset: PAGE, length: PAGE, read: false });
    expect([a.iova, b.iova, c.iova]).toEqual([0x1000n, 0x200000n, 0x3000n]);
    expect(be.log).toEqual(['map 1000 +2000 @0 rw', 'map 200000 +200000 @0 r', 'map 3000 +1000 @4096 w']);
    expect(c.iovaOf(PAGE + 12)).toBe(0x300cn);
    expect(caught(() => c.iovaOf(0)).code).toBe('ERANGE');
    expect(small.mappings).toEqual([a, c]);
    expect(space.mappedBytes).toBe(3 * PAGE + (2 << 20));
  });

  it('respects the DMA mask and explicit IOVAs, and refuses ones outside the ranges', () => {
    const space = new DmaSpace(fakeBackend());
    using buf = DmaBuffer.allocate(PAGE);
    const m = space.map(buf, { iova: 0x0fff_f000n, dmaMaskBits: 28 });
    expect(m.iova).toBe(0xffff000n);
    const e = caught(() => space.map(buf, { iova: 0xfee00000n }));
    expect([e.code, e.hint]).toEqual(['ERANGE', expect.stringMatching(/iovaRanges/)]);
    expect(e.message).toMatch(/\[0x0-0xfedfffff\] \[0xfef00000-0x7fffffffff\]/);
    expect(caught(() => space.map(buf, { iova: 0xffff000n })).code).toBe('EEXIST');
    expect(caught(() => space.map(buf, { offset: 100 })).code).toBe('EINVAL');
    expect(caught(() => space.map(buf, { read: false, write: false })).code).toBe('EINVAL');
  });

  it('unmap() releases the IOVA for reuse; buffer close unmaps before freeing', () => {
    const be = fakeBackend();
    const space = new DmaSpace(be);
    const buf = DmaBuffer.allocate(PAGE);
    const m1 = space.map(buf);
    m1.unmap();
    m1.unmap(); // idempotent
    expect(m1.closed).toBe(true);
    const m2 = space.map(buf);
    expect(m2.iova).toBe(m1.iova);
    be.unmap = (iova, size) => {
      // The memory is still there while the IOMMU lets go of it.
      be.log.push(`unmap ${iova.toString(16)} +${size.toString(16)} while buffer ${buf.closed ? 'closed' : 'open'}`);
      return 0;
    };
    buf.close();
    expect(be.log.at(-1)).toBe('unmap 1000 +1000 while buffer open');
    expect(m2.closed).toBe(true);
    expect(space.mappings).toEqual([]);
    expect(caught(() => space.map(buf)).code).toBe('ECLOSED');
  });

  it('a failed map gives its IOVA back; ENOMEM names RLIMIT_MEMLOCK, the need and the fix', () => {
    const be = fakeBackend();
    const space = new DmaSpace(be);
    using held = DmaBuffer.allocate(4 * PAGE);
    space.map(held);
    using buf = DmaBuffer.allocate(8 * PAGE);
    be.fail.map = E.ENOMEM;
    const e = caught(() => space.map(buf));
    be.fail.map = 0;
    expect([e.code, e.op]).toEqual(['ENOMEM', 'FAKE_MAP']);
    const lim = native().getrlimit(native().constants.RLIMIT_MEMLOCK) as [bigint, bigint];
    if (lim[0] !== (1n << 64n) - 1n) {
      expect(e.hint).toContain(`now ${lim[0] / 1024n} KiB`);
      expect(e.hint).toContain(`needs at least ${(12 * PAGE) / 1024} KiB`);
      expect(e.hint).toMatch(/ulimit -l/);
    }
    expect(space.map(buf).iova).toBe(0x5000n); // the failed attempt's IOVA was not kept
  });

  it('ENOSPC says the DMA-available count ran out, and how to raise it', () => {
    const be = fakeBackend();
    const space = new DmaSpace(be);
    using buf = DmaBuffer.allocate(PAGE);
    be.fail.map = E.ENOSPC;
    be.avail = 0;
    const e = caught(() => space.map(buf));
    expect(e.code).toBe('ENOSPC');
    expect(e.hint).toMatch(/DMA available: 0/);
    expect(e.hint).toMatch(/dma_entry_limit/);
  });

  it('an unmap the kernel refuses keeps the mapping; close abandons it but keeps its IOVA reserved', () => {
    const be = fakeBackend();
    const space = new DmaSpace(be);
    const buf = DmaBuffer.allocate(PAGE);
    const m = space.map(buf);
    be.fail.unmap = E.EINVAL;
    expect(caught(() => m.unmap()).code).toBe('EINVAL');
    expect(m.closed).toBe(false);
    expect(caught(() => buf.close()).code).toBe('EINVAL');
    expect([m.closed, buf.closed]).toEqual([true, true]);
    be.fail.unmap = 0;
    using other = DmaBuffer.allocate(PAGE);
    expect(space.map(other).iova).toBe(m.iova + BigInt(PAGE));
  });
});

describe('naturalAlignment', () => {
  it('picks the largest supported IOMMU page not above the size', () => {
    const vtd = alignmentChoices(0x40201000n, 0x1000n); // 4 KiB, 2 MiB, 1 GiB
    expect(vtd).toEqual([1 << 30, 2 << 20, 4096]);
    expect(naturalAlignment(0x1000, vtd)).toBe(0x1000);
    expect(naturalAlignment(0x3ff000, vtd)).toBe(0x200000);
    expect(naturalAlignment(2 ** 32, vtd)).toBe(2 ** 30);
    expect(naturalAlignment(2 ** 32, alignmentChoices(0n, 0x1000n))).toBe(0x1000);
  });
});
