// What the iommufd backend says when an iommufd call fails (opening or binding a device's cdev,
// mapping a dma-buf, asking a physical address): the errno as the BusyError or VfioError it
// means, with a hint that names the fix.
import type { DmaBuf } from '../dma/dmabuf';
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

/** IOMMU_IOAS_MAP_FILE's failures: which kernels import which dma-bufs. */
export function mapFileError(errno: number, buf: DmaBuf): VfioError {
  const code = errnoName(errno);
  const unsupported = code === 'ENOTTY' || code === 'EOPNOTSUPP' || code === 'ENODEV';
  return errnoError(errno, 'IOMMU_IOAS_MAP_FILE', {
    detail: `dma-buf of ${buf.label} ${buf.regionName}`,
    hint:
      code === 'ENOTTY'
        ? "this kernel's iommufd has no IOMMU_IOAS_MAP_FILE (Linux 6.13+)"
        : unsupported || code === 'EINVAL'
          ? "this kernel's iommufd does not import this dma-buf: it takes single-range VFIO PCI dma-bufs " +
            '(Linux 6.19+, CONFIG_VFIO_PCI_DMABUF and PCI_P2PDMA); export one range only'
          : undefined,
  });
}

/** IOMMU_IOAS_NOIOMMU_GET_PA's failures. */
export function getPaError(errno: number, iova: bigint): VfioError {
  const code = errnoName(errno);
  return errnoError(errno, 'IOMMU_IOAS_NOIOMMU_GET_PA', {
    detail: `IOVA 0x${iova.toString(16)}`,
    hint:
      code === 'EPERM'
        ? 'physical addresses are for CAP_SYS_RAWIO only'
        : code === 'ENOENT'
          ? 'nothing is mapped at that IOVA'
          : undefined,
  });
}
