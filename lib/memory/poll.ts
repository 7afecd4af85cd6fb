// Polling a register (or a word of DMA memory) until it holds a value, with a deadline. The
// wait yields to the event loop between reads: first with setImmediate for the quick cases (a
// controller that becomes ready within microseconds), then with timers whose interval doubles
// up to a ceiling, so a long wait (an NVMe CAP.TO of seconds) costs a few reads per ms at most.
import { TimeoutError } from '../errors';

/** How `waitFor` polls: its deadline, pacing, access width and cancellation. All optional. */
export interface WaitForOptions {
  /** Give up after this many milliseconds (a driver should never wait forever). Default 1000. */
  timeoutMs?: number;
  /** The longest pause between two reads, in ms. Default 10. */
  maxIntervalMs?: number;
  /** Access width in bytes: 1, 2 or 4. Default 4. */
  width?: 1 | 2 | 4;
  /** Stops the wait early: the promise rejects with the signal's reason. */
  signal?: AbortSignal;
  /** Names what is awaited in the timeout error ('CSTS.RDY = 1'). */
  what?: string;
}

/** What waitFor needs of the memory it polls: a width-exact read. */
export interface Pollable {
  /** Reads the byte at `off` (bytes from the start). */
  read8(off: number): number;
  /** Reads the 16-bit word at `off`, in one access. */
  read16(off: number): number;
  /** Reads the 32-bit word at `off`, in one access. */
  read32(off: number): number;
}

/** The reads done with setImmediate before the first timer. */
const IMMEDIATE_READS = 16;

/** What a read of each width returns when no device answers it. */
const ALL_ONES: Record<number, number> = { 1: 0xff, 2: 0xffff, 4: 0xffffffff };
const GONE_HINT =
  'every bit read as 1, as when no device answers: it may have fallen off the bus (surprise removal, link down, a reset in progress) or its memory decoding is off; read its vendor id (dev.config.vendorId) to tell, and reset or re-open it';
const SLOW_HINT =
  'the device did not get there in time: check that it was started and enabled, or give it a longer timeoutMs if it is known to be slow';
const hex = (n: number) => `0x${(n >>> 0).toString(16)}`;

/**
 * Reads `width` bytes at `off` until `(value & mask) === expected`; resolves to the last value
 * read. Rejects with TimeoutError (code ETIMEDOUT, the last value in its message) at the deadline.
 */
export async function waitFor(
  mem: Pollable,
  off: number,
  mask: number,
  expected: number,
  o: WaitForOptions = {},
  label?: { op: string; device?: string },
): Promise<number> {
  const width = o.width ?? 4;
  const read = width === 4 ? () => mem.read32(off) : width === 2 ? () => mem.read16(off) : () => mem.read8(off);
  const want = (expected & mask) >>> 0;
  const m = mask >>> 0;
  let v = read();
  if ((v & m) >>> 0 === want) return v;
  const timeoutMs = o.timeoutMs ?? 1000;
  const maxInterval = o.maxIntervalMs ?? 10;
  const deadline = performance.now() + timeoutMs;
  let interval = 0.25;
  for (let i = 0; ; i++) {
    o.signal?.throwIfAborted();
    if (performance.now() >= deadline) {
      const op = label?.op ?? 'waitFor';
      throw new TimeoutError({
        code: 'ETIMEDOUT',
        op,
        device: label?.device,
        message: `${op}: ${o.what ?? `(value at ${hex(off)} & ${hex(m)}) == ${hex(want)}`} did not happen within ${timeoutMs} ms (last value read: ${hex(v)})`,
        hint: v === ALL_ONES[width] ? GONE_HINT : SLOW_HINT,
      });
    }
    if (i < IMMEDIATE_READS) await new Promise<void>((r) => setImmediate(r));
    else {
      await new Promise<void>((r) => setTimeout(r, Math.max(1, Math.min(interval, deadline - performance.now()))));
      interval = Math.min(interval * 2, maxInterval);
    }
    v = read();
    if ((v & m) >>> 0 === want) return v;
  }
}
