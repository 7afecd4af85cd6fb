// IOMMU_GET_HW_INFO's answer: the generic part (type, capabilities, PASID width) and the Intel
// VT-d payload (struct iommu_hw_info_vtd), whose two registers are decoded field by field from
// the VT-d specification (section 11.4.2 Capability Register, 11.4.3 Extended Capability
// Register). Other IOMMUs' payloads are kept as bytes.
import {
  IOMMU_HW_CAP_DIRTY_TRACKING,
  IOMMU_HW_CAP_PCI_ATS_NOT_SUPPORTED,
  IOMMU_HW_CAP_PCI_PASID_EXEC,
  IOMMU_HW_CAP_PCI_PASID_PRIV,
  IOMMU_HW_INFO_TYPE_AMD,
  IOMMU_HW_INFO_TYPE_ARM_SMMUV3,
  IOMMU_HW_INFO_TYPE_INTEL_VTD,
  IOMMU_HW_INFO_TYPE_NONE,
  IOMMU_HW_INFO_TYPE_TEGRA241_CMDQV,
  IOMMU_HW_INFO_VTD_ERRATA_772415_SPR17,
  SIZEOF,
} from '../abi';
import { ByteSource, asBytes, copyBytes, u32, u64 } from './bytes';
import { DecodeError } from './errors';

/** sizeof(struct iommu_hw_info_vtd). */
export const IOMMU_HW_INFO_VTD_SIZE = SIZEOF.iommu_hw_info_vtd;
/** Room for any payload the kernel has today (VT-d 24, SMMUv3 44, AMD 16 bytes). */
export const IOMMU_HW_INFO_DATA_MAX = 256;

/** The IOMMU hardware behind an iommufd device (IOMMU_GET_HW_INFO's out_data_type), by name. */
export type IommuHwType = 'none' | 'intel-vtd' | 'arm-smmuv3' | 'tegra241-cmdqv' | 'amd' | 'unknown';

const TYPES: Record<number, IommuHwType> = {
  [IOMMU_HW_INFO_TYPE_NONE]: 'none',
  [IOMMU_HW_INFO_TYPE_INTEL_VTD]: 'intel-vtd',
  [IOMMU_HW_INFO_TYPE_ARM_SMMUV3]: 'arm-smmuv3',
  [IOMMU_HW_INFO_TYPE_TEGRA241_CMDQV]: 'tegra241-cmdqv',
  [IOMMU_HW_INFO_TYPE_AMD]: 'amd',
};

/** The VT-d Capability Register, decoded. */
export interface VtdCap {
  /** The register as read. */
  readonly raw: bigint;
  /** Domain ids the unit supports (ND: 2^(4 + 2·ND)). */
  readonly domains: number;
  /** Maximum guest (input) address width in bits (MGAW + 1). */
  readonly mgaw: number;
  /** Page-table depths the second-level translation supports, as address widths (SAGAW: 39, 48, 57). */
  readonly sagaw: readonly number[];
  /** Second-level large page sizes, one bit per size (SLLPS: 2 MiB = bit 21, 1 GiB = bit 30). */
  readonly secondLevelLargePages: bigint;
  /** First-level 1 GiB pages (FL1GP). */
  readonly firstLevel1GiB: boolean;
  /** Page-selective invalidation (PSI). */
  readonly pageSelectiveInvalidation: boolean;
  /** Fault recording registers (NFR + 1) and where they are (FRO · 16). */
  readonly faultRecordingRegisters: number;
  /** Offset of the fault recording registers from the unit's base, in bytes. */
  readonly faultRecordingOffset: number;
  /** Caching mode (CM): the unit may cache non-present entries; software must flush on map. Emulated IOMMUs set it. */
  readonly cachingMode: boolean;
  /** Posted interrupts (PI). */
  readonly postedInterrupts: boolean;
}

