import {
  DecodeError,
  IORESOURCE_MEM,
  formatBdf,
  isBdf,
  memtypeFor,
  normalizeBdf,
  parseBdf,
  parsePatMemtypeList,
  parseResourceFile,
} from '../../lib/decode';
import { patLine, resourceLine } from '../fixtures/build';
import { ivshmemResourceFile, patList } from '../fixtures/devices';

describe('PCI addresses', () => {
  it('accepts short and full forms and normalises to dddd:bb:dd.f', () => {
    expect(normalizeBdf('00:03.0')).toBe('0000:00:03.0');
    expect(normalizeBdf('0000:00:03.0')).toBe('0000:00:03.0');
    expect(normalizeBdf('0000:3A:1F.7\n')).toBe('0000:3a:1f.7');
    expect(normalizeBdf('10000:e1:00.0')).toBe('10000:e1:00.0');
    expect(parseBdf('0001:02:03.4')).toEqual({ domain: 1, bus: 2, device: 3, func: 4, bdf: '0001:02:03.4' });
    expect(formatBdf(0, 0, 3, 0)).toBe('0000:00:03.0');
  });

  it('rejects junk', () => {
    for (const bad of [
      '',
      'edu',
      '0:3.0',
      '00:03',
      '00:03.8',
      '00:20.0',
      '0000:00:03.0.1',
      'zz:03.0',
      '/sys/bus/pci/devices/0000:00:03.0',
    ]) {
      expect(() => parseBdf(bad)).toThrow(DecodeError);
      expect(isBdf(bad)).toBe(false);
    }
    expect(isBdf('00:1f.7')).toBe(true);
  });
});

describe('sysfs resource file', () => {
  it('ivshmem: BAR0 32-bit MMIO, BAR2 64-bit prefetchable, the rest unused', () => {
    const res = parseResourceFile(ivshmemResourceFile());
    expect(res).toHaveLength(7);
    expect(res.map((r) => r.name)).toEqual(['BAR0', 'BAR1', 'BAR2', 'BAR3', 'BAR4', 'BAR5', 'ROM']);
    expect(res[0]).toMatchObject({
      start: 0xfebd1000n,
      end: 0xfebd10ffn,
      size: 0x100n,
      mem: true,
      io: false,
      prefetch: false,
      mem64: false,
    });
    expect(res[2]).toMatchObject({ start: 0x800000000n, size: 0x400000n, mem: true, prefetch: true, mem64: true });
    expect(res[1]).toMatchObject({ size: 0n, mem: false, io: false });
    expect(res[6].size).toBe(0n);
  });

  it('an I/O port BAR', () => {
    const text = [
      resourceLine(0xc000n, 0xc01fn, 0x40101),
      ...Array.from({ length: 6 }, () => resourceLine(0n, 0n, 0)),
    ].join('\n');
    const [bar0] = parseResourceFile(text);
    expect(bar0).toMatchObject({ io: true, mem: false, size: 0x20n });
    expect(bar0.flags & IORESOURCE_MEM).toBe(0);
  });

  it('rejects malformed text', () => {
    expect(() => parseResourceFile('')).toThrow(DecodeError);
    expect(() => parseResourceFile('garbage\n'.repeat(7))).toThrow(/line 1/);
    const backwards = [
      resourceLine(0x2000n, 0x1000n, 0x200),
      ...Array.from({ length: 6 }, () => resourceLine(0n, 0n, 0)),
    ].join('\n');
    expect(() => parseResourceFile(backwards)).toThrow(/ends before/);
  });
});

describe('PAT memtype list', () => {
  it('parses every line with its type, skipping the title', () => {
    const e = parsePatMemtypeList(patList());
    expect(e).toHaveLength(6);
    expect(e[3]).toEqual({ start: 0x800000000n, end: 0x800400000n, type: 'wc' });
    expect(e[0].type).toBe('uc-');
    expect(e[5].type).toBe('uc');
  });

  it('knows every name memtype.c prints', () => {
    const names = ['write-back', 'uncached', 'uncached-minus', 'write-combining', 'write-through', 'write-protected'];
    const e = parsePatMemtypeList(names.map((n, i) => patLine(BigInt(i) << 12n, BigInt(i + 1) << 12n, n)).join('\n'));
    expect(e.map((x) => x.type)).toEqual(['wb', 'uc', 'uc-', 'wc', 'wt', 'wp']);
  });

  it('skips entries the kernel calls broken; rejects unknown lines and names', () => {
    expect(parsePatMemtypeList(patLine(0n, 0x1000n, 'broken'))).toEqual([]);
    expect(() => parsePatMemtypeList('something else')).toThrow(DecodeError);
    expect(() => parsePatMemtypeList(patLine(0n, 0x1000n, 'write-sometimes'))).toThrow(/unknown memory type/);
  });

  it('memtypeFor: covered, mixed, uncovered', () => {
    const e = parsePatMemtypeList(patList());
    expect(memtypeFor(e, 0x800000000n, 0x800400000n)).toBe('wc');
    expect(memtypeFor(e, 0x800100000n, 0x800200000n)).toBe('wc');
    expect(memtypeFor(e, 0xfea00000n, 0xfea01000n)).toBe('uc-');
    expect(memtypeFor(e, 0x900000000n, 0x900001000n)).toBe('unknown');
    expect(memtypeFor(e, 0x8003ff000n, 0x800401000n)).toBe('unknown'); // runs past the entry's end
    const mixed = [...e, { start: 0x800200000n, end: 0x800400000n, type: 'uc-' as const }];
    expect(memtypeFor(mixed, 0x800000000n, 0x800400000n)).toBe('mixed');
    const pieces = [
      { start: 0n, end: 0x1000n, type: 'wc' as const },
      { start: 0x1000n, end: 0x3000n, type: 'wc' as const },
    ];
    expect(memtypeFor(pieces, 0n, 0x3000n)).toBe('wc');
    expect(memtypeFor(pieces, 0n, 0x4000n)).toBe('unknown');
  });
});
