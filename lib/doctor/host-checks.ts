// The host half of `vfio doctor`, in the order a machine gets ready: IOMMU hardware, the kernel
// command line, the VFIO modules, their device nodes, the usable backends, the memlock limit and
// huge pages. Each check reads only through HostRoots and names a fix that works on this machine
// (no firmware advice inside a VM, no boot loader file that does not exist).
import * as path from 'path';
import { Invocation, moduleParamCommand, rootCommand } from '../system/hints';
import { Check, blocked, check } from './check';
import {
  HostRoots,
  bootPath,
  devPath,
  etcPath,
  exists,
  listDir,
  modulesPath,
  procPath,
  readText,
  sysPath,
} from './roots';

/** What a typical user-space driver pins for DMA (queues, a buffer pool): 64 MiB. */
export const TYPICAL_DMA_BYTES = 64n << 20n;

export interface HostFacts {
  /** ACPI tables naming an IOMMU: 'DMAR' (Intel VT-d), 'IVRS' (AMD-Vi). */
  tables: string[];
  /** IOMMU units the kernel runs (/sys/class/iommu). */
  units: string[];
  cmdline: string[];
  /** The CPU flags include 'hypervisor': this is a virtual machine. */
  virtual: boolean;
  /** The CPU's maker, from /proc/cpuinfo's vendor_id. */
  cpu: 'intel' | 'amd' | undefined;
  release: string | undefined;
  /**
   * CONFIG_INTEL_IOMMU_DEFAULT_ON of the running kernel, from /boot/config-RELEASE: true, false,
   * or undefined when the file is not there (the kernel may or may not need intel_iommu=on).
   */
  intelDefaultOn: boolean | undefined;
  /** CONFIG_VFIO_NOIOMMU of the running kernel, from the same file (undefined: not known). */
  noIommuConfig: boolean | undefined;
}

/** A boolean option of the kernel's build configuration, or undefined when it cannot be read. */
function kconfig(config: string | undefined, name: string): boolean | undefined {
  if (config === undefined) return undefined;
  return new RegExp(`^${name}=y$`, 'm').test(config);
}

export function hostFacts(r: HostRoots): HostFacts {
  const tables = ['DMAR', 'IVRS'].filter((t) => exists(sysPath(r, `firmware/acpi/tables/${t}`)));
  const cpuinfo = readText(procPath(r, 'cpuinfo')) ?? '';
  const release = readText(procPath(r, 'sys/kernel/osrelease'))?.trim();
  const config = release ? readText(bootPath(r, `config-${release}`)) : undefined;
  const vendor = /^vendor_id\s*:\s*(\S+)/m.exec(cpuinfo)?.[1];
  return {
    tables,
    units: listDir(sysPath(r, 'class/iommu')),
    cmdline: (readText(procPath(r, 'cmdline')) ?? '').trim().split(/\s+/).filter(Boolean),
    virtual: /^flags\s*:.*\bhypervisor\b/m.test(cpuinfo),
    cpu:
      vendor === 'GenuineIntel' ? 'intel' : vendor === 'AuthenticAMD' || vendor === 'HygonGenuine' ? 'amd' : undefined,
    release,
    intelDefaultOn: kconfig(config, 'CONFIG_INTEL_IOMMU_DEFAULT_ON'),
    noIommuConfig: kconfig(config, 'CONFIG_VFIO_NOIOMMU'),
  };
}

/** Where the kernel command line is changed on this machine, for a fix's wording. */
export function bootLoaderNote(r: HostRoots): string {
  if (exists(etcPath(r, 'default/grub')))
    return 'GRUB_CMDLINE_LINUX in /etc/default/grub, then update-grub (or grub2-mkconfig) and reboot';
  if (exists(etcPath(r, 'kernel/cmdline')))
    return '/etc/kernel/cmdline, then reinstall the kernel image (kernel-install) and reboot';
  return "in the boot loader's configuration, then reboot";
}

