import {
  DecodeError,
  PCI_CAP_ID_MSI,
  PCI_CAP_ID_MSIX,
  PCI_EXT_CAP_ID_SRIOV,
  decodeConfigHeader,
  decodeMsiCap,
  decodeMsixCap,
  decodePcieCap,
  decodePmCap,
  findPciCap,
  findPciExtCap,
  msixTableBytes,
  pciCapName,
  pciCapabilities,
  pciExtCapName,
  pciExtCapabilities,
  pciIdString,
} from '../../lib/decode';
import { ConfigImage, msiBody, patchU32, patchU8 } from '../fixtures/build';
import { NVME_MSIX, eduConfig, ivshmemConfig, nvmeConfig } from '../fixtures/devices';
import { must } from '../support/must';

describe('config header', () => {
  it('edu', () => {
    const h = decodeConfigHeader(eduConfig());
    expect(h).toMatchObject({
      vendorId: 0x1234,
      deviceId: 0x11e8,
      revision: 0x10,
      classCode: 0x00ff00,
      headerType: 0,
      multiFunction: false,
      subsystemVendorId: 0x1af4,
      subsystemId: 0x1100,
      interruptPin: 1,
      interruptLine: 11,
      capPointer: 0x40,
    });
    expect(h.status & 0x10).toBe(0x10);
    expect(pciIdString(h)).toBe('1234:11e8');
    expect(h.barRaw).toHaveLength(6);
    expect(h.bars[0]).toEqual({
      index: 0,
      raw: 0xfea00000,
      io: false,
      mem64: false,
      prefetchable: false,
      address: 0xfea00000n,
    });
  });

  it('ivshmem BAR2 is 64-bit prefetchable and swallows BAR3', () => {
    const h = decodeConfigHeader(ivshmemConfig());
    const bar2 = must(
      h.bars.find((b) => b.index === 2),
      'h.bars.find((b) => b.index === 2)',
    );
    expect(bar2).toMatchObject({ mem64: true, prefetchable: true, address: 0x800000000n });
    expect(h.bars.map((b) => b.index)).toEqual([0, 1, 2, 4, 5]);
  });

  it('an I/O BAR and a bridge header', () => {
    const img = new ConfigImage(256, {
      vendorId: 0x8086,
      deviceId: 0x1234,
      classCode: 0x060400,
      headerType: 0x81,
      bars: [0xc001, 0],
    }).done();
    const h = decodeConfigHeader(img);
    expect(h.headerType).toBe(1);
    expect(h.multiFunction).toBe(true);
    expect(h.barRaw).toHaveLength(2);
    expect(h.bars[0]).toMatchObject({ io: true, address: 0xc000n });
    expect(h.subsystemVendorId).toBeNull();
  });

  it('a 64-byte image is enough for the header; smaller is an error', () => {
    expect(decodeConfigHeader(eduConfig().slice(0, 64)).vendorId).toBe(0x1234);
    expect(() => decodeConfigHeader(new Uint8Array(32))).toThrow(DecodeError);
  });
});

