// struct vfio_iommu_type1_info (VFIO_IOMMU_GET_INFO on a type1 container) and its caps.
import {
  SIZEOF,
  VFIO_IOMMU_INFO_CAPS,
  VFIO_IOMMU_INFO_PGSIZES,
  VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE,
  VFIO_IOMMU_TYPE1_INFO_CAP_MIGRATION,
  VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL,
} from '../abi';
import { u32, u64 } from './bytes';
import { RawCap, UnknownCap, dataLimit, requireCapSize, unknownCap, walkCapChain } from './caps';
import { DecodeError } from './errors';

/** sizeof(struct vfio_iommu_type1_info). */
export const TYPE1_INFO_SIZE = SIZEOF.vfio_iommu_type1_info;
const OP = 'vfio_iommu_type1_info';

/** An inclusive IOVA range: `end` is the last usable address, as the kernel reports it. */
export interface IovaRange {
  /** First usable address. */
  readonly start: bigint;
  /** Last usable address (inclusive). */
  readonly end: bigint;
}

/** The IOVA_RANGE capability of type1's info: the usable IOVA ranges. */
export interface IovaRangeCap {
  /** Discriminant. */
  readonly type: 'iova-range';
  /** The ranges, inclusive ends. */
  readonly ranges: readonly IovaRange[];
}
/** The MIGRATION capability of type1's info: dirty page tracking limits. */
export interface Type1MigrationCap {
  /** Discriminant. */
  readonly type: 'migration';
  /** The capability's flags word. */
  readonly flags: number;
  /** Page sizes usable for dirty tracking, one bit per size. */
  readonly pgsizeBitmap: bigint;
  /** Largest dirty bitmap the kernel will fill in one call, in bytes. */
  readonly maxDirtyBitmapSize: bigint;
}
/** How many more DMA mappings the container accepts (the dma_entry_limit, 65535 by default). */
export interface DmaAvailCap {
  /** Discriminant. */
  readonly type: 'dma-avail';
  /** Mappings still available. */
  readonly avail: number;
}
/** A capability of vfio_iommu_type1_info's chain; narrow on `type`. */
export type Type1Cap = IovaRangeCap | Type1MigrationCap | DmaAvailCap | UnknownCap;

/** struct vfio_iommu_type1_info (VFIO_IOMMU_GET_INFO), decoded. */
export interface Type1Info {
  /** Bytes the kernel needs for the struct with its caps. */
  readonly argsz: number;
  /** The flags word as the kernel wrote it. */
  readonly rawFlags: number;
  /** The flags, decoded. */
  readonly flags: {
    /** `iovaPgsizes` is valid. */
    readonly pgsizes: boolean;
    /** The struct has a capability chain. */
    readonly caps: boolean;
  };
  /** Supported IOMMU page sizes, one bit per size (bit 12 = 4 KiB). */
  readonly iovaPgsizes: bigint;
  /** Offset of the first capability, 0 when none. */
  readonly capOffset: number;
  /** The decoded capability chain. */
  readonly caps: readonly Type1Cap[];
}

function decodeIovaRanges(cap: RawCap): IovaRangeCap {
  const op = `${OP}: IOVA_RANGE cap`;
  requireCapSize(cap, 16, op, 'IOVA_RANGE');
  const nr = cap.u32(8, op);
  requireCapSize(cap, 16 + nr * 16, op, `IOVA_RANGE with ${nr} ranges`);
  const ranges: IovaRange[] = [];
  for (let i = 0; i < nr; i++) {
    ranges.push({ start: cap.u64(16 + i * 16, op), end: cap.u64(24 + i * 16, op) });
  }
  return { type: 'iova-range', ranges };
}

function decodeMigration(cap: RawCap): Type1MigrationCap {
  const op = `${OP}: MIGRATION cap`;
  // header, u32 flags, 4 bytes of padding (the u64 that follows is naturally aligned), 2 × u64.
  requireCapSize(cap, 32, op, 'MIGRATION');
  return {
    type: 'migration',
    flags: cap.u32(8, op),
    pgsizeBitmap: cap.u64(16, op),
    maxDirtyBitmapSize: cap.u64(24, op),
  };
}

function decodeDmaAvail(cap: RawCap): DmaAvailCap {
  const op = `${OP}: DMA_AVAIL cap`;
  requireCapSize(cap, 12, op, 'DMA_AVAIL');
  return { type: 'dma-avail', avail: cap.u32(8, op) };
}

function decodeType1Cap(cap: RawCap): Type1Cap {
  switch (cap.id) {
    case VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE:
      return decodeIovaRanges(cap);
    case VFIO_IOMMU_TYPE1_INFO_CAP_MIGRATION:
      return decodeMigration(cap);
    case VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL:
      return decodeDmaAvail(cap);
    default:
      return unknownCap(cap);
  }
}

/** Decodes a buffer filled by VFIO_IOMMU_GET_INFO on a type1 container. */
export function decodeType1Info(buf: Uint8Array): Type1Info {
  if (buf.length < TYPE1_INFO_SIZE) {
    throw new DecodeError(OP, 0, `buffer of ${buf.length} bytes is shorter than the ${TYPE1_INFO_SIZE}-byte struct`);
  }
  const argsz = u32(buf, 0, OP);
  const rawFlags = u32(buf, 4, OP);
  const capOffset = u32(buf, 16, OP);
  const caps = walkCapChain(buf, capOffset, TYPE1_INFO_SIZE, dataLimit(buf, argsz), OP, decodeType1Cap);
  return {
    argsz,
    rawFlags,
    flags: { pgsizes: (rawFlags & VFIO_IOMMU_INFO_PGSIZES) !== 0, caps: (rawFlags & VFIO_IOMMU_INFO_CAPS) !== 0 },
    iovaPgsizes: u64(buf, 8, OP),
    capOffset,
    caps,
  };
}

/** The first cap of a given type, if any. */
export function findType1Cap<T extends Type1Cap['type']>(
  caps: readonly Type1Cap[],
  type: T,
):
  | Extract<
      Type1Cap,
      {
        /** The capability kind asked for. */
        type: T;
      }
    >
  | undefined {
  return caps.find((c) => c.type === type) as Extract<Type1Cap, { type: T }> | undefined;
}

/** The smallest supported IOMMU page size (the lowest set bit of iova_pgsizes), or 0n if none. */
export function minPageSize(pgsizes: bigint): bigint {
  return pgsizes === 0n ? 0n : pgsizes & -pgsizes;
}
