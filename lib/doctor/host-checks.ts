// The host half of `vfio doctor`, in the order a machine gets ready: IOMMU hardware, the kernel
// command line, the VFIO modules, their device nodes, the usable backends, the memlock limit and
// huge pages. Each check reads only through HostRoots and names a fix that works on this machine
// (no firmware advice inside a VM, no boot loader file that does not exist).
import * as path from 'path';
import { Invocation, rootCommand } from '../system/hints';
import { Check, blocked, check } from './check';
import { HostRoots, devPath, etcPath, exists, listDir, modulesPath, procPath, readText, sysPath } from './roots';

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
  release: string | undefined;
}

export function hostFacts(r: HostRoots): HostFacts {
  const tables = ['DMAR', 'IVRS'].filter((t) => exists(sysPath(r, `firmware/acpi/tables/${t}`)));
  const cpuinfo = readText(procPath(r, 'cpuinfo')) ?? '';
  return {
    tables,
    units: listDir(sysPath(r, 'class/iommu')),
    cmdline: (readText(procPath(r, 'cmdline')) ?? '').trim().split(/\s+/).filter(Boolean),
    virtual: /^flags\s*:.*\bhypervisor\b/m.test(cpuinfo),
    release: readText(procPath(r, 'sys/kernel/osrelease'))?.trim(),
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

function iommuFix(f: HostFacts, r: HostRoots): string {
  const off = f.cmdline.filter((t) => /^(intel_iommu|amd_iommu|iommu)=off$/.test(t));
  if (off.length) return `remove ${off.join(' ')} from the kernel command line (${bootLoaderNote(r)})`;
  if (vendorOf(f) === 'intel') return `add intel_iommu=on to the kernel command line (${bootLoaderNote(r)})`;
  if (vendorOf(f) === 'amd')
    return 'the AMD IOMMU is on by default: check the kernel log (dmesg | grep -i AMD-Vi) for why it did not start';
  if (f.virtual) {
    return (
      'this is a virtual machine without a virtual IOMMU: give it one (QEMU: -machine q35 -device intel-iommu,intremap=on), ' +
      "or, knowing the device can then reach all memory, use VFIO's no-IOMMU mode (vfio.enable_unsafe_noiommu_mode=1)"
    );
  }
  return 'enable VT-d (Intel) or AMD-Vi / IOMMU (AMD) in the firmware setup, then boot with intel_iommu=on on Intel';
}

function iommuCheck(f: HostFacts, r: HostRoots, noIommuMode: boolean): Check {
  const title = 'IOMMU present';
  const source = f.tables.length ? ` (ACPI ${f.tables.join(', ')})` : '';
  if (f.units.length) return check('iommu', title, 'ok', `on: ${f.units.join(', ')}${source}`);
  if (noIommuMode)
    return check(
      'iommu',
      title,
      'warn',
      "no IOMMU; VFIO's no-IOMMU mode is enabled, so devices are not protected from each other or the host",
      iommuFix(f, r),
    );
  if (f.tables.length)
    return check(
      'iommu',
      title,
      'fail',
      `the firmware describes an IOMMU${source} but the kernel did not enable it`,
      iommuFix(f, r),
    );
  return check(
    'iommu',
    title,
    'fail',
    `no IOMMU: no DMAR or IVRS ACPI table and nothing in /sys/class/iommu${f.virtual ? ' (a virtual machine)' : ''}`,
    iommuFix(f, r),
  );
}

function cmdlineCheck(f: HostFacts, r: HostRoots): Check {
  const title = 'kernel command line';
  const relevant = f.cmdline.filter((t) =>
    /^(intel_iommu|amd_iommu|iommu|vfio[\w.-]*|vfio_iommu_type1\.[\w]+)=/.test(t),
  );
  const shown = relevant.length ? relevant.join(' ') : 'no IOMMU options';
  const off = f.cmdline.filter((t) => /^(intel_iommu|amd_iommu|iommu)=off$/.test(t));
  if (off.length)
    return check('cmdline', title, 'fail', `${shown}: ${off.join(' ')} turns the IOMMU off`, iommuFix(f, r));
  const pt = f.cmdline.includes('iommu=pt') ? ' (iommu=pt: host devices bypass translation, VFIO devices do not)' : '';
  if (f.units.length) return check('cmdline', title, 'ok', `${shown}${pt}`);
  if (vendorOf(f) === 'intel' && !f.cmdline.some((t) => /^intel_iommu=on\b/.test(t))) {
    return check(
      'cmdline',
      title,
      'fail',
      `${shown}: intel_iommu=on is missing (this kernel does not turn VT-d on by default)`,
      iommuFix(f, r),
    );
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
  return check(
    'modules',
    title,
    'fail',
    `${detail}, and kernel ${f.release ?? '(unknown)'} has no vfio-pci module installed`,
    "install this kernel's modules package, or boot a kernel built with CONFIG_VFIO_PCI",
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
  const iommu = iommuCheck(f, r, b.noIommuEnabled);
  const cmdline = cmdlineCheck(f, r);
  const modules = modulesCheck(f, r, inv);
  const nodes = nodesCheck(b, modules.status === 'ok');
  const backends = backendsCheck(b, f, r, inv, nodes.status === 'ok');
  return {
    checks: [iommu, cmdline, modules, nodes, backends, memlockCheck(r), hugepagesCheck(r, inv)],
    facts: f,
    backends: b,
  };
}
