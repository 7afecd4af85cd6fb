// NVMe controller registers (NVM Express Base Specification, "Controller Registers"): offsets,
// bits, and pure decoders of CAP and VS. No device access here.

export const REG_CAP = 0x00;
export const REG_VS = 0x08;
export const REG_CC = 0x14;
export const REG_CSTS = 0x1c;
export const REG_AQA = 0x24;
export const REG_ASQ = 0x28;
export const REG_ACQ = 0x30;
/** The first doorbell; the others follow at the stride CAP.DSTRD gives. */
export const REG_DOORBELLS = 0x1000;

export const CC_EN = 1 << 0;
/** CC.SHN: 01b normal shutdown notification. */
export const CC_SHN_NORMAL = 1 << 14;
export const CC_SHN_MASK = 3 << 14;
/** 64-byte submission and 16-byte completion queue entries: CC.IOSQES 6, CC.IOCQES 4. */
export const CC_IO_ENTRY_SIZES = (6 << 16) | (4 << 20);
export const CSTS_RDY = 1 << 0;
export const CSTS_CFS = 1 << 1;
export const CSTS_SHST_MASK = 3 << 2;
/** CSTS.SHST 10b: shutdown processing complete. */
export const CSTS_SHST_COMPLETE = 2 << 2;

export const SQE_BYTES = 64;
export const CQE_BYTES = 16;

/** Controller Capabilities, decoded. */
export interface NvmeCap {
  /** CAP.MQES + 1: the most entries an I/O queue may have. */
  readonly maxQueueEntries: number;
  /** CAP.CQR: queues must be physically contiguous. */
  readonly contiguousQueuesRequired: boolean;
  /** CAP.AMS: arbitration mechanisms beyond round robin (bit 0 weighted round robin, bit 1 vendor). */
  readonly arbitration: number;
  /** CAP.TO in milliseconds (the register counts 500 ms units): the worst case for CSTS.RDY to follow CC.EN. */
  readonly timeoutMs: number;
  /** CAP.DSTRD: doorbells lie 4 << dstrd bytes apart. */
  readonly doorbellStride: number;
  /** CAP.NSSRS: NVM subsystem reset supported. */
  readonly subsystemReset: boolean;
  /** CAP.CSS: command sets (bit 0 NVM, bit 6 I/O command sets, bit 7 admin only). */
  readonly commandSets: number;
  /** Memory page sizes the controller accepts, in bytes (CAP.MPSMIN, CAP.MPSMAX). */
  readonly pageSizeMin: number;
  /** The largest memory page size in bytes (CAP.MPSMAX). */
  readonly pageSizeMax: number;
}

/** CAP from its two 32-bit halves (read as two 32-bit loads: no bigint needed). */
export function decodeCap(low: number, high: number): NvmeCap {
  return {
    maxQueueEntries: (low & 0xffff) + 1,
    contiguousQueuesRequired: ((low >>> 16) & 1) === 1,
    arbitration: (low >>> 17) & 3,
    timeoutMs: ((low >>> 24) & 0xff) * 500,
    doorbellStride: 4 << (high & 0xf),
    subsystemReset: ((high >>> 4) & 1) === 1,
    commandSets: (high >>> 5) & 0xff,
    pageSizeMin: 2 ** (12 + ((high >>> 16) & 0xf)),
    pageSizeMax: 2 ** (12 + ((high >>> 20) & 0xf)),
  };
}

/** VS: "major.minor.tertiary". */
export function decodeVersion(vs: number): string {
  return `${vs >>> 16}.${(vs >>> 8) & 0xff}.${vs & 0xff}`;
}

/** Byte offset of the submission (or completion) queue doorbell of queue `qid`. */
export function doorbell(qid: number, completion: boolean, stride: number): number {
  return REG_DOORBELLS + (2 * qid + (completion ? 1 : 0)) * stride;
}

/** The CC value that enables the controller with memory page size `pageSize` (NVM command set, round robin). */
export function ccEnable(pageSize: number): number {
  return CC_EN | ((Math.log2(pageSize) - 12) << 7) | CC_IO_ENTRY_SIZES;
}