describe('standard capabilities', () => {
  it('edu: one 64-bit MSI cap', () => {
    const img = eduConfig();
    expect(pciCapabilities(img)).toEqual([{ id: 5, name: 'MSI', offset: 0x40 }]);
    const msi = decodeMsiCap(img, 0x40);
    expect(msi).toMatchObject({
      addr64: true,
      perVectorMasking: false,
      vectorsCapable: 1,
      enabled: false,
      maskBits: null,
    });
  });

  it('nvme: MSI-X, PM, PCIe in list order', () => {
    const img = nvmeConfig();
    expect(pciCapabilities(img).map((c) => [c.name, c.offset])).toEqual([
      ['MSI-X', 0x40],
      ['PM', 0x60],
      ['PCIe', 0x80],
    ]);
    const msix = decodeMsixCap(img, must(findPciCap(img, PCI_CAP_ID_MSIX), 'findPciCap(img, PCI_CAP_ID_MSIX)').offset);
    expect(msix).toEqual({
      tableSize: NVME_MSIX.vectors,
      enabled: false,
      functionMasked: false,
      tableBar: 0,
      tableOffset: NVME_MSIX.tableOffset,
      pbaBar: 0,
      pbaOffset: NVME_MSIX.pbaOffset,
    });
    expect(msixTableBytes(msix)).toEqual({ table: 65 * 16, pba: 16 });
    expect(decodePcieCap(img, 0x80)).toEqual({
      version: 2,
      portType: 0,
      portTypeName: 'endpoint',
      maxPayloadSupported: 128,
      flr: true,
    });
    expect(decodePmCap(img, 0x60)).toEqual({ version: 3, powerState: 0, noSoftReset: true });
  });

  it('MSI with per-vector masking, 32-bit', () => {
    const img = new ConfigImage(256, { vendorId: 1, deviceId: 2, classCode: 0 })
      .cap(0x50, PCI_CAP_ID_MSI, msiBody(0x0100 | (3 << 1) | (2 << 4) | 1, 0xfee00000n, 0x4021, 0x5, 0x1))
      .done();
    expect(decodeMsiCap(img, 0x50)).toEqual({
      enabled: true,
      vectorsCapable: 8,
      vectorsEnabled: 4,
      addr64: false,
      perVectorMasking: true,
      address: 0xfee00000n,
      data: 0x4021,
      maskBits: 5,
      pendingBits: 1,
    });
  });

  it('no CAP_LIST status bit means no caps', () => {
    const img = eduConfig();
    patchU8(img, 0x06, 0);
    expect(pciCapabilities(img)).toEqual([]);
  });

  it('guards: loop, pointer into the header, pointer past a 64-byte image', () => {
    const loop = nvmeConfig();
    patchU8(loop, 0x81, 0x40);
    expect(() => pciCapabilities(loop)).toThrow(/loops/);
    const low = eduConfig();
    patchU8(low, 0x41, 0x20);
    expect(() => pciCapabilities(low)).toThrow(/outside/);
    expect(() => pciCapabilities(eduConfig().slice(0, 64))).toThrow(DecodeError);
  });

  it('reserved low pointer bits are masked', () => {
    const img = eduConfig();
    patchU8(img, 0x34, 0x43);
    expect(pciCapabilities(img)[0].offset).toBe(0x40);
  });

  it('cap decoders refuse a cap running past the image', () => {
    expect(() => decodeMsixCap(new Uint8Array(64), 60)).toThrow(DecodeError);
  });

  it('names', () => {
    expect(pciCapName(0x10)).toBe('PCIe');
    expect(pciCapName(0x09)).toBe('Vendor');
    expect(pciCapName(0xee)).toBe('cap0xee');
    expect(pciExtCapName(0x01)).toBe('AER');
    expect(pciExtCapName(0x1b)).toBe('PASID');
    expect(pciExtCapName(0x7777)).toBe('ecap0x7777');
  });
});

describe('extended capabilities', () => {
  const pcieDevice = (): Uint8Array =>
    new ConfigImage(4096, { vendorId: 0x15b3, deviceId: 0x101e, classCode: 0x020000 })
      .extCap(0x100, 0x01, 2)
      .extCap(0x148, 0x0f, 1)
      .extCap(0x180, 0x10, 1)
      .extCap(0x1c0, 0x1b, 1)
      .done();

  it('walks AER → ATS → SR-IOV → PASID', () => {
    const img = pcieDevice();
    expect(pciExtCapabilities(img)).toEqual([
      { id: 0x01, name: 'AER', version: 2, offset: 0x100 },
      { id: 0x0f, name: 'ATS', version: 1, offset: 0x148 },
      { id: 0x10, name: 'SR-IOV', version: 1, offset: 0x180 },
      { id: 0x1b, name: 'PASID', version: 1, offset: 0x1c0 },
    ]);
    expect(findPciExtCap(img, PCI_EXT_CAP_ID_SRIOV)?.offset).toBe(0x180);
  });

  it('absent for a 256-byte image, a zero header or an all-ones header', () => {
    expect(pciExtCapabilities(eduConfig())).toEqual([]);
    expect(pciExtCapabilities(nvmeConfig())).toEqual([]);
    const ones = pcieDevice();
    patchU32(ones, 0x100, 0xffffffff);
    expect(pciExtCapabilities(ones)).toEqual([]);
  });

  it('guards: loop and pointer below 0x100', () => {
    const loop = pcieDevice();
    patchU32(loop, 0x1c0, (0x1b | (1 << 16) | (0x148 << 20)) >>> 0);
    expect(() => pciExtCapabilities(loop)).toThrow(/loops/);
    const low = pcieDevice();
    patchU32(low, 0x100, (0x01 | (2 << 16) | (0x40 << 20)) >>> 0);
    expect(() => pciExtCapabilities(low)).toThrow(/outside/);
  });
});
