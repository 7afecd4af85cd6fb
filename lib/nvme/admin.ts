// The admin commands the controller's life cycle sends (NVMe base specification, admin command
// set): their opcodes and how each fills the submission entry.
import { NvmeCommand } from './command';

export const ADMIN_QID = 0;
const OPC_DELETE_SQ = 0x00;
const OPC_CREATE_SQ = 0x01;
const OPC_DELETE_CQ = 0x04;
const OPC_CREATE_CQ = 0x05;
const OPC_IDENTIFY = 0x06;
const OPC_ABORT = 0x08;
const OPC_SET_FEATURES = 0x09;
const FID_NUMBER_OF_QUEUES = 0x07;
export const CNS_NAMESPACE = 0;
export const CNS_CONTROLLER = 1;
export const CNS_ACTIVE_NAMESPACES = 2;

/** Identify with CNS `cns` into the page at `prp1`. */
export function identifyCommand(cns: number, nsid: number, prp1: number): NvmeCommand {
  return { opcode: OPC_IDENTIFY, nsid, prp1, prp2: 0, cdw10: cns, cdw11: 0, cdw12: 0 };
}

/** Set Features, Number of Queues: `n` I/O submission and completion queues. */
export function setNumberOfQueuesCommand(n: number): NvmeCommand {
  return {
    opcode: OPC_SET_FEATURES,
    nsid: 0,
    prp1: 0,
    prp2: 0,
    cdw10: FID_NUMBER_OF_QUEUES,
    cdw11: ((n - 1) << 16) | (n - 1),
    cdw12: 0,
  };
}

/** The queue pairs a Number of Queues answer (completion dword 0) grants. */
export function grantedQueuePairs(dw0: number): number {
  return Math.min(dw0 & 0xffff, dw0 >>> 16) + 1;
}

/** What Create I/O CQ and SQ need of a queue pair. */
export interface QueueShape {
  readonly qid: number;
  readonly depth: number;
  readonly vector: number | undefined;
  readonly cq: { readonly iova: number };
  readonly sq: { readonly iova: number };
}

export function createCqCommand(q: QueueShape): NvmeCommand {
  const size = ((q.depth - 1) << 16) | q.qid;
  // CQ: physically contiguous (bit 0), interrupts enabled (bit 1) on vector IV (bits 31:16).
  const cqFlags = 1 | (q.vector !== undefined ? 2 | (q.vector << 16) : 0);
  return { opcode: OPC_CREATE_CQ, nsid: 0, prp1: q.cq.iova, prp2: 0, cdw10: size, cdw11: cqFlags, cdw12: 0 };
}

export function createSqCommand(q: QueueShape): NvmeCommand {
  const size = ((q.depth - 1) << 16) | q.qid;
  return { opcode: OPC_CREATE_SQ, nsid: 0, prp1: q.sq.iova, prp2: 0, cdw10: size, cdw11: 1 | (q.qid << 16), cdw12: 0 };
}

export function deleteSqCommand(qid: number): NvmeCommand {
  return { opcode: OPC_DELETE_SQ, nsid: 0, prp1: 0, prp2: 0, cdw10: qid, cdw11: 0, cdw12: 0 };
}

export function deleteCqCommand(qid: number): NvmeCommand {
  return { opcode: OPC_DELETE_CQ, nsid: 0, prp1: 0, prp2: 0, cdw10: qid, cdw11: 0, cdw12: 0 };
}

/** Abort command `cid` of submission queue `qid`. */
export function abortCommand(qid: number, cid: number): NvmeCommand {
  return { opcode: OPC_ABORT, nsid: 0, prp1: 0, prp2: 0, cdw10: qid | (cid << 16), cdw11: 0, cdw12: 0 };
}
