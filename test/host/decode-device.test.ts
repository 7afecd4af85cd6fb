import * as abi from '../../lib/abi';
import {
  DEVICE_INFO_SIZE,
  DecodeError,
  decodeDeviceInfo,
  decodeHotResetInfo,
  decodeIrqInfo,
  hotResetInfoRequiredSize,
  hotResetInfoSize,
  needsLargerBuffer,
} from '../../lib/decode';
import { atomicCompCap, deviceInfo, hotResetInfo, irqInfo, patchU32 } from '../fixtures/build';

describe('decodeDeviceInfo', () => {
  it('a vfio-pci device: RESET|PCI, 9 regions, 5 irqs, no caps', () => {
    const d = decodeDeviceInfo(
      deviceInfo({
        flags: abi.VFIO_DEVICE_FLAGS_RESET | abi.VFIO_DEVICE_FLAGS_PCI,
        numRegions: 9,
        numIrqs: 5,
      }),
    );
    expect(d).toMatchObject({ argsz: DEVICE_INFO_SIZE, numRegions: 9, numIrqs: 5, capOffset: 0, caps: [] });
    expect(d.flags).toEqual({
      reset: true,
      pci: true,
      platform: false,
      amba: false,
      ccw: false,
      ap: false,
      fslMc: false,
      caps: false,
      cdx: false,
    });
  });

  it('decodes PCI_ATOMIC_COMP and keeps an unknown cap with its bytes', () => {
    const body = new Uint8Array([9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 0, 0, 0, 0, 0, 0]);
    const d = decodeDeviceInfo(
      deviceInfo({
        flags: abi.VFIO_DEVICE_FLAGS_PCI | abi.VFIO_DEVICE_FLAGS_CAPS,
        numRegions: 9,
        numIrqs: 5,
        caps: [atomicCompCap(abi.VFIO_PCI_ATOMIC_COMP32 | abi.VFIO_PCI_ATOMIC_COMP64), { id: 0x99, version: 7, body }],
      }),
    );
    expect(d.flags.caps).toBe(true);
    expect(d.caps[0]).toEqual({ type: 'pci-atomic-comp', flags: 3, comp32: true, comp64: true, comp128: false });
    expect(d.caps[1]).toMatchObject({ type: 'unknown', id: 0x99, version: 7 });
    const u = d.caps[1];
    if (u.type !== 'unknown') throw new Error('expected unknown');
    expect(Array.from(u.bytes.subarray(8))).toEqual(Array.from(body));
  });

  it('names s390 zPCI caps and keeps their bytes', () => {
    const d = decodeDeviceInfo(
      deviceInfo({
        flags: abi.VFIO_DEVICE_FLAGS_PCI | abi.VFIO_DEVICE_FLAGS_CAPS,
        numRegions: 9,
        numIrqs: 5,
        caps: [{ id: abi.VFIO_DEVICE_INFO_CAP_ZPCI_GROUP, body: new Uint8Array(24) }],
      }),
    );
    expect(d.caps[0]).toMatchObject({ type: 'zpci', kind: 'group', id: 2 });
  });

  it('a truncated ATOMIC_COMP cap is an error', () => {
    const buf = deviceInfo({ flags: 0x80, numRegions: 9, numIrqs: 5, caps: [{ id: 5, body: new Uint8Array(0) }] });
    expect(() => decodeDeviceInfo(buf)).toThrow(/truncated/);
  });

  it('argsz larger than the buffer asks for a re-call', () => {
    const buf = deviceInfo({ flags: 0x82, numRegions: 9, numIrqs: 5 });
    patchU32(buf, 0, 48);
    expect(needsLargerBuffer(buf)).toBe(true);
    expect(decodeDeviceInfo(buf).caps).toEqual([]);
  });

  it('next pointing outside the buffer is an error', () => {
    const buf = deviceInfo({ flags: 0x80, numRegions: 9, numIrqs: 5, caps: [atomicCompCap(1)] });
    patchU32(buf, 24 + 4, 0xfff0);
    expect(() => decodeDeviceInfo(buf)).toThrow(DecodeError);
  });
});

