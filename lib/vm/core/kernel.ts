// What a provisioned guest kernel is, whatever its source (Debian packages or a path).
// A later source (a kernel built from linux-source with a config fragment) produces the same
// shape, so the initramfs and QEMU layers never ask where a kernel came from.

/** Where a guest kernel came from: Debian's packages, a path given by the user, or the custom build. */
export type KernelSource = 'debian' | 'path' | 'custom';

/** A provisioned guest kernel, whatever its source. */
export interface KernelInfo {
  /** Where it came from. */
  source: KernelSource;
  /** The kernel release (uname -r). */
  kernelVersion: string;
  /** The file QEMU boots: the uncompressed vmlinux when it has a PVH entry, else a bzImage. */
  kernelImage: string;
  /** Whether kernelImage is an ELF vmlinux booted through PVH (then qboot is used as firmware). */
  pvh: boolean;
  /** The compressed image, kept as a fallback. */
  bzImage?: string;
  /** lib/modules/<release> of this kernel; undefined when everything is built in. */
  modulesDir?: string;
  /** A uapi include directory (linux/vfio.h, linux/iommufd.h, asm/…) matching the kernel. */
  uapiInclude?: string;
  /** The Debian package version, for Debian kernels. */
  packageVersion?: string;
  /** A tree for out-of-tree modules (`make -C buildTree M=DIR modules`), for custom kernels. */
  buildTree?: string;
}
