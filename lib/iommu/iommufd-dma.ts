// The IOAS side of DMA: IOMMU_IOAS_IOVA_RANGES, IOMMU_IOAS_MAP / UNMAP behind the
// backend-neutral DmaBackend (dma-map.ts), and the pure helpers IommufdContext needs when a new
// device narrows the IOAS's usable ranges.
import { IOMMU_IOAS_MAP_FIXED_IOVA, IOMMU_IOAS_MAP_READABLE, IOMMU_IOAS_MAP_WRITEABLE } from '../abi';
import { DmaBackend, DmaGeometry } from '../dma/map';
import { errnoError, errnoNumber, invalidArgument } from '../errors';
import { native } from '../addon/native';
import { IovaRange } from '../dma/iova';

/** What IommufdContext lends its DMA backend. */
export interface IoasHost {
  /** The iommufd, or the closed error. */
  fd(op: string): number;
  readonly ioasId: number;
  /** Whether a device is attached: before that the IOAS's ranges are not final. */
  ready(): boolean;
  /** Page sizes beyond the IOVA granule that the IOMMU behind the devices supports (0n if unknown). */
  largePages(): bigint;
  /** Called with the geometry the DMA space adopts. */
  adopted(ranges: readonly IovaRange[]): void;
  readonly name: string;
}

const NOT_ATTACHED_HINT =
  'an IOAS gets its final IOVA ranges when a device attaches to it: ' +
  'open a device in the context first (Device.open(bdf, { iommu: ctx })), then map';

export interface IoasRanges {
  readonly ranges: IovaRange[];
  /** out_iova_alignment: IOVAs and lengths given to MAP must be multiples of it. */
  readonly alignment: bigint;
}

/** IOMMU_IOAS_IOVA_RANGES, growing the buffer until every range fits. */
export function queryIoasRanges(fd: number, ioasId: number): IoasRanges {
  const n = native();
  let out = new BigUint64Array(8);
  const alignment = new BigUint64Array(1);
  for (let attempt = 0; attempt < 4; attempt++) {
    const r = n.IOMMU_IOAS_IOVA_RANGES(fd, ioasId, out, alignment);
    if (r < 0) throw errnoError(-r, 'IOMMU_IOAS_IOVA_RANGES');
    if (r <= out.length / 2) {
      const ranges: IovaRange[] = [];
      for (let i = 0; i < r; i++) ranges.push({ start: out[2 * i], end: out[2 * i + 1] });
      return { ranges, alignment: alignment[0] };
    }
    out = new BigUint64Array(2 * r);
  }
  throw errnoError(errnoNumber('EMSGSIZE'), 'IOMMU_IOAS_IOVA_RANGES', { detail: 'the range list kept growing' });
}

/** The smallest page IOAS mappings use: the IOVA granule, but never below the CPU page (buffers are whole pages). */
export function ioasPage(alignment: bigint, cpuPage: bigint): bigint {
  return alignment > cpuPage ? alignment : cpuPage;
}

/**
 * The parts of `before` that `after` no longer covers, page-rounded outwards: address ranges a
 * newly attached device reserved (its MSI window, RMRRs), which an allocator built on `before`
 * must stop handing out. Inclusive ends, like the kernel's ranges.
 */
export function excludedSpans(before: readonly IovaRange[], after: readonly IovaRange[], page: bigint): IovaRange[] {
  const out: IovaRange[] = [];
  const sorted = [...after].sort((a, b) => (a.start < b.start ? -1 : 1));
  for (const r of before) {
    let at = r.start;
    for (const a of sorted) {
      if (a.end < at || a.start > r.end) continue;
      if (a.start > at) out.push({ start: at, end: a.start - 1n });
      at = a.end + 1n;
      if (at > r.end) break;
    }
    if (at <= r.end) out.push({ start: at, end: r.end });
  }
  return out.map((s) => ({ start: s.start & ~(page - 1n), end: ((s.end + page) & ~(page - 1n)) - 1n }));
}

export function ioasMapFlags(read: boolean, write: boolean): number {
  return IOMMU_IOAS_MAP_FIXED_IOVA | (read ? IOMMU_IOAS_MAP_READABLE : 0) | (write ? IOMMU_IOAS_MAP_WRITEABLE : 0);
}

/** IOVAs always come from our allocator (FIXED_IOVA): the same allocator, errors and DMA masks on every backend. */
export function ioasDmaBackend(host: IoasHost): DmaBackend {
  const mapOp = `${host.name}.map`;
  // Taken once, as in type1DmaBackend: a lookup on the addon object per call is slow.
  const { IOMMU_IOAS_MAP: ioasMap, IOMMU_IOAS_UNMAP: ioasUnmap } = native();
  return {
    name: host.name,
    mapOp: 'IOMMU_IOAS_MAP',
    unmapOp: 'IOMMU_IOAS_UNMAP',
    geometry(op: string): DmaGeometry {
      if (!host.ready())
        throw invalidArgument(op, 'no device is attached to the IOAS yet', { hint: NOT_ATTACHED_HINT });
      const { ranges, alignment } = queryIoasRanges(host.fd(op), host.ioasId);
      host.adopted(ranges);
      const page = ioasPage(alignment, BigInt(native().constants.PAGE_SIZE));
      return { ranges, pageSizes: page | host.largePages() };
    },
    map(mem, offset, size, iova, read, write) {
      const r = ioasMap(host.fd(mapOp), host.ioasId, mem, offset, size, iova, ioasMapFlags(read, write));
      return typeof r === 'number' && r < 0 ? r : 0;
    },
    unmap(iova, size) {
      return ioasUnmap(host.fd('DmaMapping.unmap'), host.ioasId, iova, size);
    },
    // iommufd has no per-mapping limit like type1's dma_entry_limit.
    dmaAvailable: () => undefined,
  };
}
