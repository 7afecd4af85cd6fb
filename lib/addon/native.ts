// The typed face of the native addon (native/*.cc). The addon is a thin syscall layer:
// one function per syscall or ioctl, named after it. Conventions:
// - A number result >= 0 is success (an fd, an id, a byte count, flags); a negative number is
//   -errno. The addon never builds Error objects (they would belong to another realm under
//   jest); lib/errors/index.ts turns (-errno, op) into a typed VfioError.
// - JS never passes or receives an address. Memory the kernel must see (mappings, DMA buffers)
//   lives behind an opaque handle; struct buffers are Uint8Arrays whose length the addon checks
//   and whose `argsz` it writes itself. An output buffer over read-only memory (a view of a
//   PROT_READ mapping) is -EFAULT: the addon never writes where a write would fault.
// - Any JavaScript value in any argument is survivable: a wrong type is a TypeError
//   ("vfio native: argument N must be ..."), never an abort. u64 arguments (offsets, lengths,
//   addresses) take a bigint or an integer number up to 2^53.
// - Slow calls (device open, resets) return Promises resolved on the libuv thread pool.
// node-gyp-build ships no types: it is one function from a directory to the loaded addon.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const nodeGypBuild: (dir: string) => unknown = require('node-gyp-build');
import { VfioError } from '../errors';
import type { Native } from './contract';
import { FramedAddon, FramedFunctions, framedFunctions } from './frame';
import { packageRoot } from './paths';

export * from './contract';

let cached: Native | undefined;

/**
 * Loads the addon once: a local build (build/Release) first, else the shipped prebuild
 * (prebuilds/<platform>-<arch>/), node-gyp-build's order. The DMA map/unmap functions are
 * framed in the addon (lib/addon/frame.ts): wrappers give them the signatures of the contract
 * (contract.ts).
 */
export function native(): Native {
  if (!cached) {
    const addon = loadAddon(packageRoot()) as Omit<Native, keyof FramedFunctions> & FramedAddon;
    cached = { ...addon, ...framedFunctions(addon) };
  }
  return cached;
}

/**
 * node-gyp-build's load, with its bare "No native build was found" turned into a VfioError that
 * says how to get the addon: the package ships a prebuild for linux-x64 (glibc), and compiles
 * in its install script elsewhere, so a missing addon means that script did not run (npm
 * --ignore-scripts, npm's allow-scripts policy, pnpm's approve-builds) or failed.
 */
export function loadAddon(root: string, load: (dir: string) => unknown = nodeGypBuild): unknown {
  try {
    return load(root);
  } catch (e) {
    const reason = (e as Error).message.split('\n')[0];
    throw new VfioError({
      code: 'ENOADDON',
      op: 'load the native addon',
      message: `vfio: the native addon could not be loaded from ${root} (${reason})`,
      hint: addonHint(`${process.platform}-${process.arch}`),
      cause: e,
    });
  }
}

/** What to run when no prebuild fits (or none was installed) and nothing was compiled. */
export function addonHint(platform: string): string {
  const prebuilt = platform === 'linux-x64';
  return (
    (prebuilt
      ? 'the package ships a prebuilt addon for linux-x64 (glibc); if it was removed or this system is not glibc-based, '
      : `there is no prebuilt addon for ${platform}: `) +
    'build it with `npm rebuild vfio` (needs a C++ compiler, make and python3). If install scripts are blocked, ' +
    'approve this one first: `npm install-scripts approve vfio` (npm 11), `pnpm approve-builds` (pnpm), ' +
    'or install without --ignore-scripts.'
  );
}
