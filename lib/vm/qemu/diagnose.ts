// Turning how a run ended into the command's exit status or a VmError that says why there is
// none: a timeout, QEMU's own failure, a kernel panic, an init error (module, mount, bind), or
// a guest that stopped silently.
import { VmError } from '../core/errors';
import { QemuExit } from './qemu-process';

export interface RunEnd {
  qemu: QemuExit;
  /** The status file's content ("exit N" / "error KIND DETAIL"), if the init wrote one. */
  status?: string;
  /** The same as announced on the console (a fallback when the share could not be written). */
  consoleStatus?: string;
  /** The console's "Kernel panic - …" line, if the kernel panicked. */
  panicLine?: string;
  consoleTail: string;
  consoleLog: string;
  timeoutSeconds: number;
}

const withTail = (msg: string, end: RunEnd) =>
  `${msg}\n--- last kernel console lines (full log: ${end.consoleLog}) ---\n${end.consoleTail || '(no console output)'}`;

/** The command's exit status, or throws a VmError describing the failure. */
export function diagnose(end: RunEnd): number {
  const fail = (kind: VmError['kind'], msg: string) => new VmError(kind, withTail(msg, end), end.consoleTail);
  if (end.qemu.aborted) throw fail('cancelled', 'the run was cancelled');
  if (end.qemu.timedOut) throw fail('timeout', `timed out after ${end.timeoutSeconds} s: the guest was stopped`);
  if (end.status) return fromStatus(end.status, fail);
  if (end.qemu.code !== 0) {
    const how = end.qemu.signal ? `signal ${end.qemu.signal}` : `exit ${end.qemu.code}`;
    throw fail('qemu', `QEMU failed (${how})${end.qemu.stderr.trim() ? `: ${end.qemu.stderr.trim()}` : ''}`);
  }
  if (end.panicLine) throw fail('panic', `the guest kernel panicked: ${end.panicLine.replace(/^\[[^\]]*\]\s*/, '')}`);
  if (end.consoleStatus) return fromStatus(end.consoleStatus, fail);
  throw fail('no-status', 'the guest powered off without reporting a result');
}

function fromStatus(status: string, fail: (kind: VmError['kind'], msg: string) => VmError): number {
  const exit = /^exit (\d+)$/.exec(status);
  if (exit) return Number(exit[1]);
  const error = /^error (\S+) ?(.*)$/.exec(status);
  if (error) throw fail('guest', `guest setup failed (${error[1]}): ${error[2]}`);
  throw fail('no-status', `unreadable guest status "${status}"`);
}
