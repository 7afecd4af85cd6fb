// Pure decoders of the Identify data structures (NVM Express Base Specification, Identify
// command: CNS 00h namespace, 01h controller, 02h active namespace ID list). Byte fixtures in
// test/host/nvme-decode.test.ts check them.
import { DecodeError } from '../index';

/** Bytes of an Identify data structure (every CNS value): 4096. */
export const IDENTIFY_BYTES = 4096;

/** Optional NVM commands (Identify Controller ONCS), the ones this driver uses or reports. */
export interface NvmeOptionalCommands {
  /** Compare (ONCS bit 0). */
  readonly compare: boolean;
  /** Write Uncorrectable (bit 1). */
  readonly writeUncorrectable: boolean;
  /** Dataset Management, i.e. deallocate/TRIM (bit 2). */
  readonly datasetManagement: boolean;
  /** Write Zeroes (bit 3). */
  readonly writeZeroes: boolean;
  /** Save and Select in Set/Get Features (bit 4). */
  readonly saveSelectFeatures: boolean;
  /** Reservations (bit 5). */
  readonly reservations: boolean;
  /** Timestamp feature (bit 6). */
  readonly timestamp: boolean;
  /** Verify (bit 7). */
  readonly verify: boolean;
  /** Copy (bit 8). */
  readonly copy: boolean;
}

/** Identify Controller (CNS 1), the fields this driver uses or reports. */
export interface IdentifyController {
  /** PCI vendor ID (VID). */
  readonly vendorId: number;
  /** PCI subsystem vendor ID (SSVID). */
  readonly subsystemVendorId: number;
  /** Serial number, model and firmware revision: ASCII, trailing spaces trimmed. */
  readonly serial: string;
  /** Model number (MN). */
  readonly model: string;
  /** Firmware revision (FR). */
  readonly firmware: string;
  /** IEEE OUI of the vendor, as the number the three bytes make (least significant byte first). */
  readonly ieeeOui: number;
  /**
   * Maximum data transfer size as a power of two in units of the minimum memory page size
   * (CAP.MPSMIN); 0 means no limit.
   */
  readonly mdts: number;
  /** Controller ID (CNTLID). */
  readonly controllerId: number;
  /** VER as "major.minor.tertiary" (0.0.0 when the controller leaves it zero). */
  readonly version: string;
  /** OACS bits: optional admin commands. */
  readonly optionalAdminCommands: number;
  /** ACL + 1: concurrent Abort commands the controller accepts. */
  readonly abortLimit: number;
  /** SQES and CQES: required (min) and largest (max) entry sizes in bytes. */
  readonly sqEntryBytes: {
    /** Required submission entry size in bytes (64 in NVMe). */
    readonly min: number;
    /** Largest submission entry size in bytes. */
    readonly max: number;
  };
  /** CQES: the completion entry sizes. */
  readonly cqEntryBytes: {
    /** Required completion entry size in bytes (16 in NVMe). */
    readonly min: number;
    /** Largest completion entry size in bytes. */
    readonly max: number;
  };
  /** MAXCMD: most outstanding commands per queue the controller supports (0: not reported). */
  readonly maxCommands: number;
  /** NN: the highest namespace ID the controller may have. */
  readonly namespaceCount: number;
  /** ONCS: the optional NVM commands, decoded. */
  readonly optionalCommands: NvmeOptionalCommands;
  /** VWC bit 0: a volatile write cache is present (Flush matters). */
  readonly volatileWriteCache: boolean;
  /** SUBNQN, NUL-terminated UTF-8. */
  readonly subsystemNqn: string;
}

/** One LBA format of a namespace. */
export interface LbaFormat {
  /** Metadata bytes per block. */
  readonly metadataBytes: number;
  /** Data bytes per block (2^LBADS). */
  readonly blockBytes: number;
  /** RP: relative performance, 0 best … 3 degraded. */
  readonly relativePerformance: number;
}

/** Identify Namespace (CNS 0), the fields this driver uses or reports. */
export interface IdentifyNamespace {
  /** NSZE, NCAP, NUSE: size, capacity and utilisation in logical blocks. */
  readonly size: number;
  /** NCAP: blocks that may be allocated. */
  readonly capacity: number;
  /** NUSE: blocks allocated now. */
  readonly utilization: number;
  /** NSFEAT bits (bit 0 thin provisioning, bit 2 deallocated-or-unwritten errors, …). */
  readonly features: number;
  /** The supported LBA formats (NLBAF + 1 of them). */
  readonly lbaFormats: readonly LbaFormat[];
  /** FLBAS: the index of the format in use. */
  readonly formatIndex: number;
  /** The format in use: lbaFormats[formatIndex]. */
  readonly format: LbaFormat;
  /** FLBAS bit 4: metadata is transferred at the end of each block (extended LBA). */
  readonly extendedMetadata: boolean;
  /** DLFEAT bits 0-2: what a deallocated block reads as (1: zeroes, 2: ones, 0: not reported). */
  readonly deallocatedRead: number;
  /** NGUID (16 bytes) and EUI64 (8 bytes) as lowercase hex; all zeroes when not reported. */
  readonly nguid: string;
  /** EUI64 (8 bytes) as lowercase hex; all zeroes when not reported. */
  readonly eui64: string;
}

function need(data: Uint8Array, bytes: number, op: string): void {
  if (data.length < bytes) throw new DecodeError(op, data.length, `${data.length} bytes, ${bytes} needed`);
}

