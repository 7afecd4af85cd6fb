// The options of the emulated host, shared by the CLI and the programmatic API.
import type { BackendOptions } from './qemu/backends';
import type { AccelChoice } from './qemu/accel';
import type { VmMonitor } from './qemu/monitor';
import { VmError } from './core/errors';

export { DEFAULT_LISTS_MAX_AGE_SECONDS, defaultCacheDir } from './core/defaults';

/** What to provision: which kernel and where the cache is. Every field optional. */
export interface ProvisionOptions {
  /**
   * A pinned kernel's name (vm/kernels.json, e.g. "6.12"), another Debian kernel release (e.g.
   * "7.3.4+deb13", with or without "-amd64"; its newest package version), or a PATH to a custom
   * kernel: a bzImage/vmlinux file, or a directory laid out as docs/emulated-host.md describes,
   * or "custom": the kernel built from Debian's linux-source with kernel/guest.config (built
   * and cached on first use; it has iommufd, the VFIO cdev, no-IOMMU mode and the mtty sample).
   * Default: the pinned default kernel (vm/kernels.json), at exactly its pinned package version.
   */
  kernel?: string;
  /** Cache directory. Default: $XDG_CACHE_HOME/vfio-vm, else ~/.cache/vfio-vm. */
  cacheDir?: string;
  /** Progress and diagnostic lines (to stderr by default in the CLI). */
  log?: (line: string) => void;
  /** Refresh the package lists when older than this many seconds. Default: one day. */
  listsMaxAgeSeconds?: number;
}