describe('decodeIrqInfo', () => {
  it('edu INTx: eventfd, maskable, automasked, one vector', () => {
    const i = decodeIrqInfo(
      irqInfo(abi.VFIO_IRQ_INFO_EVENTFD | abi.VFIO_IRQ_INFO_MASKABLE | abi.VFIO_IRQ_INFO_AUTOMASKED, 0, 1),
    );
    expect(i).toMatchObject({ argsz: 16, index: 0, count: 1 });
    expect(i.flags).toEqual({ eventfd: true, maskable: true, automasked: true, noresize: false });
    expect(abi.pciIrqIndexName(i.index)).toBe('INTX');
  });

  it('nvme MSI-X: 65 vectors, eventfd + noresize', () => {
    const i = decodeIrqInfo(irqInfo(abi.VFIO_IRQ_INFO_EVENTFD | abi.VFIO_IRQ_INFO_NORESIZE, 2, 65));
    expect(i.count).toBe(65);
    expect(i.flags.noresize).toBe(true);
    expect(abi.pciIrqIndexName(i.index)).toBe('MSIX');
  });

  it('a short buffer is an error', () => {
    expect(() => decodeIrqInfo(new Uint8Array(12))).toThrow(DecodeError);
  });
});

describe('decodeHotResetInfo', () => {
  it('group form: group ids and BDFs', () => {
    const h = decodeHotResetInfo(
      hotResetInfo(0, [
        { id: 12, segment: 0, bus: 0, devfn: (3 << 3) | 0 },
        { id: 13, segment: 1, bus: 0x3a, devfn: (0x1f << 3) | 7 },
      ]),
    );
    expect(h).toMatchObject({ devIdForm: false, allOwned: false, count: 2 });
    expect(h.devices[0]).toEqual({
      bdf: '0000:00:03.0',
      segment: 0,
      bus: 0,
      devfn: 0x18,
      slot: 3,
      func: 0,
      groupId: 12,
      devid: null,
      owned: null,
    });
    expect(h.devices[1].bdf).toBe('0001:3a:1f.7');
  });

  it('devid form: owned, implicitly owned and not-owned entries', () => {
    const flags = abi.VFIO_PCI_HOT_RESET_FLAG_DEV_ID;
    const h = decodeHotResetInfo(
      hotResetInfo(flags, [
        { id: 5, segment: 0, bus: 0, devfn: 0x18 },
        { id: abi.VFIO_PCI_DEVID_OWNED, segment: 0, bus: 0, devfn: 0x19 },
        { id: 0xffffffff, segment: 0, bus: 0, devfn: 0x20 },
      ]),
    );
    expect(h.devIdForm).toBe(true);
    expect(h.allOwned).toBe(false);
    expect(h.devices.map((d) => [d.devid, d.owned, d.groupId])).toEqual([
      [5, true, null],
      [0, true, null],
      [-1, false, null],
    ]);
    expect(h.devices[2].devid).toBe(abi.VFIO_PCI_DEVID_NOT_OWNED);
  });

  it('DEV_ID_OWNED counts only in the devid form', () => {
    const owned = abi.VFIO_PCI_HOT_RESET_FLAG_DEV_ID | abi.VFIO_PCI_HOT_RESET_FLAG_DEV_ID_OWNED;
    expect(decodeHotResetInfo(hotResetInfo(owned, [])).allOwned).toBe(true);
    expect(decodeHotResetInfo(hotResetInfo(abi.VFIO_PCI_HOT_RESET_FLAG_DEV_ID_OWNED, [])).allOwned).toBe(false);
  });

  it('ENOSPC answer: count tells the size needed; decoding it is an error', () => {
    const full = hotResetInfo(0, [
      { id: 1, segment: 0, bus: 0, devfn: 0 },
      { id: 2, segment: 0, bus: 0, devfn: 8 },
    ]);
    const short = full.slice(0, 12);
    expect(hotResetInfoRequiredSize(short)).toBe(28);
    expect(hotResetInfoSize(2)).toBe(28);
    expect(() => decodeHotResetInfo(short)).toThrow(DecodeError);
    expect(() => decodeHotResetInfo(new Uint8Array(8))).toThrow(DecodeError);
  });
});
