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
import type { Native } from './contract';
import { FramedAddon, FramedFunctions, framedFunctions } from './frame';
import { packageRoot } from './paths';

export * from './contract';

let cached: Native | undefined;

/**
 * Loads the addon once: prebuilds/ first, then build/Release (node-gyp-build's order). The DMA
 * map/unmap functions are framed in the addon (lib/addon/frame.ts): wrappers give them the
 * signatures of the contract (contract.ts).
 */
export function native(): Native {
  if (!cached) {
    const addon = nodeGypBuild(packageRoot()) as Omit<Native, keyof FramedFunctions> & FramedAddon;
    cached = { ...addon, ...framedFunctions(addon) };
  }
  return cached;
}
