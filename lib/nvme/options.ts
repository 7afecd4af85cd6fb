// What NvmeController.open and createQueue accept.
import { checkBoolOption, checkIntOption, checkOptionsObject, checkTimeout } from './args';

/** The controller's queue sizes, data memory and command timeout; every field optional. */
export interface NvmeOpenOptions {
  /** I/O queue pairs to ask the controller for (Set Features, Number of Queues). Default 4. */
  ioQueues?: number;
  /** Entries per I/O queue unless createQueue() says otherwise (capped by CAP.MQES). Default 256. */
  queueDepth?: number;
  /** Admin queue entries. Default 32. */
  adminDepth?: number;
  /** Pages (of the controller's page size) for data and PRP lists, shared by all queues. Default 1024. */
  dataPages?: number;
  /** A command that takes longer is aborted (and the controller reset if that fails). Default 10000 ms. */
  timeoutMs?: number;
  /** Admin completions by MSI-X vector 0 (true, the default, when the device has MSI-X) or by polling. */
  interrupts?: boolean;
}

/** Options of `createQueue()`: one I/O queue pair. */
export interface CreateQueueOptions {
  /** Entries (capped by CAP.MQES). Default: the controller's queueDepth. */
  depth?: number;
  /** Poll for completions instead of taking an MSI-X vector. Default false. */
  polled?: boolean;
}

/** @internal The open options with their defaults, each checked (InvalidArgumentError naming the option). */
export function checkOpenOptions(o: NvmeOpenOptions, device: string): Required<NvmeOpenOptions> {
  const op = 'NvmeController.open';
  checkOptionsObject(op, o, device);
  const v = o ?? {};
  return {
    ioQueues: checkIntOption(op, 'ioQueues', v.ioQueues, 1, 65535, 4, device),
    queueDepth: checkIntOption(op, 'queueDepth', v.queueDepth, 2, 65536, 256, device),
    adminDepth: checkIntOption(op, 'adminDepth', v.adminDepth, 2, 4096, 32, device),
    dataPages: checkIntOption(op, 'dataPages', v.dataPages, 2, 262144, 1024, device),
    timeoutMs: v.timeoutMs === undefined ? 10000 : checkTimeout(op, v.timeoutMs, device),
    interrupts: checkBoolOption(op, 'interrupts', v.interrupts, true, device),
  };
}

/** @internal createQueue's options, checked. */
export function checkQueueOptions(o: CreateQueueOptions, device: string): { depth?: number; polled: boolean } {
  const op = 'NvmeController.createQueue';
  checkOptionsObject(op, o, device);
  const v = o ?? {};
  return {
    depth: v.depth === undefined ? undefined : checkIntOption(op, 'depth', v.depth, 2, 65536, 0, device),
    polled: checkBoolOption(op, 'polled', v.polled, false, device),
  };
}
