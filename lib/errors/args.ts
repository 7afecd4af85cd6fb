// Argument checks shared by every public entry point. JavaScript callers write addresses, sizes
// and offsets as plain numbers as often as bigints; both are accepted wherever either is, and a
// value that is neither, not an integer, or out of range is an InvalidArgumentError that says
// which values are allowed. Messages are built so that any value (a Symbol, null, a Proxy) prints.
import { InvalidArgumentError } from './index';

/** A short, always-printable description of any value for messages. */
export function describeValue(v: unknown): string {
  try {
    if (v === null) return 'null';
    if (typeof v === 'symbol') return 'a symbol';
    if (typeof v === 'bigint') return `${v}n`;
    if (typeof v === 'string') return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v);
    if (typeof v === 'function') return 'a function';
    if (typeof v === 'object') return `an object (${Object.prototype.toString.call(v).slice(8, -1)})`;
    return String(v);
  } catch {
    return 'an unprintable value';
  }
}

function argError(op: string, message: string, code: 'EINVAL' | 'ERANGE' = 'EINVAL'): InvalidArgumentError {
  return new InvalidArgumentError({ code, op, message: `${op}: ${message}` });
}

function hex(v: bigint | number): string {
  return v < 0 ? `-0x${(-v).toString(16)}` : `0x${v.toString(16)}`;
}

export interface BigIntRange {
  readonly min?: bigint;
  readonly max?: bigint;
}

/**
 * `v` (a number or a bigint) as a bigint within [min, max] (default [0, 2^64-1]). Numbers must be
 * safe integers: 0.5 is "not an integer", 2^60 as a number is "not exact, pass a bigint".
 */
export function bigIntArg(op: string, name: string, v: unknown, range: BigIntRange = {}): bigint {
  const min = range.min ?? 0n;
  const max = range.max ?? (1n << 64n) - 1n;
  const allowed = `an integer from ${hex(min)} to ${hex(max)} (a number or a bigint)`;
  let b: bigint;
  if (typeof v === 'bigint') b = v;
  else if (typeof v === 'number') {
    if (!Number.isInteger(v))
      throw argError(op, `${name} is ${describeValue(v)}, not an integer: it must be ${allowed}`);
    if (!Number.isSafeInteger(v))
      throw argError(op, `${name} ${v} is beyond 2^53 and not exact as a number: pass a bigint`, 'ERANGE');
    b = BigInt(v);
  } else throw argError(op, `${name} is ${describeValue(v)}: it must be ${allowed}`);
  if (b < min || b > max) throw argError(op, `${name} ${hex(b)} is out of range: it must be ${allowed}`, 'ERANGE');
  return b;
}

export interface IntRange {
  readonly min?: number;
  readonly max?: number;
}

/** `v` (a number or a bigint) as a safe-integer number within [min, max] (default [0, 2^53-1]). */
export function intArg(op: string, name: string, v: unknown, range: IntRange = {}): number {
  const min = range.min ?? 0;
  const max = range.max ?? Number.MAX_SAFE_INTEGER;
  const b = bigIntArg(op, name, v, { min: BigInt(min), max: BigInt(max) });
  return Number(b);
}

/** Throws unless `v` is a plain object (or undefined, which becomes {}): options bags. */
export function optionsArg<T extends object>(op: string, v: T | undefined | null, name = 'options'): Partial<T> {
  if (v === undefined) return {};
  if (v === null || typeof v !== 'object' || Array.isArray(v)) {
    throw argError(op, `${name} must be an object or undefined, got ${describeValue(v)}`);
  }
  return v;
}

/** Throws unless `v` is one of `allowed`. */
export function oneOfArg<T extends string>(op: string, name: string, v: unknown, allowed: readonly T[]): T {
  if (typeof v === 'string' && (allowed as readonly string[]).includes(v)) return v as T;
  throw argError(op, `${name} is ${describeValue(v)}: it must be one of ${allowed.map((a) => `'${a}'`).join(', ')}`);
}

/** Throws unless `v` is a boolean (or undefined, giving `dflt`). */
export function boolArg(op: string, name: string, v: unknown, dflt: boolean): boolean {
  if (v === undefined) return dflt;
  if (typeof v === 'boolean') return v;
  throw argError(op, `${name} is ${describeValue(v)}: it must be true or false`);
}

/** An out-of-range value found by a check of this package: InvalidArgumentError, code ERANGE. */
export function rangeArgError(op: string, message: string): InvalidArgumentError {
  return argError(op, message, 'ERANGE');
}

/** A value of the wrong kind: InvalidArgumentError, code EINVAL. */
export function kindArgError(op: string, message: string): InvalidArgumentError {
  return argError(op, message);
}
