/**
 * The emulated VFIO host, programmatically: `run()` boots a QEMU guest with VFIO devices and
 * runs a command in it, `provisionHost()` fetches and caches the pinned QEMU, busybox and a
 * guest kernel (`provision()`: the same, returning the kernel). The CLI (`vfio-vm`) is a thin
 * layer over these.
 *
 * @module vfio/vm
 */
export { run, RunResult, commandEnv } from './run';
export { provision, provisionHost, EmulatedHost } from './provision';
export { Userland, UserlandInfo } from './archive/userland';
export { Tool } from './archive/userland-tools';
export { Accel, AccelChoice, AccelDecision } from './qemu/accel';
export { defaultDevices, DefaultDevice, DeviceResources, GuestDevice } from './qemu/devices';
export { KernelInfo, KernelSource } from './core/kernel';
export { RunOptions, ProvisionOptions, defaultCacheDir } from './options';
export { VmError, VmErrorKind } from './core/errors';
export { BackendOptions, backendArgs } from './qemu/backends';
export { QmpClient, QmpClientEvents, QmpError, QmpEvent, QmpGreeting } from './qemu/qmp';
export { VmMonitor, MonitorDevice, UnplugOptions, DEFAULT_UNPLUG_TIMEOUT_MS } from './qemu/monitor';
export { REQUEST_PORT_NAME, GuestReply, GuestRequest } from './qemu/guest-requests';
export { requestUnplug, requestPortPath, RequestUnplugOptions } from './guest/unplug-request';