/** The VT-d Extended Capability Register, decoded (the fields a userspace driver asks about). */
export interface VtdEcap {
  /** The register as read. */
  readonly raw: bigint;
  /** Page walks snoop the CPU caches (C). */
  readonly coherent: boolean;
  /** Queued invalidation (QI). */
  readonly queuedInvalidation: boolean;
  /** Device TLBs, i.e. ATS (DT). */
  readonly deviceTlb: boolean;
  /** Interrupt remapping (IR). */
  readonly interruptRemapping: boolean;
  /** Extended (x2APIC) interrupt mode (EIM). */
  readonly extendedInterruptMode: boolean;
  /** Pass-through translation (PT). */
  readonly passThrough: boolean;
  /** Nested translation (NEST). */
  readonly nested: boolean;
  /** Process address space IDs (PASID). */
  readonly pasid: boolean;
  /** PASID width in bits (PSS + 1), when pasid is set. */
  readonly pasidBits: number;
  /** Scalable-mode translation (SMTS). */
  readonly scalableMode: boolean;
  /** First-level translation (FLTS). */
  readonly firstLevelTranslation: boolean;
  /** Second-level translation (SLTS). */
  readonly secondLevelTranslation: boolean;
  /** Second-level accessed/dirty bits (SLADS), which dirty tracking needs. */
  readonly secondLevelAccessedDirty: boolean;
}

/** struct iommu_hw_info_vtd: an Intel VT-d unit's registers. */
export interface VtdHwInfo {
  /** The struct's flags word (errata bits). */
  readonly flags: number;
  /** Errata 772415 (Sapphire Rapids): read-only mappings are not allowed on a nesting parent. */
  readonly errata772415: boolean;
  /** The Capability Register, decoded. */
  readonly cap: VtdCap;
  /** The Extended Capability Register, decoded. */
  readonly ecap: VtdEcap;
}

/** IOMMU_GET_HW_INFO for one device, decoded. */
export interface IommuHwInfo {
  /** The hardware type, by name. */
  readonly type: IommuHwType;
  /** out_data_type as the kernel wrote it. */
  readonly rawType: number;
  /** out_capabilities as the kernel wrote it. */
  readonly rawCapabilities: bigint;
  /** out_capabilities, decoded (IOMMU_HW_CAP_*). */
  readonly capabilities: {
    /** Dirty tracking of DMA writes is supported. */
    readonly dirtyTracking: boolean;
    /** PASID with execute permission. */
    readonly pasidExec: boolean;
    /** PASID with privileged mode. */
    readonly pasidPriv: boolean;
    /** The device may not use ATS. */
    readonly atsNotSupported: boolean;
  };
  /** PASID width the device and IOMMU support together (0: none). */
  readonly maxPasidLog2: number;
  /** The payload the kernel filled (data_len bytes), for types decoded here or not. */
  readonly data: Uint8Array;
  /** The decoded payload of an Intel VT-d unit. */
  readonly vtd?: VtdHwInfo;
}

function bits(v: bigint, lo: number, width: number): number {
  return Number((v >> BigInt(lo)) & ((1n << BigInt(width)) - 1n));
}

function bit(v: bigint, n: number): boolean {
  return ((v >> BigInt(n)) & 1n) === 1n;
}

/** Decodes a VT-d Capability Register value. */
export function decodeVtdCap(raw: bigint): VtdCap {
  const sagawBits = bits(raw, 8, 5);
  const sagaw: number[] = [];
  // SAGAW bit 1: 39-bit (3-level), bit 2: 48-bit (4-level), bit 3: 57-bit (5-level).
  [
    [1, 39],
    [2, 48],
    [3, 57],
  ].forEach(([b, w]) => {
    if (sagawBits & (1 << b)) sagaw.push(w);
  });
  const sllps = bits(raw, 34, 4);
  return {
    raw,
    domains: 2 ** (4 + 2 * bits(raw, 0, 3)),
    cachingMode: bit(raw, 7),
    sagaw,
    mgaw: bits(raw, 16, 6) + 1,
    faultRecordingOffset: bits(raw, 24, 10) * 16,
    secondLevelLargePages: (sllps & 1 ? 1n << 21n : 0n) | (sllps & 2 ? 1n << 30n : 0n),
    pageSelectiveInvalidation: bit(raw, 39),
    faultRecordingRegisters: bits(raw, 40, 8) + 1,
    firstLevel1GiB: bit(raw, 56),
    postedInterrupts: bit(raw, 59),
  };
}

