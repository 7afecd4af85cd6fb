// The type1 container's side of DMA: VFIO_IOMMU_GET_INFO (page sizes, IOVA ranges, DMA_AVAIL)
// and VFIO_IOMMU_MAP_DMA / UNMAP_DMA behind the backend-neutral DmaBackend (dma-map.ts).
import { VFIO_DMA_MAP_FLAG_READ, VFIO_DMA_MAP_FLAG_WRITE } from '../abi';
import { Type1Info, decodeType1Info, findType1Cap } from '../decode';
import { DmaBackend, DmaGeometry } from '../dma/map';
import { errnoError, invalidArgument } from '../errors';
import { InfoBuffer } from '../addon/info-buffer';
import { IovaRange } from '../dma/iova';
import { native } from '../addon/native';

/** Before a group joins, type1 has no IOMMU and no address space. */
const NOT_SET_HINT =
  'a type1 container has no IOMMU until the first device joins it: ' +
  'open a device in it first (Device.open(bdf, { iommu: ctx })), then map';

/** The whole 64-bit space: what a kernel without the IOVA_RANGE cap (before 5.4) allows. */
const ALL_IOVAS: readonly IovaRange[] = [{ start: 0n, end: (1n << 64n) - 1n }];

/** What Type1Context lends its DMA backend. */
export interface Type1Host {
  /** The container fd, or the closed error. */
  fd(op: string): number;
  /** Whether VFIO_SET_IOMMU has happened. */
  ready(): boolean;
  /** iommufd's container compatibility stands in for type1 (/dev/iommu as the container). */
  readonly compat: boolean;
}

export function queryType1Info(host: Type1Host, op: string): Type1Info {
  if (!host.ready()) throw invalidArgument(op, 'the container has no IOMMU set yet', { hint: NOT_SET_HINT });
  const fd = host.fd(op);
  // Rare (ranges are cached, DMA_AVAIL is read on demand): a buffer per query is fine here.
  const r = new InfoBuffer().query((b) => native().VFIO_IOMMU_GET_INFO(fd, b));
  if (typeof r === 'number') throw errnoError(-r, 'VFIO_IOMMU_GET_INFO');
  return decodeType1Info(r);
}

/**
 * How many more mappings the kernel accepts, or undefined when it sets no limit: kernels before
 * 5.10 have no DMA_AVAIL cap, and iommufd (which has no such limit) reports a constant 2^32-1
 * through its compatibility container.
 */
export function dmaAvailableOf(info: Type1Info, compat: boolean): number | undefined {
  return compat ? undefined : findType1Cap(info.caps, 'dma-avail')?.avail;
}

export function iovaRangesOf(info: Type1Info): IovaRange[] {
  return [...(findType1Cap(info.caps, 'iova-range')?.ranges ?? ALL_IOVAS)];
}

export function type1DmaBackend(host: Type1Host): DmaBackend {
  // Taken once: the addon object is in dictionary mode, and a lookup per call would take the
  // generic load path on every map and every unmap (docs/measurements.md).
  const { VFIO_IOMMU_MAP_DMA: mapDma, VFIO_IOMMU_UNMAP_DMA: unmapDma } = native();
  return {
    name: 'Type1Context',
    mapOp: 'VFIO_IOMMU_MAP_DMA',
    unmapOp: 'VFIO_IOMMU_UNMAP_DMA',
    geometry(op: string): DmaGeometry {
      const info = queryType1Info(host, op);
      return { ranges: iovaRangesOf(info), pageSizes: info.flags.pgsizes ? info.iovaPgsizes : 0n };
    },
    map(mem, offset, size, iova, read, write) {
      const flags = (read ? VFIO_DMA_MAP_FLAG_READ : 0) | (write ? VFIO_DMA_MAP_FLAG_WRITE : 0);
      return mapDma(host.fd('Type1Context.map'), mem, offset, size, iova, flags);
    },
    unmap(iova, size) {
      return unmapDma(host.fd('DmaMapping.unmap'), iova, size, 0);
    },
    dmaAvailable() {
      try {
        return dmaAvailableOf(queryType1Info(host, 'dmaAvailable'), host.compat);
      } catch {
        return undefined;
      }
    },
  };
}
