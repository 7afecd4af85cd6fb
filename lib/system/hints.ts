// The fixes we know for the failures VFIO users hit most (see the notes on other projects'
// issues: memlock, group viability, permissions, binding). Each returns text for VfioError.hint.
import * as sysfs from './sysfs';

export function bindHint(bdf: string, driver: string | undefined): string {
  const now = driver ? `it is bound to ${driver}` : 'no driver is bound';
  return (
    `${bdf} must be bound to vfio-pci (${now}): run \`vfio bind ${bdf}\` as root, or ` +
    `echo vfio-pci > /sys/bus/pci/devices/${bdf}/driver_override and reprobe it`
  );
}

export function groupNotViableHint(group: number, self: string, o: sysfs.SysfsOptions = {}): string {
  const list = sysfs
    .blockingMembers(self, sysfs.groupMembers(group, o))
    .map((m) => `${m.bdf} (${m.driver})`)
    .join(', ');
  return (
    `every device in IOMMU group ${group} must be bound to vfio-pci or to no driver; ` +
    (list ? `bind these too: ${list}` : 'check /sys/kernel/iommu_groups/' + group + '/devices')
  );
}

export function groupOpenHint(code: string, group: number, bdf: string): string | undefined {
  switch (code) {
    case 'EACCES':
    case 'EPERM':
      return `run as root, or give your user /dev/vfio/${group} (chown, or a udev rule for the vfio group)`;
    case 'EBUSY':
      return (
        `/dev/vfio/${group} is already open (by another process, or by this one: close the other Device first); ` +
        `\`fuser -v /dev/vfio/${group}\` shows who holds it`
      );
    case 'ENOENT':
      return `/dev/vfio/${group} does not exist: is ${bdf} bound to vfio-pci and is the vfio module loaded?`;
    default:
      return undefined;
  }
}

export function noIommuGroupHint(bdf: string): string {
  return (
    `${bdf} has no IOMMU group: enable the IOMMU (intel_iommu=on or amd_iommu=on on the kernel command line), ` +
    `or use the unsafe no-IOMMU mode explicitly`
  );
}

export function memlockHint(current: bigint, needed: bigint): string {
  const kib = (n: bigint) => `${n / 1024n} KiB`;
  return (
    `pinned DMA memory counts against RLIMIT_MEMLOCK (now ${kib(current)}, this mapping needs at least ${kib(needed)}); ` +
    `raise it with \`ulimit -l\`, prlimit --memlock, LimitMEMLOCK= in a systemd unit, or run with CAP_IPC_LOCK`
  );
}