/** Decodes a VT-d Extended Capability Register value. */
export function decodeVtdEcap(raw: bigint): VtdEcap {
  const pasid = bit(raw, 40);
  return {
    raw,
    coherent: bit(raw, 0),
    queuedInvalidation: bit(raw, 1),
    deviceTlb: bit(raw, 2),
    interruptRemapping: bit(raw, 3),
    extendedInterruptMode: bit(raw, 4),
    passThrough: bit(raw, 6),
    nested: bit(raw, 26),
    pasid,
    pasidBits: pasid ? bits(raw, 35, 5) + 1 : 0,
    scalableMode: bit(raw, 43),
    secondLevelAccessedDirty: bit(raw, 45),
    secondLevelTranslation: bit(raw, 46),
    firstLevelTranslation: bit(raw, 47),
  };
}

/** struct iommu_hw_info_vtd. */
export function decodeVtdHwInfo(buf: Uint8Array): VtdHwInfo {
  const op = 'iommu_hw_info_vtd';
  if (buf.length < IOMMU_HW_INFO_VTD_SIZE)
    throw new DecodeError(op, 0, `${buf.length} bytes, the struct has ${IOMMU_HW_INFO_VTD_SIZE}`);
  const flags = u32(buf, 0, op);
  return {
    flags,
    errata772415: (flags & IOMMU_HW_INFO_VTD_ERRATA_772415_SPR17) !== 0,
    cap: decodeVtdCap(u64(buf, 8, op)),
    ecap: decodeVtdEcap(u64(buf, 16, op)),
  };
}

/**
 * The whole answer: `rawType` is what the ioctl returned (out_data_type), `out` the addon's
 * [out_capabilities, data_len, out_max_pasid_log2], `buf` the buffer it filled.
 */
export function decodeIommuHwInfo(rawType: number, out: BigUint64Array, bufIn: ByteSource): IommuHwInfo {
  const op = 'iommu_hw_info';
  if (!(out instanceof BigUint64Array) || out.length < 3) {
    throw new DecodeError(
      op,
      -1,
      `the answer needs 3 u64s [capabilities, data_len, max_pasid_log2], got ${out instanceof BigUint64Array ? out.length : 'no BigUint64Array'}`,
    );
  }
  const buf = asBytes(bufIn, op);
  const caps = out[0];
  const dataLen = Math.min(Number(out[1]), buf.length);
  const data = copyBytes(buf, 0, dataLen, op);
  const type = TYPES[rawType] ?? 'unknown';
  const has = (flag: number) => (caps & BigInt(flag)) !== 0n;
  return {
    type,
    rawType,
    rawCapabilities: caps,
    capabilities: {
      dirtyTracking: has(IOMMU_HW_CAP_DIRTY_TRACKING),
      pasidExec: has(IOMMU_HW_CAP_PCI_PASID_EXEC),
      pasidPriv: has(IOMMU_HW_CAP_PCI_PASID_PRIV),
      atsNotSupported: has(IOMMU_HW_CAP_PCI_ATS_NOT_SUPPORTED),
    },
    maxPasidLog2: Number(out[2]),
    data,
    vtd: type === 'intel-vtd' ? decodeVtdHwInfo(data) : undefined,
  };
}

/**
 * The page sizes a VT-d unit's iommufd domain can map with (a page size bitmap like type1's):
 * the base page, plus second-level large pages (the default domain of a unit without scalable
 * mode), or 2 MiB and optionally 1 GiB first-level pages when the kernel can use first-level
 * tables (scalable mode with first-level translation).
 */
export function vtdPageSizes(vtd: VtdHwInfo, basePage: bigint): bigint {
  if (vtd.ecap.scalableMode && vtd.ecap.firstLevelTranslation) {
    return basePage | (1n << 21n) | (vtd.cap.firstLevel1GiB ? 1n << 30n : 0n);
  }
  return basePage | vtd.cap.secondLevelLargePages;
}
