// struct vfio_region_info and its capabilities (VFIO_DEVICE_GET_REGION_INFO).
import {
  SIZEOF,
  VFIO_PCI_NUM_REGIONS,
  VFIO_REGION_INFO_CAP_MSIX_MAPPABLE,
  VFIO_REGION_INFO_CAP_SPARSE_MMAP,
  VFIO_REGION_INFO_CAP_TYPE,
  VFIO_REGION_INFO_FLAG_CAPS,
  VFIO_REGION_INFO_FLAG_MMAP,
  VFIO_REGION_INFO_FLAG_READ,
  VFIO_REGION_INFO_FLAG_WRITE,
  pciRegionIndexName,
} from '../abi';
import { u32, u64 } from './bytes';
import { RawCap, UnknownCap, dataLimit, requireCapSize, unknownCap, walkCapChain } from './caps';
import { DecodeError } from './errors';
import { regionTypeName } from './region-types';

/** sizeof(struct vfio_region_info). */
export const REGION_INFO_SIZE = SIZEOF.vfio_region_info;
const SPARSE_HEADER_SIZE = SIZEOF.vfio_region_info_cap_sparse_mmap; // cap header + nr_areas + reserved
const SPARSE_AREA_SIZE = SIZEOF.vfio_region_sparse_mmap_area;
const OP = 'vfio_region_info';

/** One mmappable area of a SPARSE_MMAP capability. */
export interface SparseArea {
  /** Offset within the region. */
  readonly offset: bigint;
  /** Bytes. */
  readonly size: bigint;
}

/** The SPARSE_MMAP capability: only these areas of the region can be mmapped. */
export interface SparseMmapCap {
  /** Discriminant. */
  readonly type: 'sparse-mmap';
  /** The areas. */
  readonly areas: readonly SparseArea[];
}
/** The TYPE capability: a device-specific region's type and subtype. */
export interface RegionTypeCap {
  /** Discriminant. */
  readonly type: 'type';
  /** The region type (vendor types: bit 31 and the PCI vendor ID). */
  readonly regionType: number;
  /** The subtype, meaningful within the type. */
  readonly subtype: number;
}
/** The MSIX_MAPPABLE capability: the MSI-X table in this BAR may be mmapped. */
export interface MsixMappableCap {
  /** Discriminant. */
  readonly type: 'msix-mappable';
}
/** A capability of vfio_region_info's chain; narrow on `type`. */
export type RegionCap = SparseMmapCap | RegionTypeCap | MsixMappableCap | UnknownCap;

/** VFIO_REGION_INFO_FLAG_*, decoded. */
export interface RegionFlags {
  /** The region can be read (pread). */
  readonly read: boolean;
  /** The region can be written (pwrite). */
  readonly write: boolean;
  /** The region (or its sparse areas) can be mmapped. */
  readonly mmap: boolean;
  /** The struct has a capability chain. */
  readonly caps: boolean;
}

/** struct vfio_region_info (VFIO_DEVICE_GET_REGION_INFO), decoded. */
export interface RegionInfo {
  /** The size the kernel reported; larger than the buffer means "call again with this size". */
  readonly argsz: number;
  /** The flags word as the kernel wrote it. */
  readonly rawFlags: number;
  /** The flags, decoded. */
  readonly flags: RegionFlags;
  /** The region index. */
  readonly index: number;
  /** Offset of the first capability, 0 when none. */
  readonly capOffset: number;
  /** Region size in bytes; 0 for an unimplemented region (e.g. an unused BAR). */
  readonly size: bigint;
  /** Where the region starts within the device fd (for pread/pwrite/mmap). */
  readonly offset: bigint;
  /** The decoded capability chain. */
  readonly caps: readonly RegionCap[];
}

function decodeSparse(cap: RawCap): SparseMmapCap {
  const op = `${OP}: SPARSE_MMAP cap`;
  requireCapSize(cap, SPARSE_HEADER_SIZE, op, 'SPARSE_MMAP');
  const nr = cap.u32(8, op);
  requireCapSize(cap, SPARSE_HEADER_SIZE + nr * SPARSE_AREA_SIZE, op, `SPARSE_MMAP with ${nr} areas`);
  const areas: SparseArea[] = [];
  for (let i = 0; i < nr; i++) {
    const at = SPARSE_HEADER_SIZE + i * SPARSE_AREA_SIZE;
    areas.push({ offset: cap.u64(at, op), size: cap.u64(at + 8, op) });
  }
  return { type: 'sparse-mmap', areas };
}

