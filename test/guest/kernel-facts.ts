// What the guest kernel does where kernels differ, for the tests that depend on it: one table,
// keyed by the release series the kernel reports (uname), holding what was measured on that
// series in the emulated host. A test asserts the table's answer, so a wrong entry fails; a
// series not in the table skips those tests with a reason saying where to add it.
import * as os from 'os';

export interface KernelFacts {
  /** vfio-pci reserves each BAR uncached-minus in PAT when the device is opened (the whole BAR). */
  patReserveAtOpen: boolean;
  /** A write-combining sysfs mapping made before the open reserves the whole BAR WC in PAT. */
  wcBeforeOpenCoversBar: boolean;
  /** vfio-pci serves an 8-byte pread/pwrite of a BAR as one 8-byte access (older kernels split it in two 4-byte ones). */
  regionRw64: boolean;
}

/** Measured in the emulated host (docs/emulated-host.md, kernel matrix), per release series. */
const MEASURED: Record<string, KernelFacts> = {
  '6.1': { patReserveAtOpen: false, wcBeforeOpenCoversBar: false, regionRw64: false },
  '6.12': { patReserveAtOpen: false, wcBeforeOpenCoversBar: false, regionRw64: true },
  '7.3': { patReserveAtOpen: true, wcBeforeOpenCoversBar: true, regionRw64: true },
};

/** "7.3.4+deb13-amd64" → "7.3". */
export const releaseSeries = (release: string) => /^(\d+\.\d+)/.exec(release)?.[1] ?? release;

export const SERIES = releaseSeries(os.release());

/** The facts of this kernel, or undefined when its series was never measured. */
export const kernelFacts: KernelFacts | undefined = MEASURED[SERIES];

/** Why a fact-dependent block is skipped on this kernel. */
export const unmeasured = `kernel series ${SERIES} is not in test/guest/kernel-facts.ts`;
