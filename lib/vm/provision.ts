// Provisioning: the emulated host's userland (QEMU, busybox: userland.ts) and a guest kernel,
// its modules and matching uapi headers, cached by release.
//
// Cache layout (under the cache dir):
//   userland/<key>/              QEMU, its libraries and firmware, busybox, xz, zstd (userland.ts)
//   apt/                         private apt state (sources.list, lists/, lists.updated)
//   kernels/<release>/root/      the kernel packages unpacked (dpkg -x)
//   kernels/<release>/uapi/      linux-libc-dev unpacked; uapi include dir = uapi/usr/include
//   kernels/<release>/vmlinux    the uncompressed kernel booted through PVH
//   kernels/<release>/kernel.json  written last: its presence means the entry is complete
import * as fs from 'fs';
import * as path from 'path';
import { PrivateApt, extractDeb } from './archive/apt';
import { refreshLists } from './archive/apt-lists';
import { withLock } from './core/cache-lock';
import { customKernel } from './kernel/custom-kernel';
import { DebianKernel, imagePackageFor, resolveDebianKernel, resolvePinnedKernel } from './kernel/debian-kernel';
import { KernelPin, defaultKernelPin, findKernelPin, pinRelease, readKernelPins } from './core/kernel-pins';
import { VmError } from './core/errors';
import { downloadPackages } from './archive/download';
import { KernelInfo } from './core/kernel';
import { extractVmlinux, hasPvhEntry } from './kernel/kernel-image';
import { looksLikePath, pathKernel } from './kernel/kernel-path';
import { DecompressTools } from './kernel/modules';
import { CUSTOM_KERNEL, DEFAULT_LISTS_MAX_AGE_SECONDS, ProvisionOptions, defaultCacheDir } from './options';
import { Userland, provisionUserland } from './archive/userland';

type Log = (line: string) => void;

/** What a run needs from the cache: the userland and a kernel. */
export interface EmulatedHost {
  /** The provisioned userland. */
  userland: Userland;
  /** The provisioned kernel. */
  kernel: KernelInfo;
}

/** Provisions the userland (QEMU, busybox) and the kernel named by opts.kernel. */
export async function provisionHost(opts: ProvisionOptions = {}): Promise<EmulatedHost> {
  const cacheDir = opts.cacheDir ?? defaultCacheDir();
  const userland = await provisionUserland({ cacheDir, log: opts.log, listsMaxAgeSeconds: opts.listsMaxAgeSeconds });
  const kernel = await provisionKernel({ ...opts, cacheDir }, userland);
  return { userland, kernel };
}

/** Provisions the emulated host and returns its kernel (see provisionHost for both). */
export async function provision(opts: ProvisionOptions = {}): Promise<KernelInfo> {
  return (await provisionHost(opts)).kernel;
}

/**
 * The kernel named by opts.kernel: a pinned kernel's name (vm/kernels.json; none: the default
 * pin), "custom" (built, see custom-kernel.ts), a path, or any other Debian release.
 */
export async function provisionKernel(opts: ProvisionOptions & { cacheDir: string }, tools: DecompressTools): Promise<KernelInfo> {
  if (opts.kernel === CUSTOM_KERNEL) return customKernel(opts);
  const pins = readKernelPins();
  const pin = opts.kernel === undefined ? defaultKernelPin(pins) : findKernelPin(pins, opts.kernel);
  if (!pin && opts.kernel && looksLikePath(opts.kernel)) return pathKernel(opts.kernel);
  const cacheDir = opts.cacheDir;
  const log = opts.log ?? (() => undefined);
  const kernelsDir = path.join(cacheDir, 'kernels');
  // A kernel already unpacked (at its pinned version, for a pin) needs no package lists at all.
  const cached = pin ? readEntry(kernelsDir, pinRelease(pin), pin.version)
    : opts.kernel !== undefined ? readEntry(kernelsDir, imagePackageFor(opts.kernel).slice('linux-image-'.length))
    : undefined;
  if (cached) return cached;
  const apt = new PrivateApt(cacheDir);
  await refreshLists(apt, opts.listsMaxAgeSeconds ?? DEFAULT_LISTS_MAX_AGE_SECONDS, log);
  const pkg = pin ? await resolvePinnedKernel(apt, pin) : await resolveDebianKernel(apt, opts.kernel);
  const entry = () => readEntry(kernelsDir, pkg.kernelVersion, pin && pkg.packageVersion);
  return entry() ?? await withLock(kernelsDir, async () => entry() ?? installEntry(apt, kernelsDir, pkg, tools, log),
    { onWait: (pid) => log(`waiting for process ${pid}, which is installing a kernel…`) });
}

/** A pinned kernel and its state in the cache (`vfio-vm kernels`). */
export interface PinnedKernelState extends KernelPin {
  release: string;
  isDefault: boolean;
  /** Unpacked in the cache at exactly the pinned version. */
  cached: boolean;
}

