/**
 * `vfio/user`: PCI device models written in TypeScript, served to a vfio-user client (QEMU's
 * vfio-user-pci) over a UNIX socket. Start with {@link defineModel} and {@link VfioUserServer.listen}.
 * @module
 */
// vfio/user: device models in TypeScript, served to a vfio-user client (QEMU's vfio-user-pci)
// over a UNIX socket. docs/device-models.md walks through a model.
export { VfioUserServer, type ServerOptions, type ServerEvents } from './server';
export { defineModel } from './model';
export type {
  AccessSize,
  BarDescription,
  Capability,
  DeviceBehaviour,
  DeviceContext,
  DeviceDescription,
  DeviceModel,
  DmaAccess,
  RegisterValue,
} from './model';
export { ConfigSpace, type CapabilityLayout } from './config';
export {
  withFaults,
  FaultControl,
  FAULT_REGS,
  FAULT_MAGIC,
  FAULT_DROP_IRQ,
  FAULT_DEAD,
  FAULT_ACCESS_ERROR,
  FAULT_BAR_SIZE,
  DMA_FAULTS,
  MAX_FAULT_DELAY_MS,
  MAX_FAULT_STALL_MS,
  type Faults,
  type FaultCounters,
  type FaultEvents,
  type FaultyModel,
  type DmaRecord,
} from './faults';
/** The vfio-user wire format: header, command numbers, payload encoders and decoders. */
export * as protocol from './protocol';
