// An enabled set of interrupt vectors: one eventfd per vector, each watched by a libuv poll
// handle in the addon, which reads the counter on the event loop thread and calls back with it.
// No thread pool thread ever waits on an eventfd (a pending read would pin it: see the IRQ
// notes in the README), and the poll handles only keep the process alive while something is
// waiting for an interrupt.
import { TypedEventEmitter } from '../events';
import { IrqEvent, IrqIterator } from './iterator';
import { IrqWaitOptions, waitForInterrupt } from './wait';
import { VfioError, check, checkValue, closedError, errnoError, invalidArgument, notSupported } from '../errors';
import { PollHandle, native } from '../addon/native';
import { forgetLeak, watchLeak } from '../addon/leak-guard';

export { IrqEvent, IrqWaitOptions };

/** One vector's eventfd as an Irq sees it. */
export interface IrqTap {
  readonly vector: number;
  readonly fd: number;
  /** Whether the poll handle keeps the event loop alive. */
  ref(on: boolean): void;
  /** Stops watching, then closes the fd. Only after the kernel has let go of the eventfd. */
  close(): void;
}

/** One vector's eventfd and the libuv poll handle that watches it. */
/** A dropped tap's release (addon/leak-guard.ts): stop the poll, close the eventfd. */
function tapRelease(handle: PollHandle, fd: number): () => void {
  return () => {
    native().poll_stop(handle);
    native().close(fd);
  };
}

export class Tap implements IrqTap {
  readonly vector: number;
  readonly fd: number;
  private handle: PollHandle | undefined;
  private refd = false;
  private readonly device: string;

  private constructor(vector: number, fd: number, handle: PollHandle, device: string) {
    this.vector = vector;
    this.fd = fd;
    this.handle = handle;
    this.device = device;
    watchLeak(this, 'IrqTap', `the IRQ tap of ${device} vector ${vector}`, tapRelease(handle, fd));
  }

  /** A non-blocking eventfd (the addon reads it only when epoll says it is readable). */
  static open(vector: number, onCount: (count: number) => void, device: string): Tap {
    const n = native();
    const fd = check(n.eventfd(0, n.constants.EFD_CLOEXEC | n.constants.EFD_NONBLOCK), 'eventfd', { device });
    try {
      // poll_start starts unref'd: an armed but idle vector never holds the process open.
      const handle = checkValue(n.poll_start(fd, onCount), 'uv_poll_start', { device });
      return new Tap(vector, fd, handle, device);
    } catch (e) {
      n.close(fd);
      throw e;
    }
  }

  ref(on: boolean): void {
    if (this.handle === undefined || this.refd === on) return;
    native().poll_ref(this.handle, on);
    this.refd = on;
  }

  /** Stops watching, then closes the fd; a failed close is reported (the fd is released either way). */
  close(): void {
    if (this.handle === undefined) return;
    native().poll_stop(this.handle);
    this.handle = undefined;
    forgetLeak(this);
    check(native().close(this.fd), 'close', { device: this.device, detail: `eventfd of vector ${this.vector}` });
  }
}

/** What an Irq asks of the index it belongs to (lib/irq/irq-index.ts). */
export interface IrqOwner {
  /** The index's name ('MSIX', …). */
  readonly name: string;
  /** The VFIO IRQ index. */
  readonly index: number;
  /** The device's label, for errors. */
  readonly device: string;
  /** Whether the index can be masked. */
  readonly maskable: boolean;
  /** Whether the kernel masks it on each interrupt. */
  readonly automasked: boolean;
  /** Signals a vector's eventfd from the kernel. */
  trigger(vector: number): void;
  /** Masks the index. */
  mask(): void;
  /** Unmasks the index. */
  unmask(): void;
  /** Enables more vectors into `irq`. */
  add(irq: Irq, vectors: readonly number[]): void;
  /** Detaches the vectors in the kernel first; the Irq closes their taps afterwards. */
  remove(irq: Irq, vectors: readonly number[]): void;
}

/** How an {@link Irq} delivers its interrupts. */
export interface IrqOptions {
  /**
   * Automasked interrupts (INTx): unmask once the 'interrupt' listeners have returned and every
   * async iterator has asked for its next event. Default true. With false, call unmask() yourself
   * (e.g. after an asynchronous handler has acknowledged the device).
   */
  autoUnmask?: boolean;
  /** @internal Sees every event without counting as a listener (REQ → 'release-request'). */
  sink?: (count: number, vector: number) => void;
}

/**
 * The events of an {@link Irq}:
 *
 * - `'interrupt'` `(count, vector)`: `vector` (one of `irq.vectors`) fired; `count` (at least 1)
 *   is how many times since the last event, as the eventfd counter coalesces.
 * - `'disable'` `()`: the Irq was disabled (`disable()`, `close()` or the device's close); no
 *   event follows.
 * - `'error'` `(error)`: a vector's eventfd could not be read (a {@link VfioError} with the
 *   errno); interrupts on that vector are no longer delivered. Without an `'error'` listener
 *   this is a process warning (code `VFIO_IRQ_EVENTFD`), not a throw.
 */
