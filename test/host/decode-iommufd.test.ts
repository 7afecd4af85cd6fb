// IOMMU_GET_HW_INFO decoding (the VT-d registers field by field), the page sizes derived from
// it, and the IOAS helpers: the ranges a newly attached device takes away, the IOVA granule.
import {
  decodeIommuHwInfo,
  decodeVtdCap,
  decodeVtdEcap,
  decodeVtdHwInfo,
  vtdPageSizes,
} from '../../lib/decode/iommufd';
import { DecodeError } from '../../lib/decode/errors';
import { excludedSpans, ioasMapFlags, ioasPage } from '../../lib/iommu/iommufd-dma';

// QEMU's emulated VT-d (hw/i386/intel_iommu.c defaults, aw-bits=39): ND=6 (65536 domains), 39-bit
// SAGAW, MGAW 39, fault recording at 0x220, 2 MiB and 1 GiB second-level pages, PSI, MAMV 18.
const QEMU_CAP = 6n | (0x2n << 8n) | (38n << 16n) | (0x22n << 24n) | (3n << 34n) | (1n << 39n) | (18n << 48n);
// Queued invalidation, interrupt remapping, EIM, pass-through, IRO 0xf (IOTLB at 0xf0 + 8).
const QEMU_ECAP = (1n << 1n) | (1n << 3n) | (1n << 4n) | (1n << 6n) | (0xfn << 8n);

function vtdPayload(flags: number, cap: bigint, ecap: bigint): Uint8Array {
  const b = new Uint8Array(24);
  const dv = new DataView(b.buffer);
  dv.setUint32(0, flags, true);
  dv.setBigUint64(8, cap, true);
  dv.setBigUint64(16, ecap, true);
  return b;
}

describe('VT-d capability registers', () => {
  it('decode the fields QEMU sets', () => {
    expect(decodeVtdCap(QEMU_CAP)).toEqual({
      raw: QEMU_CAP,
      domains: 65536,
      cachingMode: false,
      sagaw: [39],
      mgaw: 39,
      faultRecordingOffset: 0x220,
      secondLevelLargePages: (1n << 21n) | (1n << 30n),
      pageSelectiveInvalidation: true,
      faultRecordingRegisters: 1,
      firstLevel1GiB: false,
      postedInterrupts: false,
    });
    expect(decodeVtdEcap(QEMU_ECAP)).toEqual({
      raw: QEMU_ECAP,
      coherent: false,
      queuedInvalidation: true,
      deviceTlb: false,
      interruptRemapping: true,
      extendedInterruptMode: true,
      passThrough: true,
      nested: false,
      pasid: false,
      pasidBits: 0,
      scalableMode: false,
      secondLevelAccessedDirty: false,
      secondLevelTranslation: false,
      firstLevelTranslation: false,
    });
  });

  it('decode high bits without losing them: 4- and 5-level SAGAW, caching mode, PASID width, scalable mode', () => {
    const cap = decodeVtdCap((0xcn << 8n) | (1n << 7n) | (56n << 16n) | (1n << 56n) | (1n << 59n) | (7n << 40n));
    expect(cap).toMatchObject({
      sagaw: [48, 57],
      cachingMode: true,
      mgaw: 57,
      firstLevel1GiB: true,
      postedInterrupts: true,
      faultRecordingRegisters: 8,
    });
    const ecap = decodeVtdEcap((1n << 40n) | (19n << 35n) | (1n << 43n) | (1n << 47n) | (1n << 46n) | 1n);
    expect(ecap).toMatchObject({
      pasid: true,
      pasidBits: 20,
      scalableMode: true,
      firstLevelTranslation: true,
      secondLevelTranslation: true,
      coherent: true,
    });
  });

  it('struct iommu_hw_info_vtd: flags with the Sapphire Rapids erratum, and the two registers', () => {
    const info = decodeVtdHwInfo(vtdPayload(1, QEMU_CAP, QEMU_ECAP));
    expect(info.flags).toBe(1);
    expect(info.errata772415).toBe(true);
    expect(info.cap.raw).toBe(QEMU_CAP);
    expect(info.ecap.raw).toBe(QEMU_ECAP);
    expect(() => decodeVtdHwInfo(new Uint8Array(16))).toThrow(DecodeError);
  });

  it('page sizes: second-level large pages without scalable mode, first-level ones with it', () => {
    const legacy = decodeVtdHwInfo(vtdPayload(0, QEMU_CAP, QEMU_ECAP));
    expect(vtdPageSizes(legacy, 0x1000n)).toBe(0x1000n | 0x200000n | 0x40000000n);
    const scalable = decodeVtdHwInfo(vtdPayload(0, QEMU_CAP, QEMU_ECAP | (1n << 43n) | (1n << 47n)));
    expect(vtdPageSizes(scalable, 0x1000n)).toBe(0x1000n | 0x200000n);
    const fl1g = decodeVtdHwInfo(vtdPayload(0, QEMU_CAP | (1n << 56n), QEMU_ECAP | (1n << 43n) | (1n << 47n)));
    expect(vtdPageSizes(fl1g, 0x1000n)).toBe(0x1000n | 0x200000n | 0x40000000n);
  });
});