const dv = (d: Uint8Array) => new DataView(d.buffer, d.byteOffset, d.byteLength);

/** ASCII field, trailing spaces (and NULs) trimmed. */
function ascii(d: Uint8Array, start: number, end: number): string {
  return Buffer.from(d.subarray(start, end))
    .toString('latin1')
    .replace(/[\s\0]+$/, '');
}

function hex(d: Uint8Array, start: number, end: number): string {
  return Buffer.from(d.subarray(start, end)).toString('hex');
}

/** A 64-bit count as a number; above 2^53 it would not be exact, which no real device reports. */
function u64n(v: DataView, off: number, op: string): number {
  const n = v.getBigUint64(off, true);
  if (n > BigInt(Number.MAX_SAFE_INTEGER)) throw new DecodeError(op, off, `value ${n} is above 2^53`);
  return Number(n);
}

/** Identify Controller data (CNS 01h, 4096 bytes). */
export function decodeIdentifyController(data: Uint8Array): IdentifyController {
  const op = 'nvme identify controller';
  need(data, IDENTIFY_BYTES, op);
  const v = dv(data);
  const ver = v.getUint32(80, true);
  const oncs = v.getUint16(520, true);
  const nqnEnd = data.indexOf(0, 768);
  return {
    vendorId: v.getUint16(0, true),
    subsystemVendorId: v.getUint16(2, true),
    serial: ascii(data, 4, 24),
    model: ascii(data, 24, 64),
    firmware: ascii(data, 64, 72),
    ieeeOui: data[73] | (data[74] << 8) | (data[75] << 16),
    mdts: data[77],
    controllerId: v.getUint16(78, true),
    version: `${ver >>> 16}.${(ver >>> 8) & 0xff}.${ver & 0xff}`,
    optionalAdminCommands: v.getUint16(256, true),
    abortLimit: data[258] + 1,
    sqEntryBytes: { min: 2 ** (data[512] & 0xf), max: 2 ** (data[512] >>> 4) },
    cqEntryBytes: { min: 2 ** (data[513] & 0xf), max: 2 ** (data[513] >>> 4) },
    maxCommands: v.getUint16(514, true),
    namespaceCount: v.getUint32(516, true),
    optionalCommands: {
      compare: (oncs & 1) !== 0,
      writeUncorrectable: (oncs & 2) !== 0,
      datasetManagement: (oncs & 4) !== 0,
      writeZeroes: (oncs & 8) !== 0,
      saveSelectFeatures: (oncs & 0x10) !== 0,
      reservations: (oncs & 0x20) !== 0,
      timestamp: (oncs & 0x40) !== 0,
      verify: (oncs & 0x80) !== 0,
      copy: (oncs & 0x100) !== 0,
    },
    volatileWriteCache: (data[525] & 1) !== 0,
    subsystemNqn: Buffer.from(data.subarray(768, nqnEnd < 0 || nqnEnd > 1024 ? 1024 : nqnEnd)).toString('utf8'),
  };
}

/** Identify Namespace data (CNS 00h, 4096 bytes). */
export function decodeIdentifyNamespace(data: Uint8Array): IdentifyNamespace {
  const op = 'nvme identify namespace';
  need(data, IDENTIFY_BYTES, op);
  const v = dv(data);
  const count = data[25] + 1;
  const lbaFormats: LbaFormat[] = [];
  for (let i = 0; i < count; i++) {
    const off = 128 + 4 * i;
    const lbads = data[off + 2];
    if (lbads < 9 || lbads > 31)
      throw new DecodeError(op, off + 2, `LBA format ${i} has LBADS ${lbads} (blocks of 2^${lbads} bytes)`);
    lbaFormats.push({
      metadataBytes: v.getUint16(off, true),
      blockBytes: 2 ** lbads,
      relativePerformance: data[off + 3] & 3,
    });
  }
  const flbas = data[26];
  // FLBAS bits 3:0 are the low and bits 6:5 the high bits of the index (formats beyond 16).
  const formatIndex = (flbas & 0xf) | (count > 16 ? ((flbas >>> 5) & 3) << 4 : 0);
  if (formatIndex >= count) throw new DecodeError(op, 26, `FLBAS selects format ${formatIndex} of ${count}`);
  return {
    size: u64n(v, 0, op),
    capacity: u64n(v, 8, op),
    utilization: u64n(v, 16, op),
    features: data[24],
    lbaFormats,
    formatIndex,
    format: lbaFormats[formatIndex],
    extendedMetadata: (flbas & 0x10) !== 0,
    deallocatedRead: data[33] & 7,
    nguid: hex(data, 104, 120),
    eui64: hex(data, 120, 128),
  };
}

/** Active Namespace ID list (CNS 02h): ascending NSIDs up to the first zero. */
export function decodeNamespaceList(data: Uint8Array): number[] {
  const op = 'nvme active namespace list';
  need(data, IDENTIFY_BYTES, op);
  const v = dv(data);
  const out: number[] = [];
  for (let off = 0; off < IDENTIFY_BYTES; off += 4) {
    const id = v.getUint32(off, true);
    if (id === 0) break;
    if (out.length && id <= out[out.length - 1]) throw new DecodeError(op, off, `NSID ${id} does not ascend`);
    out.push(id);
  }
  return out;
}
