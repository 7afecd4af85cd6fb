// The IOVA allocator, against the ranges the emulated VT-d reports and against made-up ones.
import { IovaAllocator } from '../../lib/dma/iova';
import { VfioError } from '../../lib/errors';

const PAGE = 0x1000n;
// What type1 reports on the emulated host: everything but the MSI window at 0xfee00000.
const VTD = [
  { start: 0n, end: 0xfedfffffn },
  { start: 0xfef00000n, end: 0x7fffffffffn },
];

function code(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    return (e as VfioError).code;
  }
  return undefined;
}

describe('IovaAllocator', () => {
  it('hands out the lowest free page first, never page 0, and reuses freed space', () => {
    const a = new IovaAllocator(VTD, { pageSize: PAGE });
    expect(a.allocate(PAGE)).toBe(0x1000n);
    expect(a.allocate(3n * PAGE)).toBe(0x2000n);
    expect(a.allocate(PAGE)).toBe(0x5000n);
    expect(a.free(0x2000n)).toBe(3n * PAGE);
    // A smaller request fits into the freed hole; a larger one goes past it.
    expect(a.allocate(4n * PAGE)).toBe(0x6000n);
    expect(a.allocate(2n * PAGE)).toBe(0x2000n);
    expect(a.allocations.map((x) => [x.iova, x.size])).toEqual([
      [0x1000n, PAGE],
      [0x2000n, 2n * PAGE],
      [0x5000n, PAGE],
      [0x6000n, 4n * PAGE],
    ]);
    expect(a.count).toBe(4);
    expect(a.allocatedBytes).toBe(8n * PAGE);
  });

  it('aligns to the requested power of two', () => {
    const a = new IovaAllocator(VTD, { pageSize: PAGE });
    a.allocate(PAGE);
    expect(a.allocate(0x200000n, { align: 0x200000n })).toBe(0x200000n);
    expect(a.allocate(PAGE)).toBe(0x2000n);
    expect(code(() => a.allocate(PAGE, { align: 0x1800n }))).toBe('EINVAL');
    expect(code(() => a.allocate(PAGE, { align: 0x800n }))).toBe('EINVAL');
  });

  it('skips the hole between ranges and never crosses it', () => {
    const a = new IovaAllocator(VTD, { pageSize: PAGE });
    a.reserve(0x1000n, 0xfedfe000n); // fill the first range up to its last page
    expect(a.allocate(PAGE)).toBe(0xfedff000n); // the last page of the first range still fits
    // Two pages no longer fit below the hole: the next range is used.
    expect(a.allocate(2n * PAGE)).toBe(0xfef00000n);
  });

  it('keeps every allocation below the DMA mask, and says when that space is full', () => {
    const a = new IovaAllocator(VTD, { pageSize: PAGE });
    const mask = 1n << 28n;
    const big = 0x1000000n; // 16 MiB
    const got: bigint[] = [];
    for (;;) {
      try {
        got.push(a.allocate(big, { dmaMaskBits: 28 }));
      } catch (e) {
        expect((e as VfioError).code).toBe('ENOSPC');
        expect((e as VfioError).message).toMatch(/below 2\^28/);
        break;
      }
    }
    // 256 MiB minus the reserved first page: 15 whole 16 MiB chunks.
    expect(got).toHaveLength(15);
    for (const x of got) expect(x + big).toBeLessThanOrEqual(mask);
    // Without the mask the same request succeeds above 2^28.
    expect(a.allocate(big)).toBeGreaterThanOrEqual(mask - big);
  });

  it('reserve() checks alignment, the ranges, the mask and overlaps', () => {
    const a = new IovaAllocator(VTD, { pageSize: PAGE });
    a.reserve(0n, PAGE); // page 0 may be chosen explicitly
    expect(code(() => a.reserve(0x1800n, PAGE))).toBe('EINVAL');
    expect(code(() => a.reserve(0x10000n, 0x800n))).toBe('EINVAL');
    expect(code(() => a.reserve(0xfee00000n, PAGE))).toBe('ERANGE'); // the MSI window
    expect(code(() => a.reserve(0xfedff000n, 2n * PAGE))).toBe('ERANGE'); // runs into it
    expect(code(() => a.reserve(0x8000000000n, PAGE))).toBe('ERANGE'); // above the aperture
    expect(code(() => a.reserve(0x10000000n, PAGE, { dmaMaskBits: 28 }))).toBe('ERANGE');
    a.reserve(0x10000n, 4n * PAGE);
    expect(code(() => a.reserve(0x13000n, PAGE))).toBe('EEXIST');
    expect(code(() => a.reserve(0xf000n, 2n * PAGE))).toBe('EEXIST');
    a.reserve(0x14000n, PAGE); // adjacent is fine
    expect(a.allocate(PAGE)).toBe(0x1000n);
  });

  it('free() refuses addresses that start no allocation', () => {
    const a = new IovaAllocator(VTD, { pageSize: PAGE });
    const x = a.allocate(2n * PAGE);
    expect(code(() => a.free(x + PAGE))).toBe('EINVAL');
    a.free(x);
    expect(code(() => a.free(x))).toBe('EINVAL');
  });

  it('trims ranges to whole pages and rejects nonsense geometry', () => {
    const a = new IovaAllocator(
      [
        { start: 0x800n, end: 0x3fffn },
        { start: 0x10000n, end: 0x107ffn },
      ],
      { pageSize: PAGE, floor: 0n },
    );
    expect(a.usableRanges).toEqual([{ start: 0x1000n, end: 0x3fffn }]);
    expect(code(() => new IovaAllocator(VTD, { pageSize: 0x3000n }))).toBe('EINVAL');
    expect(
      code(
        () =>
          new IovaAllocator(
            [
              { start: 0n, end: 0xffffn },
              { start: 0x8000n, end: 0x1ffffn },
            ],
            { pageSize: PAGE },
          ),
      ),
    ).toBe('EINVAL');
  });

  it('takes caller-chosen IOVAs above 2^53, while allocate() stays below it', () => {
    const a = new IovaAllocator([{ start: 0n, end: (1n << 64n) - 1n }], { pageSize: PAGE });
    const high = 1n << 60n;
    a.reserve(high, 2n * PAGE);
    expect(code(() => a.reserve(high + PAGE, PAGE))).toBe('EEXIST');
    expect(code(() => a.reserve((1n << 53n) - PAGE, 2n * PAGE))).toBe('ERANGE'); // straddles 2^53
    expect(a.allocate(PAGE)).toBe(0x1000n);
    expect(a.allocations.map((x) => x.iova)).toEqual([0x1000n, high]);
    expect(a.free(high)).toBe(2n * PAGE);
    a.reserve(high + PAGE, PAGE);
    // An aperture entirely above 2^53 has nothing allocate() may hand out.
    const b = new IovaAllocator([{ start: 1n << 60n, end: (1n << 61n) - 1n }], { pageSize: PAGE });
    expect(code(() => b.allocate(PAGE))).toBe('ENOSPC');
    b.reserve(1n << 60n, PAGE);
  });

  it('many random map/unmap cycles stay inside the ranges and never overlap', () => {
    // A small aperture with a hole forces reuse and fragmentation.
    const ranges = [
      { start: 0n, end: 0xfffffn },
      { start: 0x200000n, end: 0x2fffffn },
    ];
    const a = new IovaAllocator(ranges, { pageSize: PAGE });
    let seed = 12345;
    const rnd = (n: number) => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    const live = new Map<bigint, bigint>();
    let full = 0;
    const bad: string[] = [];
    for (let i = 0; i < 5000; i++) {
      if (live.size > 0 && rnd(3) === 0) {
        const keys = [...live.keys()];
        const k = keys[rnd(keys.length)];
        expect(a.free(k)).toBe(live.get(k));
        live.delete(k);
        continue;
      }
      const size = BigInt(1 + rnd(16)) * PAGE;
      try {
        live.set(a.allocate(size, { align: rnd(4) === 0 ? 0x4000n : PAGE }), size);
      } catch (e) {
        expect((e as VfioError).code).toBe('ENOSPC');
        full++;
      }
      // Plain checks in the loop (expect() per span is slow); one assertion on the tally.
      const spans = a.allocations;
      if (spans.length !== live.size) bad.push(`count ${spans.length} != ${live.size} at step ${i}`);
      spans.forEach((s, j) => {
        if (!a.contains(s.iova, s.size) || s.iova < PAGE) bad.push(`outside: ${s.iova} at step ${i}`);
        if (j > 0 && spans[j - 1].iova + spans[j - 1].size > s.iova) bad.push(`overlap at ${s.iova}, step ${i}`);
      });
    }
    expect(bad).toEqual([]);
    expect(full).toBeGreaterThan(0); // the aperture really filled up at times
  });
});
