// The emulated VFIO host, programmatically: `run()` boots a QEMU guest with VFIO devices and
// runs a command in it, `provision()` fetches and caches a guest kernel. The CLI (`vfio-vm`)
// is a thin layer over these.
export { run, RunResult, commandEnv } from './run';
export { provision } from './provision';
export { defaultDevices, DefaultDevice, DeviceResources, GuestDevice } from './devices';
export { KernelInfo, KernelSource } from './kernel';
export { RunOptions, ProvisionOptions, defaultCacheDir } from './options';
export { VmError, VmErrorKind } from './errors';
export { BackendOptions, backendArgs } from './backends';
