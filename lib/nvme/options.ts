// What NvmeController.open and createQueue accept.

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
