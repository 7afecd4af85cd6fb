/**
 * The Linux VFIO uAPI for Node.js: open a device bound to vfio-pci ({@link Device.open}), read
 * and write its regions width-exact, map BARs ({@link Mapping}), enable interrupts
 * ({@link IrqIndex}), allocate and map DMA memory ({@link DmaBuffer}) through its IOMMU context,
 * and use the device features the kernel offers. Every error is a {@link VfioError}.
 *
 * @module vfio
 */
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
export { Irq, IrqEvent, IrqEventMap, IrqOptions, IrqOwner, IrqIndex, IrqWaitOptions, EnableOptions } from './irq';
export { DeviceEventMap } from './device/events';
export { TypedEventEmitter, TypedEmitter, TypedEvents, EventMap, EmitterEvents, AllEvents, Listener } from './events';
export { Type1Context, Type1Options, Type1IommuType } from './iommu/type1';
export { IommufdContext, IommufdOptions, IommufdMember, DeviceAddress } from './iommu/iommufd';
export { IommuContext } from './iommu/open';
export {
  IommuContextBase,
  BackendName,
  BackendChoice,
  IommuKind,
  DeviceTarget,
  OpenDeviceOptions,
  OpenedDevice,
} from './iommu/context';
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
/**
 * The VFIO and iommufd uAPI constants, struct sizes and field offsets (Linux 7.3), generated from
 * the addon's own ABI headers, with the name lookups the decoders print.
 */
export * as abi from './abi';
/**
 * Pure decoders: kernel structs, PCI config space and sysfs/debugfs text in, plain typed objects
 * out. They touch no device; malformed input throws {@link DecodeError}.
 */
export * as decode from './decode';
/**
 * What sysfs says about PCI devices (driver, IOMMU group, IDs) and binding a device to vfio-pci
 * and back ({@link sysfs.bind}, {@link sysfs.unbind}, {@link sysfs.groupViability}).
 */
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
/**
 * mmap cookies and write-combining: the routes to a WC mapping the running kernel offers, their
 * probes and reports, and the PAT reader that says what memory type a mapping really got.
 */
export * as cookie from './cookie';
