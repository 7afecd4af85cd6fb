// Public API of the `vfio` package.
export { Device, DeviceOpenOptions, DeviceIrqInfo, ResourcePhase } from './device';
export { Region, MapOptions, mapAlignment } from './region';
export { Mapping, MemAttr, EffectiveMemAttr, MemattrAlias } from './mapping';
export { ConfigSpace, PCI_COMMAND, PCI_COMMAND_IO, PCI_COMMAND_MEMORY, PCI_COMMAND_MASTER, PCI_COMMAND_INTX_DISABLE } from './config';
export { Irq, IrqEvent, IrqOptions, IrqIndex, EnableOptions } from './irq';
export { Type1Context, Type1Options } from './iommu/type1';
export { IommufdContext, IommufdOptions, IommufdMember, DeviceAddress } from './iommu/iommufd';
export { IommuContext } from './iommu/open';
export { IommuContextBase, BackendName, BackendChoice, IommuKind, DeviceTarget } from './iommu/context';
export { BackendFacts, DeviceNodeOptions, chooseBackend } from './iommu/backend';
export { IoasFileMapping, DmaBufMapOptions } from './iommu/ioas-file';
export { resolveTarget } from './device-target';
export { IommuHwInfo, VtdHwInfo, VtdCap, VtdEcap, IommuHwType } from './decode/iommufd';
export { DmaBuffer, DmaAllocateOptions } from './dma';
export { DmaMapping, DmaMapOptions } from './dma-map';
export { IovaAllocator, IovaRange } from './iommu/iova';
export { ResetKind } from './reset';
export {
  VfioError, NotSupportedError, PermissionError, BusyError, ClosedError, InvalidArgumentError,
  errnoError, errnoName,
} from './errors';
export { DecodeError } from './decode/errors';
export * as abi from './abi';
export * as decode from './decode';
export * as sysfs from './sysfs';
export * from './features';
export { DmaBuf, DmaBufRange, DmaBufRangeInput, DmaBufFdinfo, parseDmaBufFdinfo } from './dmabuf';
export * from './feature-table';
export {
  MmapCookie, CookieOptions, CookieMemAttr, Backing, RouteChoice, RouteProbe, MemattrRoutesReport, MemattrTables,
  MemattrFeature, WcRegionType, Route, CookieKey, memattrTables, wcRegionTypesPerBar, DEFAULT_ROUTES,
} from './cookie';
export * as cookie from './cookie';