/** Every pinned kernel, the default marked, with whether the cache holds it. */
export function pinnedKernels(cacheDir = defaultCacheDir()): PinnedKernelState[] {
  const pins = readKernelPins();
  return pins.kernels.map((pin) => ({
    ...pin,
    release: pinRelease(pin),
    isDefault: pin.name === pins.default,
    cached: !!readEntry(path.join(cacheDir, 'kernels'), pinRelease(pin), pin.version),
  }));
}

/**
 * A complete kernel entry (of packageVersion, when given), or undefined: kernel.json is
 * written last, and the files it names must still be there (an entry damaged since, e.g. a file removed by hand, is installed again).
 */
function readEntry(kernelsDir: string, release: string, packageVersion?: string): KernelInfo | undefined {
  let info: KernelInfo;
  try {
    info = JSON.parse(fs.readFileSync(path.join(kernelsDir, release, 'kernel.json'), 'utf8')) as KernelInfo;
  } catch {
    return undefined;
  }
  // Another package version of the same release is replaced by the pinned one.
  if (packageVersion && info.packageVersion !== packageVersion) return undefined;
  const present = (f?: string) => !f || fs.existsSync(f);
  const imageOk = fs.statSync(info.kernelImage, { throwIfNoEntry: false })?.size;
  if (!imageOk || !present(info.modulesDir) || !present(info.uapiInclude && path.join(info.uapiInclude, 'linux', 'vfio.h'))) {
    return undefined;
  }
  return info;
}

/** Downloads, unpacks and describes a kernel; the entry appears atomically (rename). */
async function installEntry(apt: PrivateApt, kernelsDir: string, pkg: DebianKernel, tools: DecompressTools, log: Log): Promise<KernelInfo> {
  const final = path.join(kernelsDir, pkg.kernelVersion);
  const tmp = path.join(kernelsDir, `.tmp-${pkg.kernelVersion}-${process.pid}`);
  fs.rmSync(tmp, { recursive: true, force: true });
  try {
    const wanted = [...pkg.packages, pkg.uapiPackage].map((spec) => {
      const [name, version] = spec.split('=');
      return { name, version };
    });
    const step = `kernel ${pkg.kernelVersion}`;
    const debs = await downloadPackages(apt, step, wanted, path.join(tmp, 'debs'), log);
    log(`${step}: unpacking ${debs.length} packages…`);
    for (const deb of debs) {
      await extractDeb(deb.file, path.join(tmp, deb.name === 'linux-libc-dev' ? 'uapi' : 'root'));
    }
    fs.rmSync(path.join(tmp, 'debs'), { recursive: true, force: true });
    const info = await describeEntry(tmp, final, pkg, tools, log);
    fs.writeFileSync(path.join(tmp, 'kernel.json'), JSON.stringify(info, null, 2) + '\n');
    fs.rmSync(final, { recursive: true, force: true });
    fs.renameSync(tmp, final);
    log(`kernel ${pkg.kernelVersion} ready`);
    return info;
  } catch (e) {
    fs.rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
}

/** Builds the KernelInfo of an unpacked entry (paths as they will be after the rename). */
async function describeEntry(tmp: string, final: string, pkg: DebianKernel, tools: DecompressTools, log: Log): Promise<KernelInfo> {
  const rel = pkg.kernelVersion;
  const modulesRel = ['usr/lib/modules', 'lib/modules'].map((d) => path.join(d, rel))
    .find((d) => fs.existsSync(path.join(tmp, 'root', d)));
  const imageRel = [modulesRel && path.join(modulesRel, 'vmlinuz'), `boot/vmlinuz-${rel}`]
    .find((f): f is string => !!f && fs.existsSync(path.join(tmp, 'root', f)));
  if (!modulesRel || !imageRel) {
    throw new VmError('provision', `the packages of ${rel} hold no ${modulesRel ? 'vmlinuz' : 'modules directory'}`);
  }
  log('extracting the uncompressed vmlinux…');
  await extractVmlinux(path.join(tmp, 'root', imageRel), path.join(tmp, 'vmlinux'), tools);
  const pvh = hasPvhEntry(path.join(tmp, 'vmlinux'));
  linkArchHeaders(path.join(tmp, 'uapi', 'usr', 'include'));
  return {
    source: 'debian',
    kernelVersion: rel,
    packageVersion: pkg.packageVersion,
    kernelImage: pvh ? path.join(final, 'vmlinux') : path.join(final, 'root', imageRel),
    pvh,
    bzImage: path.join(final, 'root', imageRel),
    modulesDir: path.join(final, 'root', modulesRel),
    uapiInclude: path.join(final, 'uapi', 'usr', 'include'),
  };
}

/**
 * Debian keeps <asm/…> under the multiarch dir; an `asm` link at the top makes the include
 * dir complete on its own, so `-I uapiInclude` never mixes in the host's older asm headers.
 */
function linkArchHeaders(include: string): void {
  const asm = path.join(include, 'asm');
  if (!fs.existsSync(asm) && fs.existsSync(path.join(include, 'x86_64-linux-gnu', 'asm'))) {
    fs.symlinkSync(path.join('x86_64-linux-gnu', 'asm'), asm);
  }
}
