// SR-IOV through sysfs: how many virtual functions (VFs) a physical function (PF) can have and
// has, which devices they are, and changing their number (sriov_numvfs). A VF names its PF by its
// physfn link, a PF its VFs by virtfnN links. Refusals are SriovError with the kernel's errno
// and a hint; the package's faces (lib/sysfs.ts, `vfio sriov`) turn them into their own errors.
import * as fs from 'fs';
import * as path from 'path';
import { SysfsOptions, devicePath, driverOf, iommuGroupOf } from './sysfs';

/** One VF of a PF. */
export interface SriovVf {
  /** Its PCI address. */
  readonly bdf: string;
  /** Its IOMMU group (behind an IOMMU with ACS, one per VF). */
  readonly group: number | undefined;
  /** vfio-pci for the VFs of a PF bound to vfio-pci: the kernel gives them the PF's driver. */
  readonly driver: string | undefined;
}

/** A PF's SR-IOV state, as sysfs tells it. */
export interface SriovState {
  /** The PF's PCI address. */
  readonly pf: string;
  /** The PF's driver (vfio-pci for VFs VFIO can use), or undefined when none is bound. */
  readonly driver: string | undefined;
  /** sriov_totalvfs: the most VFs the PF offers. */
  readonly totalvfs: number;
  /** sriov_numvfs: how many are enabled now. */
  readonly numvfs: number;
  /** The enabled VFs, in VF order (virtfn0, virtfn1, …). */
  readonly vfs: readonly SriovVf[];
}

/** A refused SR-IOV change: `code` is the errno name (or NOT_SRIOV), `hint` what to do. */
export class SriovError extends Error {
  constructor(
    message: string,
    readonly code: string,
    readonly hint: string,
    readonly errno?: number,
  ) {
    super(message);
    this.name = 'SriovError';
  }
}

/** The PF of a VF (its physfn link), or undefined when `bdf` is no VF. */
export function physfnOf(bdf: string, o: SysfsOptions = {}): string | undefined {
  try {
    return path.basename(fs.readlinkSync(path.join(devicePath(bdf, o), 'physfn')));
  } catch {
    return undefined;
  }
}

function readInt(file: string): number | undefined {
  try {
    const n = Number(fs.readFileSync(file, 'utf8').trim());
    return Number.isInteger(n) ? n : undefined;
  } catch {
    return undefined;
  }
}

/** The PF's SR-IOV state, or undefined when `bdf` is not an SR-IOV PF (no sriov_totalvfs). */
export function sriovState(bdf: string, o: SysfsOptions = {}): SriovState | undefined {
  const dir = devicePath(bdf, o);
  const totalvfs = readInt(path.join(dir, 'sriov_totalvfs'));
  if (totalvfs === undefined) return undefined;
  let links: string[];
  try {
    links = fs.readdirSync(dir).filter((n) => /^virtfn\d+$/.test(n));
  } catch {
    links = [];
  }
  const vfs = links
    .sort((a, b) => Number(a.slice(6)) - Number(b.slice(6)))
    .map((l) => path.basename(fs.readlinkSync(path.join(dir, l))))
    .map((vf) => ({ bdf: vf, group: iommuGroupOf(vf, o), driver: driverOf(vf, o) }));
  return {
    pf: bdf,
    driver: driverOf(bdf, o),
    totalvfs,
    numvfs: readInt(path.join(dir, 'sriov_numvfs')) ?? 0,
    vfs,
  };
}

/** What vfio-pci's enable_sriov parameter says: true, false, or undefined when unreadable. */
function vfioPciEnableSriov(o: SysfsOptions): boolean | undefined {
  try {
    const v = fs.readFileSync(path.join(o.sysfs ?? '/sys', 'module/vfio_pci/parameters/enable_sriov'), 'utf8').trim();
    return v === 'Y' || v === '1';
  } catch {
    return undefined;
  }
}

function refusal(bdf: string, n: number, errno: string, driver: string | undefined, o: SysfsOptions): SriovError {
  const what = `writing ${n} to ${bdf}'s sriov_numvfs failed (${errno})`;
  const hints: Record<string, () => string> = {
    ENOENT: () =>
      driver === 'vfio-pci'
        ? vfioPciEnableSriov(o) === false
          ? 'vfio-pci creates VFs only with its enable_sriov parameter on: echo 1 > /sys/module/vfio_pci/parameters/enable_sriov ' +
            '(or vfio_pci.enable_sriov=1 on the kernel command line, or modprobe vfio-pci enable_sriov=1)'
          : 'vfio-pci refused to configure SR-IOV on this device'
        : driver === undefined
          ? `no driver is bound to ${bdf}: bind it first (vfio bind ${bdf}), then set vfio-pci's enable_sriov`
          : `${driver}, the driver of ${bdf}, does not configure SR-IOV through sysfs`,
    EACCES: () => 'sriov_numvfs is writable by root only',
    EPERM: () => 'sriov_numvfs is writable by root only',
    EBUSY: () =>
      'a VF is still in use (open through VFIO, or held by a driver), or the PF is being reset: close the VFs first',
    ERANGE: () => `at most sriov_totalvfs VFs`,
    EINVAL: () => `at most sriov_totalvfs VFs`,
  };
  return new SriovError(what, errno, (hints[errno] ?? (() => 'see the kernel log (dmesg)'))(), undefined);
}

/**
 * Sets the number of enabled VFs of the PF `bdf`: 0 removes them all. The kernel takes a new
 * non-zero count only from zero, so a change between two non-zero counts goes through 0.
 * Returns the state afterwards.
 */
export function setNumVfs(bdf: string, numvfs: number, o: SysfsOptions = {}): SriovState {
  const before = sriovState(bdf, o);
  if (!before) {
    throw new SriovError(
      `${bdf} is not an SR-IOV physical function (no sriov_totalvfs in sysfs)`,
      'NOT_SRIOV',
      physfnOf(bdf, o)
        ? `${bdf} is a VF; its PF is ${physfnOf(bdf, o)}`
        : 'only a PF with the SR-IOV capability has VFs',
    );
  }
  if (!Number.isInteger(numvfs) || numvfs < 0 || numvfs > before.totalvfs) {
    throw new SriovError(
      `${numvfs} VFs: ${bdf} offers 0 to ${before.totalvfs}`,
      'EINVAL',
      `give a count from 0 to ${before.totalvfs} (sriov_totalvfs)`,
    );
  }
  if (numvfs === before.numvfs) return before;
  const file = path.join(devicePath(bdf, o), 'sriov_numvfs');
  const write = (n: number) => {
    try {
      fs.writeFileSync(file, `${n}\n`);
    } catch (e) {
      throw refusal(bdf, n, (e as NodeJS.ErrnoException).code ?? 'EIO', before.driver, o);
    }
  };
  if (before.numvfs !== 0 && numvfs !== 0) write(0);
  write(numvfs);
  const after = sriovState(bdf, o);
  if (!after)
    throw new SriovError(
      `${bdf} lost its SR-IOV capability while setting VFs`,
      'EIO',
      'check dmesg: the PF was removed or reset',
    );
  return after;
}