export interface IrqEventMap {
  /** `vector` fired `count` times (at least 1) since the last event. */
  interrupt: [count: number, vector: number];
  /** The Irq was disabled; no event follows. */
  disable: [];
  /** A vector's eventfd could not be read; that vector delivers nothing more. */
  error: [error: VfioError];
}

/**
 * Enabled vectors of one IRQ index (from `dev.irq(name).enable()`): a typed event emitter
 * ({@link IrqEventMap}) and an async iterable of {@link IrqEvent}s.
 */
export class Irq extends TypedEventEmitter<IrqEventMap> implements AsyncIterable<IrqEvent>, Disposable {
  /** The index's name ('INTX', 'MSI', 'MSIX', 'ERR', 'REQ'). */
  readonly name: string;
  /** The VFIO IRQ index. */
  readonly index: number;
  /** Whether an automasked line is unmasked once the listeners are done ({@link IrqOptions.autoUnmask}). */
  readonly autoUnmask: boolean;
  /** The kernel masks the line on each interrupt (INTx): read once, used on every event. */
  private readonly automasked: boolean;
  private readonly owner: IrqOwner;
  private readonly sink: ((count: number, vector: number) => void) | undefined;
  private readonly taps = new Map<number, IrqTap>();
  private readonly iterators = new Set<IrqIterator>();
  private closed = false;
  private userMasked = false;
  /** An automasked interrupt arrived and the line stays masked until its consumers are done. */
  private maskedByKernel = false;
  private addingListener = false;

  /** @internal Created by IrqIndex.enable(). */
  constructor(owner: IrqOwner, o: IrqOptions = {}) {
    super();
    this.owner = owner;
    this.name = owner.name;
    this.index = owner.index;
    this.autoUnmask = o.autoUnmask ?? true;
    this.automasked = owner.automasked;
    this.sink = o.sink;
    this.on('newListener', (event: string | symbol) => {
      if (event !== 'interrupt') return;
      // 'newListener' runs before the listener is added: count it in by hand.
      this.addingListener = true;
      try {
        this.updateRef();
        // An interrupt that nobody received is still masked: on unmask the kernel signals it
        // again if the device still asserts it, now with someone to hear it.
        this.releaseMask();
      } finally {
        this.addingListener = false;
      }
    });
    this.on('removeListener', (event: string | symbol) => {
      if (event === 'interrupt') this.updateRef();
    });
  }

  /** The enabled vectors, ascending. */
  get vectors(): number[] {
    return [...this.taps.keys()].sort((a, b) => a - b);
  }

  /** False after disable() or close() (its own, or the device's): no event follows then. */
  get enabled(): boolean {
    return !this.closed;
  }

  /** @internal The eventfd of a vector this Irq is about to own. */
  attach(tap: IrqTap): void {
    this.taps.set(tap.vector, tap);
    tap.ref(this.refWanted());
  }

  /** @internal Closes taps the kernel has already detached. */
  detach(vectors: readonly number[]): void {
    let failure: unknown;
    for (const v of vectors) {
      try {
        this.taps.get(v)?.close();
      } catch (e) {
        failure ??= e; // every tap is closed all the same; the first failure is reported
      }
      this.taps.delete(v);
    }
    if (failure !== undefined) throw failure;
  }

  /** @internal The fd of one of this Irq's vectors (for re-registration on a re-enable). */
  fdOf(vector: number): number | undefined {
    return this.taps.get(vector)?.fd;
  }

  /** @internal Called by a tap's poll callback with the eventfd counter. */
  deliver(vector: number, count: number): void {
    if (this.closed) return;
    if (count < 0) return this.pollFailed(vector, -count);
    const consumers = this.listenerCount('interrupt') + this.iterators.size;
    if (this.automasked) this.maskedByKernel = true;
    let emitted = false;
    try {
      this.sink?.(count, vector);
      if (this.closed) return; // the sink closed the device ('release-request' → dev.close())
      if (this.iterators.size > 0) for (const it of this.iterators) it.push({ vector, count });
      this.emit('interrupt', count, vector);
      emitted = true;
    } finally {
      // Iterators that just took the event no longer wait: maybe nothing holds the loop now.
      if (this.iterators.size > 0) this.updateRef();
      // A listener that threw has not handled the interrupt: leave the line masked then.
      if (emitted && consumers > 0 && this.maskedByKernel) this.releaseMask();
    }
  }

  /**
   * Reading the eventfd failed (the addon stopped polling it): the vector is dead. An 'error'
   * listener hears it; without one it is a process warning rather than a crash.
   */
  private pollFailed(vector: number, errno: number): void {
    const err = errnoError(errno, 'read', {
      device: this.owner.device,
      detail: `eventfd of ${this.name} vector ${vector}; interrupts on it are no longer delivered`,
    });
    if (this.listenerCount('error') > 0) this.emit('error', err);
    else process.emitWarning(err.message, { code: 'VFIO_IRQ_EVENTFD' });
  }

