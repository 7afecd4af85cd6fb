// constants.abi / constants.sizes as the addon exports them from native/abi: well-known values,
// the ioctl numbers' encoding, and agreement with the TypeScript constants in lib/abi (generated
// from the same lists by scripts/gen-abi.js: the compiler's values check the generator's).
import * as tsAbi from '../../lib/abi';
import * as decode from '../../lib/decode';
import { native } from '../../lib/addon/native';

const { abi, sizes } = native().constants;

describe('constants.abi', () => {
  it('has the well-known uAPI values', () => {
    expect(abi.VFIO_API_VERSION).toBe(0);
    expect(abi.VFIO_TYPE1v2_IOMMU).toBe(3);
    expect(abi.VFIO_NOIOMMU_IOMMU).toBe(8);
    expect(abi.VFIO_DEVICE_FEATURE_DMA_BUF).toBe(11);
    expect(abi.VFIO_DEVICE_FEATURE_ZPCI_ERROR).toBe(13);
    expect(abi.VFIO_DEVICE_FEATURE_PROBE).toBe(1 << 18);
    expect(abi.VFIO_REGION_INFO_CAP_MSIX_MAPPABLE).toBe(3);
    expect(abi.VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL).toBe(3);
    expect(abi.IOMMU_IOAS_MAP_FIXED_IOVA).toBe(1);
  });

  it('keeps values the C headers spell as negative or sign-bit ints as JS sees them', () => {
    expect(abi.VFIO_PCI_DEVID_NOT_OWNED).toBe(-1);
    expect(abi.VFIO_REGION_TYPE_PCI_VENDOR_TYPE).toBe(0x80000000);
  });

  it("encodes ioctls as _IO(';', nr): VFIO from 100, iommufd from 0x80", () => {
    if (process.arch !== 'x64' && process.arch !== 'arm64') return; // _IO differs on powerpc/mips/sparc
    expect(abi.VFIO_GET_API_VERSION).toBe(0x3b64);
    expect(abi.VFIO_DEVICE_GET_REGION_INFO).toBe(0x3b6c);
    expect(abi.VFIO_DEVICE_FEATURE).toBe(0x3b75);
    expect(abi.VFIO_IOMMU_MAP_DMA).toBe(0x3b71);
    expect(abi.IOMMU_IOAS_MAP).toBe(0x3b85);
    expect(abi.IOMMU_IOAS_MAP_FILE).toBe(0x3b8f);
  });

  it('does not mirror the reserved ex-nesting IOMMU type', () => {
    expect(Object.keys(abi).filter((k) => k.includes('NESTING'))).toEqual([]);
  });

  it('every value is a safe integer', () => {
    for (const [name, v] of Object.entries(abi)) expect([name, Number.isSafeInteger(v)]).toEqual([name, true]);
  });
});

describe('constants.sizes', () => {
  it('has the uAPI struct sizes', () => {
    expect(sizes.vfio_region_info).toBe(32);
    expect(sizes.vfio_device_info).toBe(24);
    expect(sizes.vfio_irq_set).toBe(20);
    expect(sizes.vfio_device_feature_dma_buf).toBe(16);
    expect(sizes.vfio_iommu_type1_dma_map).toBe(32);
    expect(sizes.iommu_hw_info).toBe(40);
    expect(sizes.iommu_ioas_map_file).toBe(40);
  });
});

describe('agreement with lib/abi', () => {
  it('every generated struct size is the compiled one, and every compiled struct is generated', () => {
    expect(Object.keys(tsAbi.SIZEOF).sort()).toEqual(Object.keys(sizes).sort());
    const differing = Object.entries(tsAbi.SIZEOF).filter(([name, v]) => sizes[name] !== v);
    expect(differing).toEqual([]);
  });

  it('the decoders size their structs from the generated table', () => {
    expect(decode.REGION_INFO_SIZE).toBe(sizes.vfio_region_info);
    expect(decode.HOT_RESET_INFO_SIZE).toBe(sizes.vfio_pci_hot_reset_info);
    expect(decode.DEVICE_INFO_SIZE).toBe(sizes.vfio_device_info);
    expect(decode.IRQ_INFO_SIZE).toBe(sizes.vfio_irq_info);
    expect(decode.TYPE1_INFO_SIZE).toBe(sizes.vfio_iommu_type1_info);
  });

  it('every constant the native lists hold is generated, ioctl numbers aside', () => {
    const ioctls = new Set(Object.keys(abi).filter((n) => !(n in tsAbi)));
    // An _IO(';', nr) request number: the VFIO/iommufd ioctl type ';' in bits 8-15.
    for (const n of ioctls) expect([n, (Number(abi[n]) >> 8) & 0xff]).toEqual([n, ';'.charCodeAt(0)]);
    expect(ioctls.size).toBeGreaterThanOrEqual(30);
  });

  it('every constant both define has the same value', () => {
    const shared = Object.entries(tsAbi).filter(([name, v]) => typeof v === 'number' && name in abi);
    expect(shared.length).toBeGreaterThan(80);
    const differing = shared
      .filter(([name, v]) => abi[name] !== v)
      .map(([name, v]) => `${name}: ts ${v}, native ${abi[name]}`);
    expect(differing).toEqual([]);
  });
});
