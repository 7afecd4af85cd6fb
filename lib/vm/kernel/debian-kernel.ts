// Which Debian packages make up a guest kernel: a pinned one (vm/kernels.json) at exactly its
// pinned version, or any release named on the command line at the newest version the lists hold.
//
// Since 7.x, `linux-image-<ver>-amd64` is an empty package depending on `linux-binary-…`
// (the kernel, at usr/lib/modules/<ver>/vmlinuz), `linux-modules-…` and `linux-base-…`
// (config, modules.builtin). Older kernels carry everything in linux-image itself. Downloading
// the image package and every linux-{binary,modules,base} it depends on covers both.
import { PrivateApt } from '../archive/apt';
import { VmError } from '../core/errors';
import { KernelPin, pinRelease } from '../core/kernel-pins';

export interface DebianKernel {
  /** The kernel release (uname -r), e.g. "7.3.4+deb13-amd64". */
  kernelVersion: string;
  /** The Debian package version, e.g. "7.3.4-1~bpo13+1". */
  packageVersion: string;
  /** `name=version` of every package to download and unpack for the kernel and its modules. */
  packages: string[];
  /** `linux-libc-dev=version` with the uapi headers matching the kernel. */
  uapiPackage: string;
}

/** Generic amd64 flavour only: not -cloud (no 9p), -rt, unsigned or dbg. */
const GENERIC_IMAGE = /^linux-image-(\d+\.\d+[\w.+~]*(?:-\d+)?)-amd64$/;

/** Numeric components of a kernel release, for ordering ("7.3.4+deb13" → [7,3,4,13]). */
export function releaseKey(release: string): number[] {
  return (release.match(/\d+/g) ?? []).map(Number);
}

export function compareReleases(a: string, b: string): number {
  const ka = releaseKey(a);
  const kb = releaseKey(b);
  for (let i = 0; i < Math.max(ka.length, kb.length); i++) {
    const d = (ka[i] ?? -1) - (kb[i] ?? -1);
    if (d) return d;
  }
  return 0;
}

/** Image package names of generic kernels, newest first. */
export function genericImages(names: string[]): string[] {
  return names
    .flatMap((name) => {
      const m = GENERIC_IMAGE.exec(name);
      return m ? [{ name, release: m[1] }] : [];
    })
    .sort((a, b) => compareReleases(b.release, a.release))
    .map((x) => x.name);
}

/** "7.3.4+deb13", "7.3.4+deb13-amd64" or "linux-image-7.3.4+deb13-amd64" → the image package. */
export function imagePackageFor(requested: string): string {
  let name = requested.startsWith('linux-image-') ? requested : `linux-image-${requested}`;
  if (!name.endsWith('-amd64')) name += '-amd64';
  return name;
}

/** The kernel packages an image stanza depends on with an exact version. */
export function kernelDependencies(depends: string): string[] {
  const out: string[] = [];
  for (const clause of depends.split(',')) {
    for (const alt of clause.split('|')) {
      const m = /^\s*(linux-(?:binary|modules|base)-\S+)\s*\(=\s*([^)\s]+)\s*\)/.exec(alt);
      if (m) out.push(`${m[1]}=${m[2]}`);
    }
  }
  return out;
}

/** Resolves the requested kernel (default: the newest generic one) to its packages. */
export async function resolveDebianKernel(apt: PrivateApt, requested?: string): Promise<DebianKernel> {
  const candidates = requested
    ? [imagePackageFor(requested)]
    : genericImages(await apt.packageNames('linux-image-'));
  for (const image of candidates) {
    const stanza = newestStanza(await showOrEmpty(apt, image));
    if (!stanza) continue;
    const packageVersion = stanza.Version;
    return {
      kernelVersion: image.slice('linux-image-'.length),
      packageVersion,
      packages: [`${image}=${packageVersion}`, ...kernelDependencies(stanza.Depends ?? '')],
      uapiPackage: await uapiPackageFor(apt, packageVersion),
    };
  }
  throw new VmError('provision', requested
    ? `no Debian kernel package ${imagePackageFor(requested)} in the package lists (try \`vfio-vm provision\` with no --kernel to see the default)`
    : 'no generic amd64 kernel found in the package lists');
}

/**
 * The packages of a pinned kernel, at exactly the pinned version: the stanza of that version
 * decides the dependencies, and the uapi headers are linux-libc-dev of the same version.
 */
export async function resolvePinnedKernel(apt: PrivateApt, pin: KernelPin): Promise<DebianKernel> {
  const stanzas = await showOrEmpty(apt, pin.package);
  const stanza = pinnedStanza(stanzas, pin);
  return {
    kernelVersion: pinRelease(pin),
    packageVersion: pin.version,
    packages: [`${pin.package}=${pin.version}`, ...kernelDependencies(stanza.Depends ?? '')],
    uapiPackage: await uapiPackageFor(apt, pin.version),
  };
}

/** The stanza of exactly the pinned version, or an error naming what the archive has instead. */
export function pinnedStanza(stanzas: Record<string, string>[], pin: KernelPin): Record<string, string> {
  const stanza = stanzas.find((s) => s.Version === pin.version);
  if (stanza) return stanza;
  const offered = stanzas.map((s) => s.Version).filter(Boolean);
  throw new VmError('provision', `kernel "${pin.name}" is pinned to ${pin.package} ${pin.version} (${pin.suite}), `
    + `which the package lists no longer hold (${offered.length ? `they offer ${offered.join(', ')}` : 'no version of that package'}); `
    + 'update its pin in vm/kernels.json (`vfio-vm kernels --available` lists the archive\'s kernels)');
}

async function showOrEmpty(apt: PrivateApt, pkg: string): Promise<Record<string, string>[]> {
  try {
    return await apt.show(pkg);
  } catch {
    return []; // apt-cache show fails for names that exist only as dependencies
  }
}

function newestStanza(stanzas: Record<string, string>[]): Record<string, string> | undefined {
  return stanzas.filter((s) => s.Version)
    .sort((a, b) => compareReleases(b.Version, a.Version))[0];
}

/** linux-libc-dev of exactly the kernel's source version: its uapi is the kernel's own. */
async function uapiPackageFor(apt: PrivateApt, packageVersion: string): Promise<string> {
  const versions = (await showOrEmpty(apt, 'linux-libc-dev')).map((s) => s.Version);
  if (!versions.includes(packageVersion)) {
    throw new VmError('provision',
      `linux-libc-dev ${packageVersion} (the kernel's uapi headers) is not in the package lists; available: ${versions.join(', ')}`);
  }
  return `linux-libc-dev=${packageVersion}`;
}