  private live(op: string): void {
    if (this.closed) throw closedError(op, `${this.name} interrupt`, this.owner.device);
  }

  /**
   * The next interrupt on any of the vectors, within `timeoutMs` (default 1000). Rejects with a
   * `TimeoutError` (ETIMEDOUT) at the deadline, a `ClosedError` when the Irq is disabled first,
   * and the signal's reason when it aborts. Nothing stays registered after it settles.
   */
  wait(o: IrqWaitOptions = {}): Promise<IrqEvent> {
    this.live('Irq.wait');
    return waitForInterrupt(this, this.owner.device, o);
  }

  /** Signals a vector from software (DATA_NONE|ACTION_TRIGGER): the whole path, no device needed. */
  trigger(vector?: number): void {
    this.live('Irq.trigger');
    const v = vector ?? this.vectors[0];
    if (!this.taps.has(v)) {
      throw invalidArgument(
        'Irq.trigger',
        `vector ${v} is not one of this ${this.name} interrupt's vectors (${this.vectors.join(', ')})`,
        { device: this.owner.device },
      );
    }
    this.owner.trigger(v);
  }

  /** Masks the line (INTx and other maskable indexes only): nothing is delivered until unmask(). */
  mask(): void {
    this.live('Irq.mask');
    this.requireMaskable('Irq.mask');
    this.owner.mask();
    this.userMasked = true;
  }

  /** Unmasks; an interrupt that was raised while masked is delivered now. */
  unmask(): void {
    this.live('Irq.unmask');
    this.requireMaskable('Irq.unmask');
    this.owner.unmask();
    this.userMasked = false;
    this.maskedByKernel = false;
  }

  private requireMaskable(op: string): void {
    if (this.owner.maskable) return;
    throw notSupported(op, `the kernel reports ${this.name} as not maskable`, {
      device: this.owner.device,
      hint: 'vfio-pci masks only INTx; mask MSI/MSI-X at the device (e.g. the vector control word of the MSI-X table) or disable the vectors',
    });
  }

  /** Adds vectors to this set (MSI-X beyond the enable-time allocation needs a resizable index). */
  add(vectors: readonly number[] | number): void {
    this.live('Irq.add');
    this.owner.add(this, typeof vectors === 'number' ? [vectors] : vectors);
  }

  /** Detaches some vectors; removing the last one disables the Irq. */
  remove(vectors: readonly number[] | number): void {
    this.live('Irq.remove');
    const list = typeof vectors === 'number' ? [vectors] : vectors;
    const unknown = list.filter((v) => !this.taps.has(v));
    if (unknown.length) {
      throw invalidArgument('Irq.remove', `vector(s) ${unknown.join(', ')} are not in this ${this.name} interrupt`, {
        device: this.owner.device,
      });
    }
    if (list.length === this.taps.size) return this.disable();
    this.owner.remove(this, list);
    this.detach(list);
  }

  /** Detaches every vector in the kernel, then closes the eventfds and ends the iterators. Idempotent. */
  disable(): void {
    if (this.closed) return;
    try {
      this.owner.remove(this, this.vectors);
    } finally {
      this.closed = true;
      try {
        this.detach(this.vectors);
      } finally {
        for (const it of this.iterators) it.end();
        this.iterators.clear();
        this.emit('disable');
      }
    }
  }

  /** For the device's close: the same as disable(). */
  close(): void {
    this.disable();
  }

  /** `using irq = …`: the same as disable(). */
  [Symbol.dispose](): void {
    this.disable();
  }

  /** A new iterator over the interrupts from now on; events wait for it, coalesced per vector. */
  [Symbol.asyncIterator](): AsyncIterableIterator<IrqEvent> {
    const it = new IrqIterator({
      waiting: () => this.updateRef(),
      released: () => this.releaseMask(),
      finished: (self) => {
        this.iterators.delete(self);
        this.updateRef();
        this.releaseMask();
      },
    });
    if (this.closed) it.end();
    else this.iterators.add(it);
    return it;
  }

  /** Held open only while someone waits: an 'interrupt' listener or an iterator's pending next(). */
  private refWanted(): boolean {
    if (this.closed) return false;
    if (this.addingListener || this.listenerCount('interrupt') > 0) return true;
    for (const it of this.iterators) if (it.waiting) return true;
    return false;
  }

  private updateRef(): void {
    const on = this.refWanted();
    for (const tap of this.taps.values()) tap.ref(on);
  }

  /** Unmasks an automasked line once every consumer is done with the interrupt. */
  private releaseMask(): void {
    if (!this.maskedByKernel || !this.autoUnmask || this.userMasked || this.closed) return;
    if (this.listenerCount('interrupt') === 0 && this.iterators.size === 0 && !this.addingListener) return;
    for (const it of this.iterators) if (it.holding) return;
    this.maskedByKernel = false;
    this.owner.unmask();
  }
}
