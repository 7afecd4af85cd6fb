// `vfio-vm kernel …`: the custom guest kernel on the command line (build it ahead of a run,
// or find its directory to build out-of-tree modules against it).
import { Command } from 'commander';
import { customKernel, customKernelPath } from '../kernel/custom-kernel';
import { VmError } from '../core/errors';

interface KernelFlags {
  cacheDir?: string;
  force?: boolean;
  jobs?: string;
}

function jobsOption(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!Number.isInteger(n) || n <= 0) throw new VmError('options', `--jobs expects a positive integer, got "${text}"`);
  return n;
}

async function build(flags: KernelFlags, log: (l: string) => void): Promise<number> {
  const started = Date.now();
  const kernel = await customKernel({ cacheDir: flags.cacheDir, force: flags.force, jobs: jobsOption(flags.jobs), log });
  log(`custom kernel ${kernel.kernelVersion} (${((Date.now() - started) / 1000).toFixed(1)} s)`);
  process.stdout.write(`${kernel.kernelImage.replace(/\/vmlinux$/, '')}\n`);
  return 0;
}

async function printPath(flags: KernelFlags, log: (l: string) => void): Promise<number> {
  const dir = await customKernelPath({ cacheDir: flags.cacheDir, log });
  if (!dir) {
    log('the custom kernel is not built for the current source version and kernel/guest.config: run `vfio-vm kernel build`');
    return 1;
  }
  process.stdout.write(`${dir}\n`);
  return 0;
}

/** Adds `kernel build` and `kernel path` to the program. */
export function kernelCommands(prog: Command, cacheDirHelp: string, log: (l: string) => void,
  finish: (p: Promise<number>) => Promise<void>): void {
  const kernel = prog.command('kernel')
    .description('the custom guest kernel (iommufd, VFIO cdev, no-IOMMU, mdev sample), built from Debian\'s linux-source');
  kernel.command('build')
    .description('build the custom kernel unless the cache holds it; print its directory')
    .option('--force', 'build again even if cached')
    .option('--jobs <n>', 'parallel compile jobs (default: number of CPUs)')
    .option('--cache-dir <dir>', cacheDirHelp)
    .action((flags: KernelFlags) => finish(build(flags, log)));
  kernel.command('path')
    .description('print the cached kernel directory (exit 1 if not built): `make -C DIR/build M=… modules` builds against it')
    .option('--cache-dir <dir>', cacheDirHelp)
    .action((flags: KernelFlags) => finish(printPath(flags, log)));
}
