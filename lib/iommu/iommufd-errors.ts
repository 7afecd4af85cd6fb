// What the iommufd backend says when opening or binding a device's cdev fails: the errno as
// the BusyError or VfioError it means, with a hint that names the fix.
import { BusyError, VfioError, errnoError, errnoName } from '../errors';
import { nodeAccessHint } from '../system/hints';

export function openHint(code: string, file: string): string | undefined {
  switch (code) {
    case 'EACCES':
    case 'EPERM':
      return nodeAccessHint(file.endsWith('/iommu') ? [file] : [file, '/dev/iommu']);
    case 'ENOENT':
      return `${file} does not exist: is the kernel built with CONFIG_VFIO_DEVICE_CDEV, and the device bound to a VFIO driver?`;
    default:
      return undefined;
  }
}

/**
 * BIND's failures on a freshly opened cdev. The kernel lets a device be opened once through its
 * cdev and answers a second BIND (from this process or another) with EINVAL: reported as the
 * BusyError it is, keeping the kernel's errno.
 */
export function bindError(errno: number, name: string, tokenHint?: string): VfioError {
  const code = errnoName(errno);
  const op = 'VFIO_DEVICE_BIND_IOMMUFD';
  // The VF token explains the errno (vf-token.ts): EACCES, or EINVAL with a token given.
  if (tokenHint !== undefined) return errnoError(errno, op, { device: name, hint: tokenHint });
  if (code === 'EINVAL') {
    return new BusyError({
      code: 'EBUSY',
      errno,
      op,
      device: name,
      message: `${op} failed on ${name}: the device is already open (the kernel answered EINVAL)`,
      hint:
        `${name} is already open through its cdev, in this process (close the other Device first) or in another one; ` +
        'the kernel allows one open of a device through its cdev at a time',
    });
  }
  return errnoError(errno, op, {
    device: name,
    hint:
      code === 'EBUSY'
        ? `${name}, or another device of its IOMMU group, is already in use: through the group ` +
          '(/dev/vfio/N), by another iommufd, or by a kernel driver; close the other user first'
        : code === 'EPERM'
          ? 'binding a no-IOMMU device needs CAP_SYS_RAWIO'
          : undefined,
  });
}
