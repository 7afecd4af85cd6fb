// The typed error of a width-exact access that failed its one combined bounds test: which of
// the checks (read-only memory, offset type, range, alignment, value) refused it. Off the hot
// path, so it may build strings.
import { invalidArgument } from '../errors';
import { describeValue } from '../errors/args';

/** How a subclass names itself in errors: 'Mapping', 'the BAR0 mapping', 'mapping', '0000:00:03.0'. */
export interface MemoryLabel {
  readonly prefix: string;
  readonly what: string;
  readonly noun: string;
  readonly device?: string;
}

/** @internal What of the memory the checks need. */
export interface AccessBounds {
  readonly length: number;
  readonly writable: boolean;
}

/** @internal The error for access `op` at `off` of `width` bytes (value `v` for writes) that was refused. */
export function accessError(
  l: MemoryLabel,
  m: AccessBounds,
  op: string,
  off: unknown,
  width: number,
  v: unknown,
  write: boolean,
): Error {
  if (write && !m.writable) {
    return invalidArgument(
      `${l.prefix}.${op}`,
      `${l.what} is read-only (mapped without PROT_WRITE: the region has no WRITE flag)`,
      { device: l.device },
    );
  }
  if (typeof off !== 'number' || !Number.isInteger(off)) {
    return invalidArgument(
      `${l.prefix}.${op}`,
      `offset ${describeValue(off)} is not an integer: it must be a number from 0 to ${m.length - width}`,
      { device: l.device },
    );
  }
  if (off < 0 || off + width > m.length) {
    return invalidArgument(
      `${l.prefix}.${op}`,
      `offset ${off} is outside the ${m.length}-byte ${l.noun}: it must be from 0 to ${m.length - width}`,
      { code: 'ERANGE', device: l.device },
    );
  }
  if ((off & (width - 1)) !== 0) {
    return invalidArgument(`${l.prefix}.${op}`, `offset 0x${off.toString(16)} is not ${width}-byte aligned`, {
      device: l.device,
    });
  }
  const what =
    op === 'write64n'
      ? 'is not an integer in [0, 2^53)'
      : op === 'write64x2'
        ? 'is not a 32-bit half'
        : width === 8
          ? 'is not a bigint from -2^63 to 2^64-1'
          : typeof v === 'number'
            ? `does not fit in ${width * 8} bits`
            : `is not a number: it does not fit in ${width * 8} bits (an integer from ${-(2 ** (width * 8 - 1))} to ${2 ** (width * 8) - 1})`;
  return invalidArgument(`${l.prefix}.${op}`, `value ${describeValue(v)} ${what}`, { device: l.device });
}
