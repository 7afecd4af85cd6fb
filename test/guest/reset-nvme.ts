// Just enough of an NVMe controller (NVM Express base spec) to prove things around a reset: the
// register values, and one admin command (Identify Controller) whose queues and data live in DMA
// memory, so the controller really reads and writes through an IOMMU mapping.
import { DmaMapping, Mapping } from '../../lib';
import { waitFor } from '../support/time';

export const NVME_CAP = 0x00;
export const NVME_CC = 0x14;
export const NVME_CSTS = 0x1c;
export const NVME_AQA = 0x24;
export const NVME_ASQ = 0x28;
export const NVME_ACQ = 0x30;
const DOORBELLS = 0x1000;
export const CC_ENABLE = 1;
/** 64-byte submission and 16-byte completion queue entries (IOSQES 6, IOCQES 4). */
export const CC_QUEUE_ENTRY_SIZES = (6 << 16) | (4 << 20);
export const CSTS_READY = 1;
const OPC_IDENTIFY = 0x06;
const CNS_CONTROLLER = 1;

/** Layout of the queue buffer: submission queue, completion queue, then the Identify data. */
export const SQ_OFFSET = 0;
export const CQ_OFFSET = 0x1000;
export const DATA_OFFSET = 0x2000;
/** Bytes the queue buffer needs. */
export const QUEUE_BUFFER_SIZE = 0x3000;

/** Points the admin queues at the mapping (16 entries each) and enables the controller. */
export async function nvmeEnable(bar0: Mapping, queues: DmaMapping): Promise<void> {
  queues.buffer.u8.fill(0, SQ_OFFSET, DATA_OFFSET);
  bar0.write32(NVME_AQA, 0x000f000f);
  bar0.write64(NVME_ASQ, queues.iovaOf(SQ_OFFSET));
  bar0.write64(NVME_ACQ, queues.iovaOf(CQ_OFFSET));
  bar0.write32(NVME_CC, CC_QUEUE_ENTRY_SIZES | CC_ENABLE);
  await waitFor('nvme: CSTS.RDY', () => (bar0.read32(NVME_CSTS) & CSTS_READY) !== 0, 10000);
}

/**
 * Identify Controller as the first command after nvmeEnable(): returns the completion status
 * (0 = success) and the 4 KiB of data the controller wrote into the buffer.
 */
export async function nvmeIdentify(bar0: Mapping, queues: DmaMapping): Promise<{ status: number; data: Uint8Array }> {
  const buf = queues.buffer;
  const sqe = SQ_OFFSET;
  buf.write32(sqe + 0, (1 << 16) | OPC_IDENTIFY); // command id 1
  buf.write64(sqe + 24, queues.iovaOf(DATA_OFFSET)); // PRP1
  buf.write32(sqe + 40, CNS_CONTROLLER); // CDW10
  const stride = 4 << Number((bar0.read64(NVME_CAP) >> 32n) & 0xfn);
  bar0.write32(DOORBELLS, 1); // submission queue 0 tail
  const cqe = CQ_OFFSET;
  await waitFor('nvme: the completion', () => (buf.read32(cqe + 12) & 0x10000) !== 0, 10000); // phase tag
  bar0.write32(DOORBELLS + stride, 1); // completion queue 0 head
  return { status: buf.read32(cqe + 12) >>> 17, data: buf.copyOut(DATA_OFFSET, 4096) };
}

/** The serial number field of Identify Controller data, trimmed. */
export function identifySerial(data: Uint8Array): string {
  return Buffer.from(data.subarray(4, 24)).toString('latin1').trim();
}