function decodeTypeCap(cap: RawCap): RegionTypeCap {
  const op = `${OP}: TYPE cap`;
  requireCapSize(cap, 16, op, 'TYPE');
  return { type: 'type', regionType: cap.u32(8, op), subtype: cap.u32(12, op) };
}

// The cap carries no data; one frozen object serves every region that has it.
const MSIX_MAPPABLE: MsixMappableCap = Object.freeze({ type: 'msix-mappable' });

function decodeRegionCap(cap: RawCap): RegionCap {
  switch (cap.id) {
    case VFIO_REGION_INFO_CAP_SPARSE_MMAP:
      return decodeSparse(cap);
    case VFIO_REGION_INFO_CAP_TYPE:
      return decodeTypeCap(cap);
    case VFIO_REGION_INFO_CAP_MSIX_MAPPABLE:
      return MSIX_MAPPABLE;
    default:
      return unknownCap(cap);
  }
}

function regionFlags(raw: number): RegionFlags {
  return {
    read: (raw & VFIO_REGION_INFO_FLAG_READ) !== 0,
    write: (raw & VFIO_REGION_INFO_FLAG_WRITE) !== 0,
    mmap: (raw & VFIO_REGION_INFO_FLAG_MMAP) !== 0,
    caps: (raw & VFIO_REGION_INFO_FLAG_CAPS) !== 0,
  };
}

/** Decodes a buffer filled by VFIO_DEVICE_GET_REGION_INFO (fixed part plus any caps). */
export function decodeRegionInfo(buf: Uint8Array): RegionInfo {
  if (buf.length < REGION_INFO_SIZE) {
    throw new DecodeError(OP, 0, `buffer of ${buf.length} bytes is shorter than the ${REGION_INFO_SIZE}-byte struct`);
  }
  const argsz = u32(buf, 0, OP);
  const rawFlags = u32(buf, 4, OP);
  const capOffset = u32(buf, 12, OP);
  const caps = walkCapChain(buf, capOffset, REGION_INFO_SIZE, dataLimit(buf, argsz), OP, decodeRegionCap);
  return {
    argsz,
    rawFlags,
    flags: regionFlags(rawFlags),
    index: u32(buf, 8, OP),
    capOffset,
    size: u64(buf, 16, OP),
    offset: u64(buf, 24, OP),
    caps,
  };
}

/** The first cap of a given type, if any. */
export function findRegionCap<T extends RegionCap['type']>(
  caps: readonly RegionCap[],
  type: T,
):
  | Extract<
      RegionCap,
      {
        /** The capability kind asked for. */
        type: T;
      }
    >
  | undefined {
  return caps.find((c) => c.type === type) as Extract<RegionCap, { type: T }> | undefined;
}

/**
 * A readable name: a name derived from a TYPE cap when there is one (e.g. 'igd-opregion', or
 * 'type:0x80000000/0x1' when the pair is unknown), else the fixed vfio-pci name ('BAR0'…'VGA'),
 * else `region<N>` for a device-specific index without a TYPE cap.
 */
export function regionName(index: number, caps: readonly RegionCap[] = []): string {
  const t = findRegionCap(caps, 'type');
  if (t) return regionTypeName(t.regionType, t.subtype);
  return index < VFIO_PCI_NUM_REGIONS ? pciRegionIndexName(index) : `region${index}`;
}

/** A byte range of a region that mmap accepts. */
export interface MappableArea {
  /** Offset within the region (add RegionInfo.offset for the device-fd offset). */
  readonly offset: bigint;
  /** Bytes. */
  readonly size: bigint;
}

/**
 * The parts of a region that may be mmapped. The kernel sets the MMAP flag and, when only parts
 * can be mapped (typically around an MSI-X table), lists them in a SPARSE_MMAP cap; without that
 * cap the whole region is mappable. Zero-size areas are dropped: mmap would reject them.
 */
export function mappableAreas(info: RegionInfo): MappableArea[] {
  if (!info.flags.mmap || info.size === 0n) return [];
  const sparse = findRegionCap(info.caps, 'sparse-mmap');
  const areas = sparse ? sparse.areas : [{ offset: 0n, size: info.size }];
  for (const a of areas) {
    // An area past the region's end would map whatever follows it in the device fd.
    if (a.offset + a.size > info.size) {
      throw new DecodeError(
        `${OP}: SPARSE_MMAP cap`,
        -1,
        `area 0x${a.offset.toString(16)}+0x${a.size.toString(16)} runs past the region size 0x${info.size.toString(16)}`,
      );
    }
  }
  return areas.filter((a) => a.size > 0n).map((a) => ({ offset: a.offset, size: a.size }));
}
