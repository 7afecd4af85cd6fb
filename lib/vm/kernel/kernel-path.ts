// A custom kernel given as a path (--kernel PATH). Either a single image file (everything the
// guest needs built in), or a directory laid out the way the kernel's own install targets
// leave it:
//   DIR/vmlinux            ELF with a PVH entry (preferred), and/or
//   DIR/bzImage            (or DIR/vmlinuz, or DIR/arch/x86/boot/bzImage in a build tree)
//   DIR/lib/modules/<rel>/ optional: `make modules_install INSTALL_MOD_PATH=DIR`
//   DIR/include/           optional: `make headers_install INSTALL_HDR_PATH=DIR`
import * as fs from 'fs';
import * as path from 'path';
import { VmError } from '../core/errors';
import { KernelInfo } from '../core/kernel';
import { bzImageRelease, hasPvhEntry, isBzImage, isElf, vmlinuxRelease } from './kernel-image';

/** Whether a --kernel value names a path rather than a Debian version. */
export function looksLikePath(spec: string): boolean {
  return spec.includes('/') || spec.startsWith('.') || fs.existsSync(spec);
}

function head(file: string): Buffer {
  const fd = fs.openSync(file, 'r');
  try {
    const b = Buffer.alloc(4096);
    return b.subarray(0, fs.readSync(fd, b, 0, b.length, 0));
  } finally {
    fs.closeSync(fd);
  }
}

const firstExisting = (dir: string, names: string[]) =>
  names.map((n) => path.join(dir, n)).find((p) => fs.existsSync(p) && fs.statSync(p).isFile());

/** The single release directory under DIR/lib/modules, if any. */
function modulesDirIn(dir: string, release?: string): string | undefined {
  const base = path.join(dir, 'lib', 'modules');
  if (!fs.existsSync(base)) return undefined;
  if (release && fs.existsSync(path.join(base, release))) return path.join(base, release);
  const entries = fs.readdirSync(base).filter((e) => fs.statSync(path.join(base, e)).isDirectory());
  if (entries.length === 1) return path.join(base, entries[0]);
  throw new VmError('kernel-path',
    `${base} holds ${entries.length} module trees (${entries.join(', ')}); keep the one matching the kernel`);
}

/** Describes the kernel at `spec` (file or directory) without booting anything. */
export function pathKernel(spec: string): KernelInfo {
  const abs = path.resolve(spec);
  if (!fs.existsSync(abs)) {
    throw new VmError('kernel-path', `--kernel ${spec}: no such file or directory`);
  }
  const dir = fs.statSync(abs).isDirectory() ? abs : undefined;
  const vmlinux = dir ? firstExisting(dir, ['vmlinux']) : isElf(head(abs)) ? abs : undefined;
  const bzImage = dir
    ? firstExisting(dir, ['bzImage', 'vmlinuz', 'arch/x86/boot/bzImage'])
    : isBzImage(head(abs)) ? abs : undefined;
  if (!vmlinux && !bzImage) {
    throw new VmError('kernel-path', dir
      ? `--kernel ${spec}: no vmlinux, bzImage or vmlinuz in that directory`
      : `--kernel ${spec}: neither an ELF vmlinux nor a bzImage`);
  }
  if (bzImage && !isBzImage(head(bzImage))) {
    throw new VmError('kernel-path', `--kernel ${spec}: ${bzImage} is not a bzImage`);
  }
  const pvh = vmlinux !== undefined && hasPvhEntry(vmlinux);
  const kernelImage = pvh ? vmlinux : bzImage;
  if (!kernelImage) {
    throw new VmError('kernel-path', `--kernel ${spec}: ${vmlinux} has no PVH entry (CONFIG_PVH) and no bzImage is beside it`);
  }
  const release = (bzImage && bzImageRelease(fs.readFileSync(bzImage)))
    ?? (vmlinux && vmlinuxRelease(vmlinux));
  const modulesDir = dir ? modulesDirIn(dir, release) : undefined;
  const kernelVersion = release ?? (modulesDir && path.basename(modulesDir));
  if (!kernelVersion) throw new VmError('kernel-path', `--kernel ${spec}: cannot tell the kernel release`);
  const include = dir && path.join(dir, 'include');
  return {
    source: 'path',
    kernelVersion,
    kernelImage,
    pvh,
    bzImage,
    modulesDir,
    uapiInclude: include && fs.existsSync(path.join(include, 'linux', 'vfio.h')) ? include : undefined,
  };
}
