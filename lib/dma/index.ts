// DMA: buffers a device can reach, their IOMMU mappings in an IOVA space, and dma-bufs.
export * from './buffer';
export * from './map';
export * from './iova';
export * from './dmabuf';
export * from './pool';