const vendorOf = (f: HostFacts) =>
  f.tables.includes('DMAR') ? 'intel' : f.tables.includes('IVRS') ? 'amd' : undefined;

/** Whether this kernel needs intel_iommu=on to turn VT-d on (undefined: its configuration is not known). */
const needsIntelOn = (f: HostFacts) => !f.cmdline.some((t) => /^intel_iommu=on\b/.test(t)) && f.intelDefaultOn !== true;

/** VFIO's no-IOMMU mode as this machine can turn it on, or why it cannot. */
function noIommuMode(f: HostFacts, b: BackendFacts, inv: Invocation): string {
  const risk = "or, knowing the device can then reach all memory, VFIO's no-IOMMU mode";
  if (b.noIommuBuilt) return `${risk}: ${moduleParamCommand(inv, 'vfio', 'enable_unsafe_noiommu_mode', 'Y')}`;
  if (f.noIommuConfig === false)
    return `(VFIO's no-IOMMU mode is not built into kernel ${f.release}: CONFIG_VFIO_NOIOMMU)`;
  return `${risk}, where the kernel has CONFIG_VFIO_NOIOMMU: vfio.enable_unsafe_noiommu_mode=1 on the kernel command line`;
}

function iommuFix(f: HostFacts, b: BackendFacts, r: HostRoots, inv: Invocation): string {
  const off = f.cmdline.filter((t) => /^(intel_iommu|amd_iommu|iommu)=off$/.test(t));
  if (off.length) return `remove ${off.join(' ')} from the kernel command line (${bootLoaderNote(r)})`;
  if (vendorOf(f) === 'intel') {
    if (needsIntelOn(f)) return `add intel_iommu=on to the kernel command line (${bootLoaderNote(r)})`;
    return 'the kernel has intel_iommu on and did not start it: the kernel log (dmesg | grep -i -e DMAR -e IOMMU) says why';
  }
  if (vendorOf(f) === 'amd')
    return 'the AMD IOMMU is on by default: check the kernel log (dmesg | grep -i AMD-Vi) for why it did not start';
  const guestOn = f.cpu === 'amd' || !needsIntelOn(f) ? '' : ' and boot it with intel_iommu=on';
  if (f.virtual) {
    // With KVM, QEMU's intel-iommu remaps interrupts only with the split irqchip.
    const vIommu =
      f.cpu === 'amd'
        ? '-machine q35,kernel-irqchip=split -device amd-iommu,intremap=on'
        : '-machine q35,kernel-irqchip=split -device intel-iommu,intremap=on';
    return (
      `this is a virtual machine without a virtual IOMMU: give it one (QEMU: ${vIommu})${guestOn}, ` +
      noIommuMode(f, b, inv)
    );
  }
  if (f.cpu === 'amd')
    return 'enable the IOMMU (AMD-Vi, often "IOMMU" or "SVM/IOMMU") in the firmware setup and reboot';
  if (f.cpu === 'intel') return `enable VT-d in the firmware setup${guestOn ? ', then boot with intel_iommu=on' : ''}`;
  return (
    'enable the IOMMU (VT-d on Intel, AMD-Vi on AMD) in the firmware setup' +
    (guestOn ? '; on Intel, boot with intel_iommu=on' : '')
  );
}

function iommuCheck(f: HostFacts, b: BackendFacts, r: HostRoots, inv: Invocation): Check {
  const title = 'IOMMU present';
  const source = f.tables.length ? ` (ACPI ${f.tables.join(', ')})` : '';
  if (f.units.length) return check('iommu', title, 'ok', `on: ${f.units.join(', ')}${source}`);
  if (b.noIommuEnabled)
    return check(
      'iommu',
      title,
      'warn',
      "no IOMMU; VFIO's no-IOMMU mode is enabled, so devices are not protected from each other or the host",
      iommuFix(f, b, r, inv),
    );
  if (f.tables.length)
    return check(
      'iommu',
      title,
      'fail',
      `the firmware describes an IOMMU${source} but the kernel did not enable it`,
      iommuFix(f, b, r, inv),
    );
  return check(
    'iommu',
    title,
    'fail',
    `no IOMMU: no DMAR or IVRS ACPI table and nothing in /sys/class/iommu${f.virtual ? ' (a virtual machine)' : ''}`,
    iommuFix(f, b, r, inv),
  );
}

