// The argument checks of the I/O calls, before anything reaches the controller: each throws an
// InvalidArgumentError naming the call, the device and the value refused.
import { InvalidArgumentError } from '../index';

/**
 * An InvalidArgumentError of `op` on `device`. The core has the same helper; lib/nvme keeps its
 * own because it is written against the public API only, which does not export that one.
 */
export function refuse(
  op: string,
  device: string,
  message: string,
  o: { code?: 'EINVAL' | 'ERANGE'; hint?: string } = {},
): InvalidArgumentError {
  return new InvalidArgumentError({ code: o.code ?? 'EINVAL', op, device, message: `${op}: ${message}`, hint: o.hint });
}

/** Options are an object; a queue named in them passes `live` (one of the controller's live I/O queues). */
export function checkIoOptions<Q>(op: string, o: { queue?: Q } | null, live: (q: Q) => boolean, device: string): void {
  if (o === null || typeof o !== 'object') throw refuse(op, device, `options must be an object (got ${typeof o})`);
  // A queue of another controller would carry this one's DMA addresses to the other device.
  if (o.queue !== undefined && !live(o.queue)) {
    throw refuse(op, device, 'the queue is not a live I/O queue of this controller', {
      hint: 'use a queue that createQueue() made on this controller',
    });
  }
}

/** A namespace ID: a 32-bit unsigned integer. */
export function checkNsid(op: string, nsid: number, device: string): void {
  if (!Number.isInteger(nsid) || nsid < 0 || nsid > 0xffffffff)
    throw refuse(op, device, `namespace ID ${String(nsid)} is not a 32-bit unsigned integer`);
}

/** A logical block address: a non-negative safe integer. */
export function checkLba(op: string, lba: number, device: string): void {
  if (!Number.isSafeInteger(lba) || lba < 0)
    throw refuse(op, device, `LBA ${String(lba)} is not a non-negative integer`);
}

/** A block count of one command: 1 to 65,536. */
export function checkBlockCount(op: string, blocks: number, device: string): void {
  if (!Number.isSafeInteger(blocks) || blocks < 1 || blocks > 0x10000)
    throw refuse(op, device, `${String(blocks)} blocks (1 to 65536 per command)`);
}

/** A transfer no larger than the controller's limit. */
export function checkTransferSize(op: string, bytes: number, limit: number, device: string): void {
  if (bytes > limit) {
    throw refuse(op, device, `${bytes} bytes exceed the largest transfer of ${limit} bytes`, {
      code: 'ERANGE',
      hint: "split the transfer (the limit is the controller's MDTS or the data pool: dataPages / 2 pages)",
    });
  }
}

/** A timeout in milliseconds: an integer a timer can wait (1 to 2^31 - 1). */
export function checkTimeout(op: string, ms: number, device: string): number {
  if (!Number.isSafeInteger(ms) || ms < 1 || ms > 0x7fffffff)
    throw refuse(op, device, `timeout ${String(ms)} is not an integer from 1 to 2147483647 ms`);
  return ms;
}

/** An integer option within [min, max], or its default when undefined. */
export function checkIntOption(
  op: string,
  name: string,
  v: unknown,
  min: number,
  max: number,
  fallback: number,
  device: string,
): number {
  if (v === undefined) return fallback;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > max)
    throw refuse(op, device, `${name} ${String(v)} is not an integer from ${min} to ${max}`);
  return v;
}

/** A boolean option, or its default when undefined. */
export function checkBoolOption(op: string, name: string, v: unknown, fallback: boolean, device: string): boolean {
  if (v === undefined) return fallback;
  if (typeof v !== 'boolean') throw refuse(op, device, `${name} must be a boolean (got ${typeof v})`);
  return v;
}

/** Options are undefined or an object. */
export function checkOptionsObject(op: string, o: unknown, device: string): void {
  if (o !== undefined && (o === null || typeof o !== 'object'))
    throw refuse(op, device, `options must be an object (got ${o === null ? 'null' : typeof o})`);
}
