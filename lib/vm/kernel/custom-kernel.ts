// The custom guest kernel (`--kernel custom`): Debian's kernels lack iommufd, the VFIO device
// cdev and no-IOMMU mode, so the emulated host can build one from Debian's own source package
// with the project's config fragment (kernel/guest.config). Builds are cached:
//
//   <cache>/custom-kernel/
//     .lock                        held while building (see cache-lock.ts)
//     sources/<package>_<ver>.deb  the downloaded linux-source package
//     <key>/                       one built kernel (layout: kernel-build.ts); kernel.json last
//     <key>.work/                  source and object trees during a build, removed after a
//                                  success; kept after a failure so the next attempt resumes
//     <key>.failed.log             the log of the last failed build of that key
//
// The key is the source package version, the fragment's contents, the compiler and the
// recipe's version: change any and the next run builds again; otherwise a hit costs a stat
// and a `gcc --version`.
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { PrivateApt } from '../archive/apt';
import { refreshLists } from '../archive/apt-lists';
import { BuildSteps, formatElapsed } from './build-steps';
import { withLock } from '../core/cache-lock';
import { readKernelPins } from '../core/kernel-pins';
import { downloadPackages } from '../archive/download';
import { exec } from '../core/exec';
import { KernelInfo } from '../core/kernel';
import { buildKernel, checkBuildDependencies } from './kernel-build';
import { provisionKernelTools } from '../archive/kernel-tools';
import { pathKernel } from './kernel-path';
import { DEFAULT_LISTS_MAX_AGE_SECONDS, defaultCacheDir } from '../core/defaults';
import { packageRoot } from '../../addon/paths';

/** Bump when the recipe (kernel-build.ts) changes what it produces, so old entries are rebuilt. */
export const RECIPE_VERSION = 1;
/** Complete entries kept besides the current one (older ones are deleted after a build). */
const KEPT_OLD_ENTRIES = 1;

export const defaultFragment = () => path.join(packageRoot(), 'kernel', 'guest.config');

export interface CustomKernelOptions {
  cacheDir?: string;
  log?: (line: string) => void;
  /** Refresh the package lists when older than this many seconds. Default: one day. */
  listsMaxAgeSeconds?: number;
  /** Build even if the cache holds this kernel. */
  force?: boolean;
  /** Parallel compile jobs. Default: the number of CPUs. */
  jobs?: number;
  /** The config fragment. Default: kernel/guest.config of this package. */
  fragment?: string;
}

export interface CacheKeyInputs {
  sourcePackage: string;
  sourceVersion: string;
  fragmentText: string;
  /** First line of `gcc --version`: out-of-tree modules must be built with the same compiler. */
  compiler: string;
  recipe: number;
}

/** "<version>-<hash>": readable in `ls`, and different whenever any input differs. */
export function cacheKey(inputs: CacheKeyInputs): string {
  const hash = crypto.createHash('sha256').update(JSON.stringify([
    inputs.sourcePackage, inputs.sourceVersion, inputs.fragmentText, inputs.compiler, inputs.recipe,
  ])).digest('hex').slice(0, 16);
  return `${inputs.sourceVersion.replace(/[^\w.+-]/g, '_')}-${hash}`;
}

/** What kernel.json of an entry records. */
export interface CustomKernelEntry {
  key: string;
  inputs: Omit<CacheKeyInputs, 'fragmentText'> & { fragmentSha256: string };
  release: string;
  builtAt: string;
  buildSeconds: number;
  compiled: number;
}

const rootDir = (cacheDir: string) => path.join(cacheDir, 'custom-kernel');

function readEntry(dir: string): CustomKernelEntry | undefined {
  try {
    return JSON.parse(fs.readFileSync(path.join(dir, 'kernel.json'), 'utf8')) as CustomKernelEntry;
  } catch {
    return undefined;
  }
}

/** The KernelInfo of a complete entry directory. */
export function describeCustomKernel(dir: string): KernelInfo {
  return { ...pathKernel(dir), source: 'custom', buildTree: path.join(dir, 'build') };
}

async function compilerVersion(): Promise<string> {
  return (await exec('gcc', ['--version'])).stdout.toString().split('\n')[0].trim();
}

interface Resolved {
  apt: PrivateApt;
  inputs: CacheKeyInputs;
  key: string;
  fragment: string;
}

const sha256 = (text: string) => crypto.createHash('sha256').update(text).digest('hex');

/**
 * The inputs of the build: the source package pinned in vm/kernels.json (the newest pinned
 * stock kernel's series; the fragment is written for it), the fragment, the compiler and the
 * recipe. Nothing here reads the package lists, so a cached build is found offline.
 */
async function resolve(opts: CustomKernelOptions, cacheDir: string): Promise<Resolved> {
  const fragment = path.resolve(opts.fragment ?? defaultFragment());
  const apt = new PrivateApt(cacheDir);
  const fragmentText = fs.readFileSync(fragment, 'utf8');
  const compiler = await compilerVersion();
  const source = readKernelPins().customSource;
  const inputs: CacheKeyInputs = { sourcePackage: source.package, sourceVersion: source.version, fragmentText, compiler, recipe: RECIPE_VERSION };
  return { apt, inputs, key: cacheKey(inputs), fragment };
}

/** The cached kernel directory for the current inputs, or undefined if it is not built. */
export async function customKernelPath(opts: CustomKernelOptions = {}): Promise<string | undefined> {
  const cacheDir = opts.cacheDir ?? defaultCacheDir();
  const { key } = await resolve(opts, cacheDir);
  const dir = path.join(rootDir(cacheDir), key);
  return readEntry(dir) ? dir : undefined;
}

