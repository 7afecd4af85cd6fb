// What an NVMe command can end in besides success: a completion with an error status (NvmeError,
// decoded), a command the driver gave up on (NvmeAbortedError: timeout, controller reset, close),
// or a full submission queue (NvmeQueueFullError). All are VfioErrors.
import { BusyError, VfioError } from '../index';

/** What a failed command was, for the error message and for the caller. */
export interface NvmeCommandInfo {
  /** 'admin' or the I/O queue id. */
  readonly queue: number;
  /** The opcode. */
  readonly opcode: number;
  /** The opcode's name ('Read', 'Identify', …). */
  readonly name: string;
  /** The command identifier the driver gave it. */
  readonly commandId: number;
  /** The namespace ID; 0 when none. */
  readonly nsid: number;
  /** The first LBA, for I/O commands that have one. */
  readonly lba?: number;
  /** Logical blocks, for I/O commands that have them. */
  readonly blocks?: number;
}

const ADMIN_NAMES: Record<number, string> = {
  0x00: 'Delete I/O Submission Queue',
  0x01: 'Create I/O Submission Queue',
  0x02: 'Get Log Page',
  0x04: 'Delete I/O Completion Queue',
  0x05: 'Create I/O Completion Queue',
  0x06: 'Identify',
  0x08: 'Abort',
  0x09: 'Set Features',
  0x0a: 'Get Features',
  0x0c: 'Asynchronous Event Request',
};
const IO_NAMES: Record<number, string> = {
  0x00: 'Flush',
  0x01: 'Write',
  0x02: 'Read',
  0x04: 'Write Uncorrectable',
  0x05: 'Compare',
  0x08: 'Write Zeroes',
  0x09: 'Dataset Management',
};

/** An opcode's name ('Read', 'Identify', …), or `opcode 0xNN`; `admin` picks the admin or the NVM command set. */
export function opcodeName(admin: boolean, opcode: number): string {
  return (admin ? ADMIN_NAMES : IO_NAMES)[opcode] ?? `opcode 0x${opcode.toString(16).padStart(2, '0')}`;
}

/** Status code types (SCT). */
export const SCT_GENERIC = 0;
/** Status code type 1: command specific. */
export const SCT_COMMAND_SPECIFIC = 1;
/** Status code type 2: media and data integrity errors. */
export const SCT_MEDIA = 2;
/** Status code type 3: path related. */
export const SCT_PATH = 3;

const SCT_NAMES = ['generic', 'command specific', 'media and data integrity', 'path related'];

const GENERIC: Record<number, string> = {
  0x01: 'Invalid Command Opcode',
  0x02: 'Invalid Field in Command',
  0x03: 'Command ID Conflict',
  0x04: 'Data Transfer Error',
  0x05: 'Commands Aborted due to Power Loss Notification',
  0x06: 'Internal Error',
  0x07: 'Command Abort Requested',
  0x08: 'Command Aborted due to SQ Deletion',
  0x09: 'Command Aborted due to Failed Fused Command',
  0x0a: 'Command Aborted due to Missing Fused Command',
  0x0b: 'Invalid Namespace or Format',
  0x0c: 'Command Sequence Error',
  0x0d: 'Invalid SGL Segment Descriptor',
  0x0f: 'Invalid Number of SGL Descriptors',
  0x13: 'Invalid PRP Offset',
  0x15: 'Operation Denied',
  0x18: 'Host Identifier Inconsistent Format',
  0x1d: 'Namespace is Write Protected',
  0x80: 'LBA Out of Range',
  0x81: 'Capacity Exceeded',
  0x82: 'Namespace Not Ready',
  0x83: 'Reservation Conflict',
};
const COMMAND_SPECIFIC: Record<number, string> = {
  0x00: 'Completion Queue Invalid',
  0x01: 'Invalid Queue Identifier',
  0x02: 'Invalid Queue Size',
  0x03: 'Abort Command Limit Exceeded',
  0x05: 'Asynchronous Event Request Limit Exceeded',
  0x08: 'Invalid Interrupt Vector',
  0x09: 'Invalid Log Page',
  0x0a: 'Invalid Format',
  0x0c: 'Invalid Queue Deletion',
  0x0d: 'Feature Identifier Not Saveable',
  0x0e: 'Feature Not Changeable',
  0x0f: 'Feature Not Namespace Specific',
  0x80: 'Conflicting Attributes',
  0x81: 'Invalid Protection Information',
  0x82: 'Attempted Write to Read Only Range',
};
const MEDIA: Record<number, string> = {
  0x80: 'Write Fault',
  0x81: 'Unrecovered Read Error',
  0x82: 'End-to-end Guard Check Error',
  0x83: 'End-to-end Application Tag Check Error',
  0x84: 'End-to-end Reference Tag Check Error',
  0x85: 'Compare Failure',
  0x86: 'Access Denied',
  0x87: 'Deallocated or Unwritten Logical Block',
};

/** The name the specification gives a status (SCT, SC). */
export function statusName(sct: number, sc: number): string {
  const table =
    sct === SCT_GENERIC ? GENERIC : sct === SCT_COMMAND_SPECIFIC ? COMMAND_SPECIFIC : sct === SCT_MEDIA ? MEDIA : {};
  return table[sc] ?? `status 0x${sc.toString(16).padStart(2, '0')}`;
}