function cmdlineCheck(f: HostFacts, b: BackendFacts, r: HostRoots, inv: Invocation): Check {
  const title = 'kernel command line';
  const relevant = f.cmdline.filter((t) =>
    /^(intel_iommu|amd_iommu|iommu|vfio[\w.-]*|vfio_iommu_type1\.[\w]+)=/.test(t),
  );
  const shown = relevant.length ? relevant.join(' ') : 'no IOMMU options';
  const off = f.cmdline.filter((t) => /^(intel_iommu|amd_iommu|iommu)=off$/.test(t));
  if (off.length)
    return check('cmdline', title, 'fail', `${shown}: ${off.join(' ')} turns the IOMMU off`, iommuFix(f, b, r, inv));
  const pt = f.cmdline.includes('iommu=pt') ? ' (iommu=pt: host devices bypass translation, VFIO devices do not)' : '';
  if (f.units.length) return check('cmdline', title, 'ok', `${shown}${pt}`);
  if (vendorOf(f) === 'intel' && needsIntelOn(f)) {
    const why =
      f.intelDefaultOn === false
        ? `kernel ${f.release} is built without CONFIG_INTEL_IOMMU_DEFAULT_ON`
        : 'kernels built without CONFIG_INTEL_IOMMU_DEFAULT_ON need it';
    return check('cmdline', title, 'fail', `${shown}: intel_iommu=on is missing (${why})`, iommuFix(f, b, r, inv));
  }
  if (!f.tables.length) return check('cmdline', title, 'skip', `${shown}; no IOMMU hardware to turn on`);
  return check('cmdline', title, 'ok', shown);
}

/** Whether the kernel's modules tree has `name` (as a module or built in). */
function moduleAvailable(name: string, f: HostFacts, r: HostRoots): boolean {
  const release = f.release;
  if (!release) return false;
  const file = `${name.replace(/_/g, '-')}.ko`;
  const alt = `${name.replace(/-/g, '_')}.ko`;
  const has = (list: string) =>
    (readText(modulesPath(r, path.join(release, list))) ?? '').split('\n').some((l) => {
      const b = path.basename(l.split(':')[0]);
      return b.startsWith(file) || b.startsWith(alt);
    });
  return has('modules.dep') || has('modules.builtin');
}

export const moduleLoaded = (name: string, r: HostRoots) => exists(sysPath(r, `module/${name.replace(/-/g, '_')}`));

function modulesCheck(f: HostFacts, r: HostRoots, inv: Invocation): Check {
  const title = 'vfio and vfio-pci modules';
  // A built-in module without parameters has no /sys/module entry: what it registers tells.
  const present: Record<string, boolean> = {
    vfio: moduleLoaded('vfio', r) || exists(sysPath(r, 'class/vfio')) || exists(devPath(r, 'vfio/vfio')),
    vfio_pci: moduleLoaded('vfio_pci', r) || exists(sysPath(r, 'bus/pci/drivers/vfio-pci')),
  };
  const missing = Object.keys(present).filter((m) => !present[m]);
  if (!missing.length) return check('modules', title, 'ok', 'loaded');
  const detail = `not loaded: ${missing.join(', ')}`;
  if (moduleAvailable('vfio-pci', f, r))
    return check('modules', title, 'fail', detail, rootCommand(inv, 'modprobe vfio-pci'));
  if (f.release && !exists(modulesPath(r, f.release)))
    return check(
      'modules',
      title,
      'fail',
      `${detail}, and no modules are installed for kernel ${f.release} (${modulesPath(r, f.release)} is missing)`,
      'install the modules of the running kernel (the package that installed it), or boot a kernel whose modules are installed',
    );
  return check(
    'modules',
    title,
    'fail',
    `${detail}, and kernel ${f.release ?? '(unknown)'} has no vfio-pci module`,
    'boot a kernel built with CONFIG_VFIO_PCI (the stock kernels of Debian, Ubuntu and Fedora have it)',
  );
}

