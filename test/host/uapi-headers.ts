// Where the ABI cross-check finds the kernel's own uapi headers (linux/vfio.h, linux/iommufd.h)
// to compare native/abi against. One place, one order:
//   1. the emulated host's provisioning (lib/vm/provision.ts) unpacks the linux-libc-dev that
//      matches its guest kernel and returns that include directory; a failure there fails the
//      test (provisioning is part of the project);
//   2. without the provisioning module, there are no headers: the test is skipped, loudly.
import * as fs from 'fs';
import * as path from 'path';

type Provision = (opts?: { log?: (line: string) => void }) => Promise<{ uapiInclude?: string }>;

const provisionModule = path.join(__dirname, '..', '..', 'lib', 'vm', 'provision');

/** The provisioning function, or undefined when this tree has none. */
export function uapiProvisioner(): Provision | undefined {
  const exists = ['.ts', '.js'].some((ext) => fs.existsSync(provisionModule + ext));
  if (!exists) return undefined;
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return (require(provisionModule) as { provision: Provision }).provision;
}

/** Why the ABI cross-check cannot run, for the skip message. */
export const NO_UAPI_HEADERS =
  'SKIPPED: no kernel uapi headers to check native/abi against (lib/vm/provision.ts is missing)';

/** Provisions (or finds cached) and returns the uapi include directory; throws if there is none. */
export async function uapiInclude(provision: Provision): Promise<string> {
  const info = await provision({ log: (line) => process.stderr.write(`[provision] ${line}\n`) });
  const dir = info.uapiInclude;
  if (
    !dir ||
    !fs.existsSync(path.join(dir, 'linux', 'vfio.h')) ||
    !fs.existsSync(path.join(dir, 'linux', 'iommufd.h'))
  ) {
    throw new Error(`provisioning gave no uapi include dir with linux/vfio.h and linux/iommufd.h (got ${dir})`);
  }
  return dir;
}