describe('decodeIommuHwInfo', () => {
  it('VT-d: type, generic capabilities, PASID width, the payload the kernel filled', () => {
    const buf = new Uint8Array(256);
    buf.set(vtdPayload(0, QEMU_CAP, QEMU_ECAP));
    const info = decodeIommuHwInfo(1, BigUint64Array.of(0b1001n, 24n, 0n), buf);
    expect(info.type).toBe('intel-vtd');
    expect(info.rawType).toBe(1);
    expect(info.capabilities).toEqual({
      dirtyTracking: true,
      pasidExec: false,
      pasidPriv: false,
      atsNotSupported: true,
    });
    expect(info.maxPasidLog2).toBe(0);
    expect(info.data).toHaveLength(24);
    expect(info.vtd?.cap.mgaw).toBe(39);
  });

  it('other IOMMUs keep their payload undecoded; unknown types are named so', () => {
    const buf = Uint8Array.from({ length: 64 }, (_, i) => i);
    const smmu = decodeIommuHwInfo(2, BigUint64Array.of(0n, 44n, 20n), buf);
    expect(smmu).toMatchObject({ type: 'arm-smmuv3', maxPasidLog2: 20, vtd: undefined });
    expect([...smmu.data]).toEqual([...buf.subarray(0, 44)]);
    expect(decodeIommuHwInfo(0, BigUint64Array.of(0n, 0n, 0n), buf)).toMatchObject({
      type: 'none',
      data: new Uint8Array(0),
    });
    expect(decodeIommuHwInfo(99, BigUint64Array.of(0n, 0n, 0n), buf).type).toBe('unknown');
    // A data_len larger than our buffer is clamped to what the buffer holds.
    expect(decodeIommuHwInfo(4, BigUint64Array.of(0n, 4096n, 0n), buf).data).toHaveLength(64);
  });
});

describe('IOAS helpers', () => {
  const PAGE = 0x1000n;

  it('excludedSpans: what a new device reserves inside the ranges the allocator was built on', () => {
    const full = [{ start: 0n, end: (1n << 39n) - 1n }];
    const vtd = [
      { start: 0n, end: 0xfedfffffn },
      { start: 0xfef00000n, end: 0x7fffffffffn },
    ];
    expect(excludedSpans(full, vtd, PAGE)).toEqual([{ start: 0xfee00000n, end: 0xfeefffffn }]);
    expect(excludedSpans(vtd, vtd, PAGE)).toEqual([]);
    // A narrower top end and an unaligned reserved range, rounded out to whole pages.
    expect(
      excludedSpans(
        full,
        [
          { start: 0x1000n, end: 0x5800n },
          { start: 0x7000n, end: 0xffffffffn },
        ],
        PAGE,
      ),
    ).toEqual([
      { start: 0n, end: 0xfffn },
      { start: 0x5000n, end: 0x6fffn },
      { start: 0x100000000n, end: (1n << 39n) - 1n },
    ]);
    expect(excludedSpans(vtd, [], PAGE)).toEqual(vtd);
  });

  it('ioasPage never goes below the CPU page; map flags always fix the IOVA', () => {
    expect(ioasPage(1n, PAGE)).toBe(PAGE);
    expect(ioasPage(0x10000n, PAGE)).toBe(0x10000n);
    expect(ioasMapFlags(true, true)).toBe(1 | 2 | 4);
    expect(ioasMapFlags(true, false)).toBe(1 | 4);
    expect(ioasMapFlags(false, true)).toBe(1 | 2);
  });
});