/** The custom kernel, built first if the cache does not hold it (or opts.force). */
export async function customKernel(opts: CustomKernelOptions = {}): Promise<KernelInfo> {
  const cacheDir = opts.cacheDir ?? defaultCacheDir();
  const log = opts.log ?? (() => undefined);
  const resolved = await resolve(opts, cacheDir);
  const root = rootDir(cacheDir);
  const entry = path.join(root, resolved.key);
  if (!opts.force && readEntry(entry)) return describeCustomKernel(entry);
  return withLock(root, async () => {
    // Another process may have built it while this one waited for the lock.
    if (!opts.force && readEntry(entry)) return describeCustomKernel(entry);
    await build(resolved, root, opts, log);
    pruneOldEntries(root, resolved.key);
    return describeCustomKernel(entry);
  }, { onWait: (pid) => log(`another process (pid ${pid}) is building the custom kernel; waiting for it…`) });
}

async function build(r: Resolved, root: string, opts: CustomKernelOptions, log: (l: string) => void): Promise<void> {
  checkBuildDependencies();
  const started = Date.now();
  const entry = path.join(root, r.key);
  const work = `${entry}.work`;
  const stage = path.join(work, 'stage');
  // A failed attempt's trees are resumed from (make redoes only what is missing); --force starts afresh.
  if (opts.force) fs.rmSync(work, { recursive: true, force: true });
  fs.mkdirSync(work, { recursive: true });
  const steps = new BuildSteps(path.join(work, 'build.log'), log);
  const jobs = opts.jobs ?? os.availableParallelism();
  log(`building the custom kernel from ${r.inputs.sourcePackage} ${r.inputs.sourceVersion} with ${path.basename(r.fragment)} `
    + `(${jobs} jobs; once per version and configuration, up to hours on a busy 2-core machine); log: ${steps.logFile}`);
  try {
    const tools = await steps.phase('provisioning the build tools (flex, bison, bc, libelf, openssl)',
      () => provisionKernelTools({ cacheDir: path.dirname(root), log, listsMaxAgeSeconds: opts.listsMaxAgeSeconds }));
    const deb = await steps.phase(`downloading ${r.inputs.sourcePackage}`, () => sourceDeb(r, root, opts, log));
    const result = await buildKernel({ sourceDeb: deb, fragment: r.fragment, workDir: work, stageDir: stage, jobs, tools }, steps);
    const info: CustomKernelEntry = {
      key: r.key,
      inputs: {
        sourcePackage: r.inputs.sourcePackage,
        sourceVersion: r.inputs.sourceVersion,
        fragmentSha256: sha256(r.inputs.fragmentText),
        compiler: r.inputs.compiler,
        recipe: r.inputs.recipe,
      },
      release: result.release,
      builtAt: new Date().toISOString(),
      buildSeconds: Math.round((Date.now() - started) / 1000),
      compiled: result.compiled,
    };
    steps.note(`kernel build: ${result.release} built in ${steps.elapsed()}`);
    steps.close();
    fs.renameSync(steps.logFile, path.join(stage, 'build.log'));
    fs.writeFileSync(path.join(stage, 'kernel.json'), JSON.stringify(info, null, 2) + '\n');
    fs.rmSync(entry, { recursive: true, force: true });
    fs.renameSync(stage, entry);
    fs.rmSync(work, { recursive: true, force: true });
    log(`custom kernel ready: ${entry}`);
  } catch (e) {
    try { steps.close(); } catch { /* already closed */ }
    const failedLog = `${entry}.failed.log`;
    fs.copyFileSync(steps.logFile, failedLog);
    log(`kernel build failed after ${formatElapsed(Date.now() - started)}; full log: ${failedLog}; `
      + `the next build resumes from ${work} (about 2 GB; --force or deleting it starts afresh)`);
    throw e;
  }
}

/** The source .deb, downloaded once per version (other versions are removed). */
async function sourceDeb(r: Resolved, root: string, opts: CustomKernelOptions, log: (l: string) => void): Promise<string> {
  const pkg = r.inputs.sourcePackage;
  const dir = path.join(root, 'sources');
  const wanted = (f: string) => f.startsWith(`${pkg}_`) && f.endsWith('.deb')
    && decodeURIComponent(f).includes(`_${r.inputs.sourceVersion.replace(/^\d+:/, '')}_`);
  fs.mkdirSync(dir, { recursive: true });
  const have = fs.readdirSync(dir).find(wanted);
  if (have) return path.join(dir, have);
  const tmp = path.join(dir, `.download-${process.pid}`);
  fs.rmSync(tmp, { recursive: true, force: true });
  try {
    await refreshLists(r.apt, opts.listsMaxAgeSeconds ?? DEFAULT_LISTS_MAX_AGE_SECONDS, log);
    const [deb] = await downloadPackages(r.apt, pkg, [{ name: pkg, version: r.inputs.sourceVersion }], tmp, log);
    for (const f of fs.readdirSync(dir)) if (f.endsWith('.deb')) fs.rmSync(path.join(dir, f));
    const dest = path.join(dir, path.basename(deb.file));
    fs.renameSync(deb.file, dest);
    return dest;
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

/** Keeps the newest KEPT_OLD_ENTRIES complete entries besides `current`; each is ~100 MB. */
function pruneOldEntries(root: string, current: string): void {
  const others = fs.readdirSync(root)
    .filter((name) => name !== current && readEntry(path.join(root, name)))
    .map((name) => ({ name, at: fs.statSync(path.join(root, name, 'kernel.json')).mtimeMs }))
    .sort((a, b) => b.at - a.at);
  for (const old of others.slice(KEPT_OLD_ENTRIES)) fs.rmSync(path.join(root, old.name), { recursive: true, force: true });
}
