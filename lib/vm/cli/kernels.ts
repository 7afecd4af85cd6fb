// `vfio-vm kernels`: the pinned guest kernels (vm/kernels.json), which one is the default and
// whether the cache holds it; `--available` lists the generic kernels the archive offers, for
// bumping a pin. `vfio-vm provision --kernel NAME` fetches one.
import { Command } from 'commander';
import { table } from '../../text/table';
import { PrivateApt } from '../archive/apt';
import { refreshLists } from '../archive/apt-lists';
import { DEFAULT_LISTS_MAX_AGE_SECONDS, defaultCacheDir } from '../core/defaults';
import { genericImages } from '../kernel/debian-kernel';
import { pinnedKernels } from '../provision';

interface KernelsFlags {
  cacheDir?: string;
  available?: boolean;
  json?: boolean;
}

async function listKernels(flags: KernelsFlags, log: (l: string) => void): Promise<number> {
  const cacheDir = flags.cacheDir ?? defaultCacheDir();
  const kernels = pinnedKernels(cacheDir);
  if (flags.json) {
    process.stdout.write(JSON.stringify(kernels, null, 2) + '\n');
  } else {
    const rows = kernels.map((k) => [k.name + (k.isDefault ? ' *' : ''), k.release, k.version, k.suite,
      k.cached ? 'cached' : 'not cached', k.description]);
    process.stdout.write(table(['NAME', 'RELEASE', 'PACKAGE VERSION', 'SUITE', 'CACHE', 'WHAT'], rows) + '\n');
    process.stdout.write('* the default kernel. `vfio-vm provision --kernel NAME` fetches one; `--kernel custom` is built from '
      + 'the pinned linux-source.\n');
  }
  if (flags.available) {
    const apt = new PrivateApt(cacheDir);
    await refreshLists(apt, DEFAULT_LISTS_MAX_AGE_SECONDS, log);
    const pinned = new Set(kernels.map((k) => `linux-image-${k.release}`));
    process.stdout.write('\nGeneric amd64 kernels in the package lists, newest first (pinned ones marked):\n');
    for (const image of genericImages(await apt.packageNames('linux-image-'))) {
      process.stdout.write(`  ${pinned.has(image) ? '*' : ' '} ${image}\n`);
    }
  }
  return 0;
}

/** Adds `kernels` to the program. */
export function kernelsCommand(prog: Command, cacheDirHelp: string, log: (l: string) => void,
  finish: (p: Promise<number>) => Promise<void>): void {
  prog.command('kernels')
    .description('the pinned guest kernels (vm/kernels.json): name, release, package version, suite, cached or not')
    .option('--available', 'also list the generic amd64 kernels the package lists offer (to bump a pin)')
    .option('--json', 'print the pinned kernels as JSON')
    .option('--cache-dir <dir>', cacheDirHelp)
    .action((flags: KernelsFlags) => finish(listKernels(flags, log)));
}
