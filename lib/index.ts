// Public API of the `vfio` package.
export { Device, DeviceOpenOptions, DeviceIrqInfo, ResourcePhase } from './device/device';
export { Region, MapOptions, mapAlignment } from './device/region';
export { Ioeventfd, IoeventfdOptions, IoeventfdWidth } from './device/ioeventfd';
export { Mapping, MemAttr, EffectiveMemAttr, MemattrAlias } from './memory/mapping';
export {
  ConfigSpace,
  PCI_COMMAND,
  PCI_COMMAND_IO,
  PCI_COMMAND_MEMORY,
  PCI_COMMAND_MASTER,
  PCI_COMMAND_INTX_DISABLE,
} from './device/config-space';
export { Irq, IrqEvent, IrqEventMap, IrqOptions, IrqOwner, IrqIndex, EnableOptions } from './irq';
export { DeviceEventMap } from './device/events';
export { TypedEventEmitter, TypedEmitter, TypedEvents, EventMap, EmitterEvents, AllEvents, Listener } from './events';
export { Type1Context, Type1Options } from './iommu/type1';
export { IommufdContext, IommufdOptions, IommufdMember, DeviceAddress } from './iommu/iommufd';
export { IommuContext } from './iommu/open';
export { IommuContextBase, BackendName, BackendChoice, IommuKind, DeviceTarget, OpenedDevice } from './iommu/context';
export { BackendFacts, DeviceNodeOptions, chooseBackend } from './iommu/backend';
export { IoasFileMapping, DmaBufMapOptions } from './iommu/ioas-file';
export { resolveTarget } from './device/target';
export { IommuHwInfo, VtdHwInfo, VtdCap, VtdEcap, IommuHwType } from './decode/iommufd';
export { DmaBuffer, DmaAllocateOptions, DmaMapping } from './dma/buffer';
export { DmaMapOptions } from './dma/map';
export {
  IovaAllocator,
  IovaRange,
  IovaAllocation,
  IovaAllocatorOptions,
  AllocateOptions,
  IovaConstraint,
} from './dma/iova';
export { ResetKind } from './device/reset';
export { DmaPool, DmaPoolOptions, DmaBlock, DmaPoolExhaustedError, DmaPoolSpace, DmaPoolOwner } from './dma/pool';
export { WaitForOptions, Pollable, waitFor } from './memory/poll';
export { Invocation } from './system/hints';
export { acquireFence, releaseFence, orderingNeedsFences } from './memory/ordering';
export {
  VfioError,
  NotSupportedError,
  PermissionError,
  BusyError,
  ClosedError,
  RevokedError,
  InvalidArgumentError,
  TimeoutError,
  ErrorContext,
  VfioErrorInit,
  VfioErrorCode,
  ErrnoCode,
  OwnErrorCode,
  CloseError,
  errnoError,
  errnoName,
} from './errors';
export { DecodeError } from './decode/errors';
export * as abi from './abi';
export * as decode from './decode';
export * as sysfs from './sysfs';
export * from './features/device-features';
export { DmaBuf, DmaBufDependent, DmaBufRange, DmaBufRangeInput, DmaBufFdinfo, parseDmaBufFdinfo } from './dma/dmabuf';
export * from './features/table';
export {
  MmapCookie,
  CookieOptions,
  CookieMemAttr,
  Backing,
  RouteChoice,
  RouteProbe,
  MemattrRoutesReport,
  MemattrTables,
  MemattrFeature,
  RevokeFeature,
  WcRegionType,
  Route,
  CookieKey,
  memattrTables,
  wcRegionTypesPerBar,
  DEFAULT_ROUTES,
} from './cookie';
export * as cookie from './cookie';
