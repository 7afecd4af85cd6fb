// Pure decoders: kernel structs, config space and sysfs/debugfs text in, plain typed objects out.
// Nothing here touches a device, so all of it is testable from canned bytes.
export * from './errors';
export * from './bytes';
export * from './caps';
export * from './device';
export * from './region';
export * from './region-types';
export * from './irq';
export * from './iommu';
export * from './hot-reset';
export * from './features';
export * from './dma-ranges';
export * from './config';
export * from './pci-caps';
export * from './pci-cap-decode';
export * from './sysfs';
export * from './pat';
export * from './iommufd';
