// What to do about a failed VFIO_DEVICE_FEATURE, per feature and errno. The kernel answers with
// a bare errno; these turn the common ones into the rule that was broken.
import { DmaBufRange } from '../dma/dmabuf';

const NOT_IMPLEMENTED: Readonly<Record<string, string>> = Object.freeze({
  BUS_MASTER:
    'BUS_MASTER is implemented for CDX devices only; PCI devices set bus mastering in the command register: dev.config.busMaster = true',
  DMA_BUF: 'dma-buf export needs Linux 6.19 or later built with CONFIG_VFIO_PCI_DMABUF, and a driver that supports it',
  PCI_VF_TOKEN: 'only an SR-IOV physical function bound to vfio-pci takes a VF token',
  MIGRATION:
    'migration is implemented by variant drivers with migration support (mlx5_vfio_pci, hisi_acc_vfio_pci, …), not by plain vfio-pci',
  MIG_DEVICE_STATE: 'migration is implemented by variant drivers with migration support, not by plain vfio-pci',
  MIG_DATA_SIZE: 'migration is implemented by variant drivers with migration support, not by plain vfio-pci',
  DMA_LOGGING_START:
    'device dirty tracking is implemented by a few variant drivers (mlx5_vfio_pci, pds_vfio_pci), not by plain vfio-pci',
  DMA_LOGGING_STOP: 'device dirty tracking is implemented by a few variant drivers, not by plain vfio-pci',
  DMA_LOGGING_REPORT: 'device dirty tracking is implemented by a few variant drivers, not by plain vfio-pci',
  LOW_POWER_ENTRY:
    'low power entry is in vfio-pci since Linux 6.0: an older kernel, or a driver not built on vfio-pci-core, answers ENOTTY',
});

/** A hint for any feature's error, or undefined when there is nothing useful to add. */
export function featureHint(name: string, index: number, code: string): string | undefined {
  if (code === 'ENOTTY') {
    return (
      NOT_IMPLEMENTED[name] ??
      `feature number ${index} is not implemented by this kernel or driver; dev.features() lists what the device answers` +
        (index >= 13 ? ' (numbers from 13 up differ between kernel series: check the number table)' : '')
    );
  }
  if (code === 'EINVAL') {
    return `the driver refused the flags or payload of ${name}: dev.feature(${index}).probe({ get: true }) / ({ set: true }) shows which operations it offers`;
  }
  return undefined;
}

const hex = (n: bigint) => `0x${n.toString(16)}`;

/** Why a DMA_BUF export failed, from the errno and what we know of the region. */
export function dmaBufHint(
  code: string,
  region: { index: number; name: string; size?: bigint },
  ranges: readonly DmaBufRange[],
): string | undefined {
  const { name: regionName, size: regionSize } = region;
  const absent = `${regionName} is not implemented by this device (its size is 0)`;
  switch (code) {
    case 'ENODEV':
      // 7.3 answers ENODEV both for indexes past the BARs and for a BAR the device lacks.
      if (region.index > 5)
        return `${regionName} is not a BAR: vfio-pci exports BARs 0–5 only (not the ROM, config space or VGA)`;
      return regionSize === 0n ? absent : `${regionName} is not a memory BAR (I/O port BARs cannot be exported)`;
    case 'EINVAL': {
      if (regionSize === 0n) return absent;
      const past = regionSize === undefined ? undefined : ranges.find((r) => r.offset + r.length > regionSize);
      if (past && regionSize !== undefined)
        return `range [${hex(past.offset)}, +${hex(past.length)}) runs past the end of ${regionName} (${hex(regionSize)} bytes)`;
      return `${regionName} must be a memory BAR, and every range non-empty, page-aligned and inside it`;
    }
    case 'EOVERFLOW':
      return "a range's offset + length overflows the BAR's physical address";
    case 'EOPNOTSUPP':
      return 'this driver does not export dma-bufs (a variant driver without dma-buf support)';
    case 'ENOTTY':
      return featureHint('DMA_BUF', 11, code);
    default:
      return undefined;
  }
}
