// `--sample-driver DEVICE`: build the project's sample vfio-pci variant driver
// (kernel/vfio-pci-wc-sample, docs/sample-driver.md) against the guest kernel's build tree, load
// it at boot and bind DEVICE to it instead of vfio-pci. Builds are cached:
//
//   <cache>/sample-driver/<key>/vfio-pci-wc-sample.ko   and build.log beside it
//
// The key covers the module's sources, the kernel release, its Module.symvers and .config, and
// the compiler: editing the module or rebuilding the kernel builds again, anything else is a
// stat. A build that prints any warning fails (the sources also compile with -Werror).
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { withLock } from './core/cache-lock';
import { VmError } from './core/errors';
import { exec, execRaw, requireProgram } from './core/exec';
import { KernelInfo } from './core/kernel';
import { moduleName } from './kernel/modules';
import { RunOptions } from './options';
import { packageRoot } from '../addon/paths';

/** The PCI driver name: what driver_override names (the module's KBUILD_MODNAME). */
export const SAMPLE_DRIVER_NAME = 'vfio_pci_wc_sample';
export const SAMPLE_MODULE_FILE = 'vfio-pci-wc-sample.ko';
/** Bump when the build recipe below changes what it produces. */
const RECIPE = 1;

export const sampleDriverSourceDir = () => path.join(packageRoot(), 'kernel', 'vfio-pci-wc-sample');

/** The files Kbuild compiles: Kbuild, Makefile and the C sources and headers (sorted). */
export function sampleDriverSources(dir: string): string[] {
  return fs.readdirSync(dir).filter((f) => f === 'Kbuild' || f === 'Makefile' || /\.[ch]$/.test(f)).sort();
}

export interface SampleDriverKeyInputs {
  sources: ReadonlyArray<{ name: string; text: string }>;
  kernelRelease: string;
  symvers: string;
  config: string;
  compiler: string;
}

export function sampleDriverKey(i: SampleDriverKeyInputs): string {
  const h = crypto.createHash('sha256');
  h.update(JSON.stringify([RECIPE, i.kernelRelease, i.compiler]));
  for (const s of [...i.sources, { name: 'Module.symvers', text: i.symvers }, { name: '.config', text: i.config }]) {
    h.update(`\0${s.name}\0${s.text.length}\0`).update(s.text);
  }
  return `${i.kernelRelease}-${h.digest('hex').slice(0, 16)}`;
}

/** Lines of a Kbuild log that are warnings (the compiler's or modpost's). */
export function warningLines(log: string): string[] {
  return log.split('\n').filter((l) => /\bwarning\b/i.test(l));
}

export interface SampleDriverBuild {
  /** The built module file. */
  module: string;
  /** Whether it came from the cache. */
  cached: boolean;
}

const readIf = (file: string) => (fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '');

/** The module built against `kernel` (which must have a build tree: the custom kernel). */
export async function buildSampleDriver(kernel: KernelInfo, cacheDir: string, log: (l: string) => void = () => undefined,
  sourceDir: string = sampleDriverSourceDir()): Promise<SampleDriverBuild> {
  const tree = kernel.buildTree;
  if (!tree || !fs.existsSync(path.join(tree, 'Makefile'))) {
    throw new VmError('options', `the sample driver is built against the kernel's build tree, and ${kernel.kernelVersion} `
      + 'has none: add --kernel custom');
  }
  const names = sampleDriverSources(sourceDir);
  const key = sampleDriverKey({
    sources: names.map((name) => ({ name, text: fs.readFileSync(path.join(sourceDir, name), 'utf8') })),
    kernelRelease: kernel.kernelVersion,
    symvers: readIf(path.join(tree, 'Module.symvers')),
    config: readIf(path.join(tree, '.config')),
    compiler: (await exec('gcc', ['--version'])).stdout.toString().split('\n')[0].trim(),
  });
  const root = path.join(cacheDir, 'sample-driver');
  const entry = path.join(root, key);
  const module = path.join(entry, SAMPLE_MODULE_FILE);
  if (fs.existsSync(module)) return { module, cached: true };
  fs.mkdirSync(root, { recursive: true });
  return withLock(root, async () => {
    if (fs.existsSync(module)) return { module, cached: true };
    await compile(tree, sourceDir, names, entry, log);
    return { module, cached: false };
  }, { onWait: (pid) => log(`waiting for process ${pid}, which is building the sample driver…`) });
}

/** make -C TREE M=<a copy of the sources> modules, so no build product lands in the sources. */
async function compile(tree: string, sourceDir: string, names: string[], entry: string, log: (l: string) => void): Promise<void> {
  const work = fs.mkdtempSync(path.join(path.dirname(entry), '.build-'));
  try {
    for (const n of names) fs.copyFileSync(path.join(sourceDir, n), path.join(work, n));
    const rel = path.relative(packageRoot(), sourceDir);
    log(`building the sample driver (${rel.startsWith('..') ? sourceDir : rel}) against ${tree}…`);
    const r = await execRaw(requireProgram('make'), ['-C', tree, `M=${work}`, 'modules'], { cwd: work });
    const output = `${r.stdout.toString()}${r.stderr}`;
    const warnings = warningLines(output);
    if (r.status !== 0 || warnings.length) {
      const shown = (warnings.length ? warnings : output.trim().split('\n').slice(-15)).join('\n');
      throw new VmError('kernel-build', `the sample driver ${r.status !== 0 ? `failed to build (make exit ${r.status})` : 'built with warnings'}:\n${shown}`);
    }
    const stage = `${entry}.tmp-${process.pid}`;
    fs.rmSync(stage, { recursive: true, force: true });
    fs.mkdirSync(stage);
    fs.copyFileSync(path.join(work, SAMPLE_MODULE_FILE), path.join(stage, SAMPLE_MODULE_FILE));
    fs.writeFileSync(path.join(stage, 'build.log'), output);
    fs.rmSync(entry, { recursive: true, force: true });
    fs.renameSync(stage, entry);
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

/**
 * The run options with the sample driver added: its module loaded at boot, `device` bound to it,
 * and the command told its driver name and where the module sits in the guest (for tests that
 * unload and reload it): VFIO_VM_SAMPLE_DRIVER, VFIO_VM_SAMPLE_MODULE.
 */
export function withSampleDriverModule(opts: RunOptions, module: string): RunOptions {
  const device = opts.sampleDriver;
  if (device === undefined) throw new VmError('options', 'withSampleDriverModule: no sampleDriver device is given');
  const drivers = opts.deviceDrivers ?? {};
  if (drivers[device] !== undefined && drivers[device] !== SAMPLE_DRIVER_NAME) {
    throw new VmError('options', `--sample-driver ${device} and --driver ${device}=${drivers[device]} ask for two drivers`);
  }
  const guestFile = `/modules/${moduleName(path.basename(module, '.ko'))}.ko`;
  return {
    ...opts,
    modules: [...(opts.modules ?? []), module],
    deviceDrivers: { ...drivers, [device]: SAMPLE_DRIVER_NAME },
    env: { VFIO_VM_SAMPLE_DRIVER: SAMPLE_DRIVER_NAME, VFIO_VM_SAMPLE_MODULE: guestFile, ...opts.env },
  };
}

/** run()'s step: builds (or finds) the module when opts.sampleDriver names a device. */
export async function withSampleDriver(opts: RunOptions, kernel: KernelInfo, cacheDir: string): Promise<RunOptions> {
  if (!opts.sampleDriver) return opts;
  const { module } = await buildSampleDriver(kernel, cacheDir, opts.log);
  return withSampleDriverModule(opts, module);
}