export interface BackendFacts {
  container: boolean;
  iommufd: boolean;
  type1Module: boolean;
  cdev: boolean;
  noIommuBuilt: boolean;
  noIommuEnabled: boolean;
}

export function backendFacts(r: HostRoots): BackendFacts {
  const param = readText(sysPath(r, 'module/vfio/parameters/enable_unsafe_noiommu_mode'));
  return {
    container: exists(devPath(r, 'vfio/vfio')),
    iommufd: exists(devPath(r, 'iommu')),
    type1Module: moduleLoaded('vfio_iommu_type1', r),
    cdev: exists(sysPath(r, 'class/vfio-dev')),
    noIommuBuilt: param !== undefined,
    noIommuEnabled: param?.trim() === 'Y',
  };
}

function nodesCheck(b: BackendFacts, modulesOk: boolean): Check {
  const title = '/dev/vfio and /dev/iommu';
  if (!modulesOk) return blocked('nodes', title, 'vfio and vfio-pci modules');
  const found = [b.container && '/dev/vfio/vfio', b.iommufd && '/dev/iommu'].filter(Boolean).join(', ');
  if (found) return check('nodes', title, 'ok', found);
  return check(
    'nodes',
    title,
    'fail',
    'neither /dev/vfio/vfio nor /dev/iommu exists although vfio is loaded',
    'is devtmpfs mounted on /dev? Otherwise the kernel lacks CONFIG_VFIO_CONTAINER and CONFIG_IOMMUFD: boot one that has either',
  );
}

function backendsCheck(b: BackendFacts, f: HostFacts, r: HostRoots, inv: Invocation, nodesOk: boolean): Check {
  const title = 'backends';
  if (!nodesOk) return blocked('backends', title, '/dev/vfio and /dev/iommu');
  const type1 = b.container && (b.type1Module || b.iommufd);
  const parts = [
    `type1 ${type1 ? 'yes' : 'no'}`,
    `iommufd ${b.iommufd ? 'yes' : 'no'}`,
    `cdev ${b.cdev ? 'yes' : 'no'}`,
    `no-IOMMU ${b.noIommuBuilt ? (b.noIommuEnabled ? 'enabled' : 'built, off') : 'no'}`,
  ];
  const detail = parts.join(', ');
  if (type1 || b.iommufd) return check('backends', title, 'ok', detail);
  if (b.noIommuEnabled) return check('backends', title, 'warn', `${detail}: only the unsafe no-IOMMU mode`);
  if (b.container && moduleAvailable('vfio_iommu_type1', f, r))
    return check(
      'backends',
      title,
      'fail',
      `${detail}: vfio_iommu_type1 is not loaded`,
      rootCommand(inv, 'modprobe vfio_iommu_type1'),
    );
  return check('backends', title, 'fail', detail, 'boot a kernel with CONFIG_VFIO_IOMMU_TYPE1 or CONFIG_IOMMUFD');
}

/** RLIMIT_MEMLOCK from /proc/self/limits: soft and hard, bytes (undefined: unlimited). */
export function memlockLimits(r: HostRoots): { soft: bigint | undefined; hard: bigint | undefined } | undefined {
  const line = (readText(procPath(r, 'self/limits')) ?? '').split('\n').find((l) => l.startsWith('Max locked memory'));
  const m = line && /^Max locked memory\s+(\S+)\s+(\S+)/.exec(line);
  if (!m) return undefined;
  const v = (s: string) => (s === 'unlimited' ? undefined : BigInt(s));
  return { soft: v(m[1]), hard: v(m[2]) };
}

