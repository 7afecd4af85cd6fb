import * as abi from '../../lib/abi';

describe('uAPI constants', () => {
  it('carry the header values', () => {
    expect(abi.VFIO_REGION_INFO_FLAG_MMAP).toBe(4);
    expect(abi.VFIO_REGION_INFO_CAP_MSIX_MAPPABLE).toBe(3);
    expect(abi.VFIO_REGION_TYPE_PCI_VENDOR_TYPE).toBe(0x80000000);
    expect(abi.VFIO_PCI_CONFIG_REGION_INDEX).toBe(7);
    expect(abi.VFIO_PCI_NUM_REGIONS).toBe(9);
    expect(abi.VFIO_PCI_REQ_IRQ_INDEX).toBe(4);
    expect(abi.VFIO_IRQ_SET_DATA_TYPE_MASK).toBe(7);
    expect(abi.VFIO_IRQ_SET_ACTION_TYPE_MASK).toBe(0x38);
    expect(abi.VFIO_DEVICE_FEATURE_PROBE).toBe(0x40000);
    expect(abi.VFIO_DEVICE_FEATURE_DMA_BUF).toBe(11);
    expect(abi.VFIO_DEVICE_FEATURE_ZPCI_ERROR).toBe(13);
    expect(abi.VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL).toBe(3);
    expect(abi.IOMMU_IOAS_MAP_READABLE).toBe(4);
    expect(abi.VFIO_PCI_DEVID_NOT_OWNED).toBe(-1);
  });

  it('every exported constant is a finite integer', () => {
    const consts = Object.entries(abi).filter(([, v]) => typeof v === 'number');
    expect(consts.length).toBeGreaterThan(100);
    for (const [, v] of consts) expect(Number.isInteger(v)).toBe(true);
  });
});

describe('lookup helpers', () => {
  it('region and irq index names', () => {
    expect([0, 5, 6, 7, 8, 9].map(abi.pciRegionIndexName)).toEqual(['BAR0', 'BAR5', 'ROM', 'CONFIG', 'VGA', 'region9']);
    expect([0, 1, 2, 3, 4, 5].map(abi.pciIrqIndexName)).toEqual(['INTX', 'MSI', 'MSIX', 'ERR', 'REQ', 'irq5']);
  });

  it('feature names and indices for 0-13; later indices are not guessed', () => {
    expect(abi.KNOWN_FEATURES).toHaveLength(14);
    expect(abi.featureName(abi.VFIO_DEVICE_FEATURE_DMA_BUF)).toBe('DMA_BUF');
    expect(abi.featureName(abi.VFIO_DEVICE_FEATURE_LOW_POWER_ENTRY_WITH_WAKEUP)).toBe('LOW_POWER_ENTRY_WITH_WAKEUP');
    expect(abi.featureName(14)).toBe('feature14');
    expect(abi.featureIndex('VFIO_DEVICE_FEATURE_BUS_MASTER')).toBe(10);
    expect(abi.featureIndex('MIG_PRECOPY_INFOv2')).toBe(12);
    expect(abi.featureIndex('NOPE')).toBeUndefined();
    for (let i = 0; i < abi.KNOWN_FEATURES.length; i++) {
      const full = `VFIO_DEVICE_FEATURE_${abi.featureName(i)}` as keyof typeof abi;
      expect(abi[full]).toBe(i);
    }
  });

  it('featureFlags packs index and operations', () => {
    expect(abi.featureFlags(11, { probe: true, get: true })).toBe(11 | 0x10000 | 0x40000);
    expect(abi.featureFlags(3, { set: true })).toBe(3 | 0x20000);
    expect(() => abi.featureFlags(0x10000, {})).toThrow(RangeError);
  });

  it('migration state names and values', () => {
    expect(abi.migStateName(abi.VFIO_DEVICE_STATE_PRE_COPY_P2P)).toBe('PRE_COPY_P2P');
    expect(abi.migStateName(9)).toBe('state9');
    expect(abi.migStateValue('VFIO_DEVICE_STATE_RUNNING')).toBe(2);
  });

  it('extension names', () => {
    expect(abi.extensionName(abi.VFIO_TYPE1v2_IOMMU)).toBe('VFIO_TYPE1v2_IOMMU');
    expect(abi.extensionName(6)).toBe('extension6');
  });
});
