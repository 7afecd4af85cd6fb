import * as abi from '../../lib/abi';
import { DecodeError, TYPE1_INFO_SIZE, decodeType1Info, findType1Cap, minPageSize } from '../../lib/decode';
import { iovaRangeCap, patchU32, type1Info } from '../fixtures/build';
import { TYPE1_IOVA_RANGES, type1 } from '../fixtures/devices';

describe('decodeType1Info', () => {
  it('decodes the caps an intel-iommu container reports', () => {
    const t = decodeType1Info(type1());
    expect(t.flags).toEqual({ pgsizes: true, caps: true });
    expect(t.iovaPgsizes).toBe(0x40201000n);
    expect(minPageSize(t.iovaPgsizes)).toBe(0x1000n);
    expect(t.capOffset).toBe(TYPE1_INFO_SIZE);
    expect(t.caps.map((c) => c.type)).toEqual(['migration', 'dma-avail', 'iova-range']);
    expect(findType1Cap(t.caps, 'iova-range')?.ranges).toEqual(TYPE1_IOVA_RANGES);
    expect(findType1Cap(t.caps, 'dma-avail')?.avail).toBe(65535);
    expect(findType1Cap(t.caps, 'migration')).toEqual({
      type: 'migration',
      flags: 0,
      pgsizeBitmap: 0x1000n,
      maxDirtyBitmapSize: 0x10000000n,
    });
  });

  it('no caps when the flag is absent', () => {
    const t = decodeType1Info(type1Info({ flags: abi.VFIO_IOMMU_INFO_PGSIZES, pgsizes: 0x1000n }));
    expect(t.caps).toEqual([]);
    expect(t.argsz).toBe(24);
  });

  it('keeps unknown caps', () => {
    const t = decodeType1Info(
      type1Info({ flags: 3, pgsizes: 0x1000n, caps: [{ id: 77, body: new Uint8Array([1, 2, 3, 4]) }] }),
    );
    expect(t.caps[0]).toMatchObject({ type: 'unknown', id: 77, version: 1 });
  });

  it('an IOVA range count larger than the cap is an error', () => {
    const buf = type1Info({ flags: 3, pgsizes: 0x1000n, caps: [iovaRangeCap([{ start: 0n, end: 0xfffn }])] });
    patchU32(buf, 24 + 8, 1000);
    expect(() => decodeType1Info(buf)).toThrow(/truncated/);
  });

  it('a loop in the chain is an error', () => {
    const buf = type1();
    const lastCap = 24 + 32 + 16; // after MIGRATION (32) and DMA_AVAIL (padded to 16)
    patchU32(buf, lastCap + 4, 24);
    expect(() => decodeType1Info(buf)).toThrow(DecodeError);
  });

  it('minPageSize of nothing is 0', () => {
    expect(minPageSize(0n)).toBe(0n);
  });
});