/** The status field of a completion (DW3 bits 31:17, without the phase tag), decoded. */
export interface NvmeStatus {
  /** Status code type. */
  readonly sct: number;
  /** Status code. */
  readonly sc: number;
  /** Do not retry: the same command would fail again. */
  readonly dnr: boolean;
  /** More: the Error Information log has more. */
  readonly more: boolean;
  /** Command retry delay index (0: none). */
  readonly crd: number;
}

/** Splits a completion's 15-bit status field (DW3 bits 31:17, phase bit removed) into its parts. */
export function decodeStatus(status: number): NvmeStatus {
  return {
    sc: status & 0xff,
    sct: (status >>> 8) & 7,
    crd: (status >>> 11) & 3,
    more: ((status >>> 13) & 1) === 1,
    dnr: ((status >>> 14) & 1) === 1,
  };
}

function describe(c: NvmeCommandInfo): string {
  const q = c.queue === 0 ? 'admin queue' : `I/O queue ${c.queue}`;
  const where = c.lba !== undefined ? `, LBA ${c.lba}${c.blocks !== undefined ? ` +${c.blocks}` : ''}` : '';
  return `${c.name} (${q}, command ${c.commandId}, NSID ${c.nsid}${where})`;
}

/** A completion with an error status (code ENVME). */
export class NvmeError extends VfioError implements NvmeStatus {
  readonly sct: number;
  readonly sc: number;
  readonly dnr: boolean;
  readonly more: boolean;
  readonly crd: number;
  /** The specification's name of the status. */
  readonly statusName: string;
  /** The command that failed. */
  readonly command: NvmeCommandInfo;

  constructor(status: number, command: NvmeCommandInfo, device?: string) {
    const s = decodeStatus(status);
    const name = statusName(s.sct, s.sc);
    super({
      code: 'ENVME',
      op: `nvme ${command.name}`,
      device,
      message: `nvme: ${describe(command)} failed${device ? ` on ${device}` : ''}: ${name} (${SCT_NAMES[s.sct] ?? `type ${s.sct}`} status 0x${s.sc.toString(16).padStart(2, '0')}${s.dnr ? ', do not retry' : ''})`,
      hint: hintFor(s, command),
    });
    this.sct = s.sct;
    this.sc = s.sc;
    this.dnr = s.dnr;
    this.more = s.more;
    this.crd = s.crd;
    this.statusName = name;
    this.command = command;
  }
}

function hintFor(s: NvmeStatus, c: NvmeCommandInfo): string | undefined {
  if (s.sct !== SCT_GENERIC) return undefined;
  switch (s.sc) {
    case 0x80:
      return "the LBA range ends beyond the namespace: see the namespace's size (Identify Namespace NSZE)";
    case 0x0b:
      return `${c.nsid} is no valid namespace ID of this controller: see controller.namespaces`;
    case 0x02:
      return `a field of the command is invalid for this controller (see its Identify data), or namespace ${c.nsid} is not active (see controller.namespaces)`;
    default:
      return undefined;
  }
}

/** Why the driver stopped waiting: the command's timeout, a controller reset, or close/shutdown. */
export type NvmeAbortReason = 'timeout' | 'reset' | 'close' | 'shutdown';

/** A command the driver stopped waiting for (code ECANCELED, or ETIMEDOUT for a timeout). */
export class NvmeAbortedError extends VfioError {
  /** Why. */
  readonly reason: NvmeAbortReason;
  /** The command abandoned. */
  readonly command: NvmeCommandInfo;

  constructor(reason: NvmeAbortReason, command: NvmeCommandInfo, device?: string, detail?: string) {
    const why =
      reason === 'timeout'
        ? `did not complete within ${detail}`
        : reason === 'reset'
          ? `was lost to a controller reset${detail ? ` (${detail})` : ''}`
          : 'was pending when the controller closed';
    super({
      code: reason === 'timeout' ? 'ETIMEDOUT' : 'ECANCELED',
      op: `nvme ${command.name}`,
      device,
      message: `nvme: ${describe(command)} ${why}${device ? ` on ${device}` : ''}`,
      hint:
        reason === 'timeout'
          ? 'the controller was asked to abort it and, if that failed, reset; the controller is usable again once open() or the recovery finished'
          : reason === 'reset'
            ? 'the command may or may not have reached the media: submit it again'
            : undefined,
    });
    this.reason = reason;
    this.command = command;
  }
}

/** The submission queue has no free entry (code EBUSY): wait for completions or use another queue. */
export class NvmeQueueFullError extends BusyError {
  /** The full queue's ID. */
  readonly queue: number;
  constructor(queue: number, depth: number, device?: string) {
    super({
      code: 'EBUSY',
      op: 'nvme submit',
      device,
      message: `nvme: ${queue === 0 ? 'the admin queue' : `I/O queue ${queue}`} is full (${depth - 1} commands outstanding)`,
      hint: 'wait for outstanding commands to complete, create the queue deeper, or spread I/O over more queues',
    });
    this.queue = queue;
  }
}
