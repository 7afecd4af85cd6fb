// The async-iterator face of an Irq: `for await (const { vector, count } of irq)`. Events that
// arrive while the consumer is busy wait in a queue that holds at most one entry per vector
// (counts add up, as they would in the eventfd), so a slow consumer cannot grow memory.

/** One item of `for await (const ev of irq)`. */
export interface IrqEvent {
  /** The vector that fired. */
  readonly vector: number;
  /** Interrupts on this vector since the previous event for it. */
  readonly count: number;
}

/** How an iterator tells its Irq about state that matters for ref-counting and INTx unmasking. */
export interface IteratorHooks {
  /** A next() is now pending (the Irq may need to hold the event loop open). */
  waiting(): void;
  /** The consumer asked for more: it is done with the event it had. */
  released(): void;
  finished(self: IrqIterator): void;
}

export class IrqIterator implements AsyncIterableIterator<IrqEvent> {
  private readonly queue: { vector: number; count: number }[] = [];
  private readonly waiters: ((r: IteratorResult<IrqEvent>) => void)[] = [];
  /** An event was handed to the consumer, which has not asked for the next one yet. */
  private handedOut = false;
  private done = false;
  private readonly hooks: IteratorHooks;

  constructor(hooks: IteratorHooks) {
    this.hooks = hooks;
  }

  /** Pending next() calls: the consumer is idle, waiting for an interrupt. */
  get waiting(): boolean {
    return this.waiters.length > 0;
  }

  /** The consumer has an event it has not finished with (queued or handed out). */
  get holding(): boolean {
    return this.handedOut || this.queue.length > 0;
  }

  push(e: IrqEvent): void {
    if (this.done) return;
    const waiter = this.waiters.shift();
    if (waiter) {
      this.handedOut = true;
      waiter({ value: { vector: e.vector, count: e.count }, done: false });
      return;
    }
    const same = this.queue.find((q) => q.vector === e.vector);
    if (same) same.count += e.count;
    else this.queue.push({ vector: e.vector, count: e.count });
  }

  next(): Promise<IteratorResult<IrqEvent>> {
    if (this.handedOut) {
      this.handedOut = false;
      if (this.queue.length === 0) this.hooks.released();
    }
    const queued = this.queue.shift();
    if (queued) {
      this.handedOut = true;
      return Promise.resolve({ value: queued, done: false });
    }
    if (this.done) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve) => {
      this.waiters.push(resolve);
      this.hooks.waiting();
    });
  }

  /** `break` out of a for-await loop lands here. */
  return(): Promise<IteratorResult<IrqEvent>> {
    if (!this.done) {
      this.end();
      this.hooks.finished(this);
    }
    return Promise.resolve({ value: undefined, done: true });
  }

  /** Ends the iteration (the Irq was disabled): pending next() calls resolve as done. */
  end(): void {
    this.done = true;
    this.queue.length = 0;
    this.handedOut = false;
    for (const w of this.waiters.splice(0)) w({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<IrqEvent> {
    return this;
  }
}
