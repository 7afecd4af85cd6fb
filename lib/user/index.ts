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
/** The vfio-user wire format: header, command numbers, payload encoders and decoders. */
export * as protocol from './protocol';
