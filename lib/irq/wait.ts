// Irq.wait: the next interrupt with a deadline, as a promise that cleans up after itself (the
// listeners it adds are what keep the process alive while it waits).
import { TimeoutError, closedError, invalidArgument } from '../errors';
import type { IrqEvent } from './iterator';

/** Options of `Irq.wait`. */
export interface IrqWaitOptions {
  /** Give up after this many milliseconds. Default 1000. */
  timeoutMs?: number;
  /** Stops the wait early: the promise rejects with the signal's reason. */
  signal?: AbortSignal;
}

/** What waitForInterrupt needs of an Irq. */
interface Waitable {
  readonly name: string;
  readonly vectors: number[];
  on(event: 'interrupt', listener: (count: number, vector: number) => void): unknown;
  on(event: 'disable', listener: () => void): unknown;
  off(event: 'interrupt', listener: (count: number, vector: number) => void): unknown;
  off(event: 'disable', listener: () => void): unknown;
}

/** @internal The body of Irq.wait. */
export function waitForInterrupt(irq: Waitable, device: string, o: IrqWaitOptions): Promise<IrqEvent> {
  const timeoutMs = o.timeoutMs ?? 1000;
  if (!Number.isFinite(timeoutMs) || timeoutMs < 0) {
    throw invalidArgument('Irq.wait', `timeoutMs must be a finite number >= 0, got ${String(timeoutMs)}`, { device });
  }
  o.signal?.throwIfAborted();
  return new Promise<IrqEvent>((resolve, reject) => {
    const settle = (fn: () => void) => {
      clearTimeout(timer);
      irq.off('interrupt', onInterrupt);
      irq.off('disable', onDisable);
      o.signal?.removeEventListener('abort', onAbort);
      fn();
    };
    const onInterrupt = (count: number, vector: number) => settle(() => resolve({ vector, count }));
    const onDisable = () => settle(() => reject(closedError('Irq.wait', `${irq.name} interrupt`, device)));
    const onAbort = () => settle(() => reject(o.signal?.reason));
    // A timer can fire before performance.now() reaches its deadline (seen in emulated guests,
    // docs/irq.md): the deadline is checked on that clock, and the timer re-armed until then.
    const deadline = performance.now() + timeoutMs;
    const expire = (): void => {
      const left = deadline - performance.now();
      if (left > 0) {
        timer = setTimeout(expire, Math.ceil(left));
        return;
      }
      settle(() =>
        reject(
          new TimeoutError({
            code: 'ETIMEDOUT',
            op: 'Irq.wait',
            device,
            message: `Irq.wait: no ${irq.name} interrupt on vector(s) ${irq.vectors.join(', ')} within ${timeoutMs} ms`,
            hint: 'the device did not signal: check that it was told to interrupt and that its interrupt is enabled in the device, then read its status register, since an interrupt can be lost or come late while the work itself is done',
          }),
        ),
      );
    };
    let timer = setTimeout(expire, timeoutMs);
    irq.on('interrupt', onInterrupt);
    irq.on('disable', onDisable);
    o.signal?.addEventListener('abort', onAbort, { once: true });
  });
}