/** CAP_IPC_LOCK in the effective set (/proc/self/status CapEff): pinning is then not limited. */
export function hasIpcLock(r: HostRoots): boolean {
  const m = /^CapEff:\s*([0-9a-f]+)/m.exec(readText(procPath(r, 'self/status')) ?? '');
  return !!m && (BigInt(`0x${m[1]}`) & (1n << 14n)) !== 0n;
}

const mib = (n: bigint) => `${n >> 20n} MiB`;

function memlockCheck(r: HostRoots): Check {
  const title = 'RLIMIT_MEMLOCK';
  const l = memlockLimits(r);
  if (hasIpcLock(r)) return check('memlock', title, 'ok', 'CAP_IPC_LOCK: pinned DMA memory is not limited');
  if (!l) return check('memlock', title, 'warn', 'could not read /proc/self/limits');
  if (l.soft === undefined) return check('memlock', title, 'ok', 'unlimited');
  const detail = `${mib(l.soft)} (hard ${l.hard === undefined ? 'unlimited' : mib(l.hard)}); a typical driver pins ${mib(TYPICAL_DMA_BYTES)} or more`;
  if (l.soft >= TYPICAL_DMA_BYTES) return check('memlock', title, 'ok', detail);
  const kib = TYPICAL_DMA_BYTES >> 10n;
  const fix =
    l.hard === undefined || l.hard >= TYPICAL_DMA_BYTES
      ? `ulimit -l ${kib} (in the shell that starts the program; LimitMEMLOCK= in a systemd unit)`
      : 'raise the hard limit: a line "<user> - memlock unlimited" in /etc/security/limits.d/vfio.conf and a new login ' +
        '(LimitMEMLOCK=infinity for a systemd service), or run as root';
  return check('memlock', title, 'fail', detail, fix);
}

function hugepagesCheck(r: HostRoots, inv: Invocation): Check {
  const title = 'huge pages';
  const meminfo = readText(procPath(r, 'meminfo')) ?? '';
  const total = Number(/^HugePages_Total:\s*(\d+)/m.exec(meminfo)?.[1] ?? 0);
  const free = Number(/^HugePages_Free:\s*(\d+)/m.exec(meminfo)?.[1] ?? 0);
  const size = /^Hugepagesize:\s*(\d+) kB/m.exec(meminfo)?.[1];
  if (total > 0) return check('hugepages', title, 'ok', `${total} reserved (${free} free) of ${size ?? '?'} kB`);
  if (!exists(procPath(r, 'sys/vm/nr_hugepages')))
    return check(
      'hugepages',
      title,
      'warn',
      'this kernel has no huge pages (CONFIG_HUGETLBFS): DMA buffers use small pages',
    );
  return check(
    'hugepages',
    title,
    'warn',
    'none reserved: DmaBuffer.allocate(n, { hugepages: true }) fails, small pages work',
    rootCommand(inv, 'sysctl -w vm.nr_hugepages=64') + ' (vm.nr_hugepages in /etc/sysctl.d/ to keep it)',
  );
}

export interface HostReport {
  checks: Check[];
  facts: HostFacts;
  backends: BackendFacts;
}

/** The host checks, in order; later ones are skipped when an earlier one explains them. */
export function hostChecks(r: HostRoots, inv: Invocation): HostReport {
  const f = hostFacts(r);
  const b = backendFacts(r);
  const iommu = iommuCheck(f, b, r, inv);
  const cmdline = cmdlineCheck(f, b, r, inv);
  const modules = modulesCheck(f, r, inv);
  const nodes = nodesCheck(b, modules.status === 'ok');
  const backends = backendsCheck(b, f, r, inv, nodes.status === 'ok');
  return {
    checks: [iommu, cmdline, modules, nodes, backends, memlockCheck(r), hugepagesCheck(r, inv)],
    facts: f,
    backends: b,
  };
}