/** What {@link run} boots and runs: the command, the devices, the guest's size and its limits. */
export interface RunOptions extends ProvisionOptions, BackendOptions {
  /** The command and its arguments, run in `cwd` inside the guest. */
  command: string[];
  /**
   * A host QEMU binary to run instead of the provisioned, pinned one (vm/pins.json). Its own
   * firmware directory (/usr/share/qemu) is used.
   */
  qemu?: string;
  /**
   * kvm, tcg, or auto (default): KVM when the CPU has VMX/SVM, kvm_intel/kvm_amd is loaded and a
   * functional check passes; a guest silent under KVM is then rerun under TCG.
   */
  accel?: AccelChoice;
  /** The command's working directory (on the host; the same path in the guest). Default: process.cwd(). */
  cwd?: string;
  /**
   * The host directory shared read-write at the same path; it must contain cwd. Default: the
   * nearest directory at or above cwd with a package.json (so node_modules resolve), else cwd.
   */
  projectDir?: string;
  /** Extra QEMU -device strings, each bound to vfio-pci in its own IOMMU group. */
  devices?: string[];
  /** Leave out edu, ivshmem, nvme and pci-testdev. */
  noDefaultDevices?: boolean;
  /**
   * Put the default ivshmem behind a PCIe root port of its own (0000:02:00.0) instead of on the
   * root bus at 0000:00:04.0: alone on its bus it gets a bus reset, so VFIO_DEVICE_RESET and hot
   * reset work on it (e.g. the sample driver's reset revocation).
   */
  ivshmemRootPort?: boolean;
  /**
   * Add an igb (Intel 82576 with SR-IOV, up to 8 VFs) behind a PCIe root port of its own, bound
   * to vfio-pci; its BDF is in VFIO_VM_IGB. Creating VFs of it needs a guest kernel with
   * CONFIG_PCI_IOV and vfio-pci's enable_sriov (append `vfio_pci.enable_sriov=1`).
   */
  igb?: boolean;
  /**
   * Add a two-function device (edu + virtio-rng) behind a PCIe root port of its own: one IOMMU
   * group and one bus for both, left to the guest's own drivers (tests bind them), announced by
   * VFIO_VM_SHARED_GROUP=1 (qemu/shared-group.ts).
   */
  sharedGroup?: boolean;
  /** Extra kernel command line arguments (NAME.PARAM=V is forwarded to module NAME). */
  append?: string;
  /** Guest memory, QEMU syntax (e.g. "2G"). Default "2G". */
  memory?: string;
  /** Guest CPUs. Default 2. */
  smp?: number;
  /** Whole-run timeout in seconds (boot included). Default 300. */
  timeoutSeconds?: number;
  /** Extra environment for the command. */
  env?: Record<string, string>;
  /** Where the command's output goes. Default: this process's stdout and stderr. */
  stdout?: NodeJS.WritableStream;
  /** Where the command's standard error goes. Default: this process's stderr. */
  stderr?: NodeJS.WritableStream;
  /** Also stream the kernel console (to `log`). */
  verbose?: boolean;
  /** Keep the ivshmem backing file after the run (its path is in the result). */
  keepIvshmem?: boolean;
  /** Interactive shell on the serial console instead of a command (the CLI's `shell`). */
  interactive?: boolean;
  /** Stops the guest (the run then rejects with a VmError). */
  signal?: AbortSignal;
  /**
   * No emulated IOMMU: the guest boots without VT-d and with vfio.enable_unsafe_noiommu_mode=1,
   * so devices bound to vfio-pci appear as /dev/vfio/noiommu-N. Needs a kernel built with
   * CONFIG_VFIO_NOIOMMU (the custom kernel; Debian's are not).
   */
  noIommu?: boolean;
  /**
   * Kernel modules loaded at boot after the base ones: names from the kernel's modules tree
   * (loaded with their dependencies, e.g. "mtty"), or paths to .ko files built against it.
   */
  modules?: string[];
  /** Per-device driver instead of vfio-pci: device name (edu, nvme, …) or BDF → driver name. */
  deviceDrivers?: Record<string, string>;
  /**
   * A device (name or BDF) to bind to the project's sample vfio-pci variant driver
   * (kernel/vfio-pci-wc-sample, docs/sample-driver.md): built against the kernel's build tree
   * (the custom kernel) and cached, loaded at boot, bound instead of vfio-pci.
   */
  sampleDriver?: string;
  /**
   * A device model to serve over vfio-user (docs/device-models.md): the path of a JavaScript
   * module whose default export (or `model` export) is a vfio/user DeviceModel. The guest gets it
   * as a vfio-user-pci device at 0000:00:07.0, bound to vfio-pci, its BDF in VFIO_VM_MODEL.
   */
  model?: string;
  /**
   * How the model reaches guest memory: 'mapped' (default: guest RAM is a shared memfd, mapped
   * into the server) or 'messages' (DMA_READ/DMA_WRITE over the socket).
   */
  modelDma?: 'mapped' | 'messages';
  /**
   * Called with the guest's monitor once QEMU is up (run mode; again if a boot is retried):
   * `monitor.unplug(id)` removes a device of the run by its QEMU id (docs/emulated-host.md,
   * "Hot unplug"), `monitor.qmp` sends any other QMP command.
   */
  onMonitor?: (monitor: VmMonitor) => void;
  /**
   * A unix socket path where QEMU serves a further QMP monitor, for a program outside this
   * process (`vfio-vm run --qmp PATH`); one client at a time.
   */
  qmpSocket?: string;
  /**
   * The socket of a vfio-user server the caller runs itself (a `VfioUserServer.listen` of its
   * own, or another program's), instead of `model`: the guest gets the device as with `model`,
   * and the server's lifetime stays the caller's, who can watch it while the guest runs or dies.
   */
  modelSocket?: string;
}

/** The --kernel value that selects the custom kernel. */
export const CUSTOM_KERNEL = 'custom';
export const DEFAULT_MEMORY = '2G';
export const DEFAULT_SMP = 2;
export const DEFAULT_TIMEOUT_SECONDS = 300;
/** Parses "K=V" (the CLI's --env) into a key and value. */
export function parseEnvAssignment(text: string): [string, string] {
  const eq = text.indexOf('=');
  if (eq <= 0 || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(text.slice(0, eq))) {
    throw new VmError('options', `--env expects NAME=VALUE, got "${text}"`);
  }
  return [text.slice(0, eq), text.slice(eq + 1)];
}
