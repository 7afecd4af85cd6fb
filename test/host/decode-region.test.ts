import * as abi from '../../lib/abi';
import {
  DecodeError,
  REGION_INFO_SIZE,
  decodeRegionInfo,
  findRegionCap,
  mappableAreas,
  needsLargerBuffer,
  regionName,
  regionTypeName,
  regionTypeVendor,
} from '../../lib/decode';
import { patchU32, regionInfo, sparseMmapCap, typeCap } from '../fixtures/build';
import {
  FIXTURE_WC_SUBTYPE,
  FIXTURE_WC_TYPE,
  eduBar0,
  eduConfigRegion,
  ivshmemBar2,
  nvmeBar0,
  regionOffset,
  sparseAroundMsix,
  wcRegion,
} from '../fixtures/devices';

describe('decodeRegionInfo', () => {
  it('edu BAR0: 1 MiB, read/write/mmap, no caps, whole region mappable', () => {
    const r = decodeRegionInfo(eduBar0());
    expect(r).toMatchObject({ argsz: REGION_INFO_SIZE, index: 0, size: 0x100000n, offset: 0n, capOffset: 0, caps: [] });
    expect(r.flags).toEqual({ read: true, write: true, mmap: true, caps: false });
    expect(r.rawFlags).toBe(
      abi.VFIO_REGION_INFO_FLAG_READ | abi.VFIO_REGION_INFO_FLAG_WRITE | abi.VFIO_REGION_INFO_FLAG_MMAP,
    );
    expect(regionName(r.index, r.caps)).toBe('BAR0');
    expect(mappableAreas(r)).toEqual([{ offset: 0n, size: 0x100000n }]);
  });

  it('edu CONFIG: 256 bytes at 7 << 40, not mappable', () => {
    const r = decodeRegionInfo(eduConfigRegion());
    expect(r.size).toBe(256n);
    expect(r.offset).toBe(0x70000000000n);
    expect(regionName(r.index)).toBe('CONFIG');
    expect(mappableAreas(r)).toEqual([]);
  });

  it('nvme BAR0: 16 KiB with MSIX_MAPPABLE; the whole BAR maps', () => {
    const r = decodeRegionInfo(nvmeBar0());
    expect(r.flags.caps).toBe(true);
    expect(r.capOffset).toBe(32);
    expect(r.caps).toEqual([{ type: 'msix-mappable' }]);
    expect(mappableAreas(r)).toEqual([{ offset: 0n, size: 0x4000n }]);
  });

  it('ivshmem BAR2: 4 MiB at 2 << 40', () => {
    const r = decodeRegionInfo(ivshmemBar2());
    expect(r.index).toBe(2);
    expect(r.offset).toBe(regionOffset(2));
    expect(regionName(r.index, r.caps)).toBe('BAR2');
    expect(mappableAreas(r)).toEqual([{ offset: 0n, size: 0x400000n }]);
  });

  it('sparse mmap around an MSI-X table: only the listed areas map', () => {
    const r = decodeRegionInfo(sparseAroundMsix());
    expect(findRegionCap(r.caps, 'sparse-mmap')?.areas).toEqual([
      { offset: 0n, size: 0x2000n },
      { offset: 0x3000n, size: 0x1000n },
    ]);
    expect(mappableAreas(r)).toEqual([
      { offset: 0n, size: 0x2000n },
      { offset: 0x3000n, size: 0x1000n },
    ]);
  });

  it('drops zero-size sparse areas', () => {
    const r = decodeRegionInfo(
      regionInfo({
        flags: 0xf,
        index: 0,
        size: 0x4000n,
        offset: 0n,
        caps: [
          sparseMmapCap([
            { offset: 0n, size: 0n },
            { offset: 0x1000n, size: 0x3000n },
          ]),
        ],
      }),
    );
    expect(findRegionCap(r.caps, 'sparse-mmap')?.areas).toHaveLength(2);
    expect(mappableAreas(r)).toEqual([{ offset: 0x1000n, size: 0x3000n }]);
  });

  it('a sparse cap with no areas means nothing maps, even with the MMAP flag', () => {
    const r = decodeRegionInfo(
      regionInfo({ flags: 0xf, index: 0, size: 0x4000n, offset: 0n, caps: [sparseMmapCap([])] }),
    );
    expect(mappableAreas(r)).toEqual([]);
  });

  it('rejects sparse areas running past the region', () => {
    const r = decodeRegionInfo(
      regionInfo({
        flags: 0xf,
        index: 0,
        size: 0x4000n,
        offset: 0n,
        caps: [sparseMmapCap([{ offset: 0x3000n, size: 0x2000n }])],
      }),
    );
    expect(() => mappableAreas(r)).toThrow(DecodeError);
  });

  it('a zero-size region (unused BAR) has no mappable area', () => {
    const r = decodeRegionInfo(regionInfo({ flags: 0, index: 1, size: 0n, offset: regionOffset(1) }));
    expect(mappableAreas(r)).toEqual([]);
  });

  it('a TYPE cap names the region; the fixture WC type is unknown to the table', () => {
    const r = decodeRegionInfo(wcRegion());
    expect(r.caps).toEqual([{ type: 'type', regionType: FIXTURE_WC_TYPE, subtype: FIXTURE_WC_SUBTYPE }]);
    expect(regionName(r.index, r.caps)).toBe('type:0x80001af4/0x57');
    expect(regionTypeVendor(FIXTURE_WC_TYPE)).toBe(0x1af4);
  });

  it('known TYPE pairs get their names', () => {
    const igd = (abi.VFIO_REGION_TYPE_PCI_VENDOR_TYPE | 0x8086) >>> 0;
    const r = decodeRegionInfo(
      regionInfo({
        flags: 0xb,
        index: 9,
        size: 0x2000n,
        offset: regionOffset(9),
        caps: [typeCap(igd, abi.VFIO_REGION_SUBTYPE_INTEL_IGD_OPREGION)],
      }),
    );
    expect(regionName(r.index, r.caps)).toBe('igd-opregion');
    expect(regionTypeName(abi.VFIO_REGION_TYPE_GFX, abi.VFIO_REGION_SUBTYPE_GFX_EDID)).toBe('gfx-edid');
    expect(regionTypeName(abi.VFIO_REGION_TYPE_CCW, abi.VFIO_REGION_SUBTYPE_CCW_CRW)).toBe('ccw-crw');
    expect(regionTypeName(0x80000000, 1)).toBe('type:0x80000000/0x1');
    expect(regionTypeVendor(abi.VFIO_REGION_TYPE_GFX)).toBeUndefined();
  });

  it('a device-specific index without a TYPE cap is region<N>', () => {
    expect(regionName(12)).toBe('region12');
    expect(regionName(abi.VFIO_PCI_VGA_REGION_INDEX)).toBe('VGA');
    expect(regionName(abi.VFIO_PCI_ROM_REGION_INDEX)).toBe('ROM');
  });

  it('keeps unknown caps with their bytes', () => {
    const body = new Uint8Array([0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4]);
    const r = decodeRegionInfo(
      regionInfo({
        flags: 0xf,
        index: 0,
        size: 0x1000n,
        offset: 0n,
        caps: [{ id: 0x42, version: 3, body }, { id: 3 }],
      }),
    );
    expect(r.caps[1]).toEqual({ type: 'msix-mappable' });
    const u = r.caps[0];
    expect(u).toMatchObject({ type: 'unknown', id: 0x42, version: 3 });
    if (u.type !== 'unknown') throw new Error('expected unknown');
    expect(u.bytes.length).toBe(16); // header + body, up to the next cap
    expect(Array.from(u.bytes.subarray(8))).toEqual(Array.from(body));
  });

  it('argsz larger than the buffer: the kernel wants a re-call, no caps are read', () => {
    const first = regionInfo({ flags: 0xf, index: 0, size: 0x4000n, offset: 0n, argsz: 0x50 });
    expect(first.length).toBe(32);
    expect(needsLargerBuffer(first)).toBe(true);
    const r = decodeRegionInfo(first);
    expect(r.argsz).toBe(0x50);
    expect(r.caps).toEqual([]);
    expect(needsLargerBuffer(nvmeBar0())).toBe(false);
  });

  it('a cap_offset beyond the returned data is an error, not a read of stale bytes', () => {
    const buf = new Uint8Array(64);
    buf.set(eduBar0());
    patchU32(buf, 12, 40);
    patchU32(buf, 0, 32); // kernel wrote only the fixed struct
    expect(() => decodeRegionInfo(buf)).toThrow(DecodeError);
  });

  it('a truncated SPARSE_MMAP body is an error', () => {
    const buf = sparseAroundMsix();
    const nrAt = 32 + 8;
    patchU32(buf, nrAt, 5); // claims 5 areas, holds 2
    expect(() => decodeRegionInfo(buf)).toThrow(/truncated/);
  });

  it('a buffer shorter than the struct is an error', () => {
    expect(() => decodeRegionInfo(new Uint8Array(16))).toThrow(DecodeError);
  });

  it('a loop in region caps is an error', () => {
    const buf = regionInfo({ flags: 0xf, index: 0, size: 0x1000n, offset: 0n, caps: [{ id: 3 }, { id: 3 }] });
    patchU32(buf, 40 + 4, 32);
    expect(() => decodeRegionInfo(buf)).toThrow(/loops/);
  });
});
