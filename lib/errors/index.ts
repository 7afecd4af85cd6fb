// One error hierarchy for the whole package. The addon only returns -errno; everything that a
// caller can catch is built here, in the caller's realm, so `instanceof` works under jest too.
import * as os from 'os';

const errnoNames: Record<number, string> = Object.fromEntries(
  Object.entries(os.constants.errno).map(([name, num]) => [num, name]),
);

/** Short descriptions for the errnos VFIO users actually meet (Node has no strerror on v20). */
const errnoText: Record<string, string> = {
  EPERM: 'operation not permitted',
  ENOENT: 'no such file or directory',
  EIO: 'input/output error',
  EBADF: 'bad file descriptor',
  EAGAIN: 'resource temporarily unavailable',
  ENOMEM: 'cannot allocate memory',
  EACCES: 'permission denied',
  EFAULT: 'bad address',
  EBUSY: 'device or resource busy',
  EEXIST: 'file exists',
  ENODEV: 'no such device',
  EINVAL: 'invalid argument',
  ENOSPC: 'no space left on device',
  ENOTTY: 'inappropriate ioctl for device',
  ERANGE: 'result out of range',
  ETIMEDOUT: 'timed out',
  ENOSYS: 'function not implemented',
  EOPNOTSUPP: 'operation not supported',
  ENXIO: 'no such device or address',
  E2BIG: 'argument list too long',
};

/** The errno name for a number ('EINVAL'), or 'E<n>' for one the platform does not name. */
export function errnoName(errno: number): ErrnoCode | `E${number}` {
  return (errnoNames[errno] as ErrnoCode | undefined) ?? `E${errno}`;
}

export function errnoNumber(name: string): number {
  const n = (os.constants.errno as Record<string, number>)[name];
  if (n === undefined) throw new TypeError(`unknown errno name ${name}`);
  return n;
}

/** The name of an errno the kernel can return ('EINVAL', 'ENODEV', …), as Node's `os.constants.errno` names it. */
export type ErrnoCode = keyof typeof os.constants.errno;

/**
 * Codes of the package's own checks, where no system call failed:
 *
 * - `'ECLOSED'`: the object (or its device) was closed ({@link ClosedError}).
 * - `'EREVOKED'`: the memory behind a mapping was revoked; the library unmapped it first ({@link RevokedError}).
 * - `'EDECODE'`: bytes from the kernel or sysfs did not decode (`DecodeError`).
 * - `'VFIO_NO_DEVICE'`: no device has the address given (nothing in sysfs).
 * - `'VFIO_NOT_BOUND'`: the device exists but is not bound to a VFIO driver (vfio-pci or a
 *   variant); the hint names the `vfio bind` / `sysfs.bind` that fixes it.
 * - `'VFIO_NO_IOMMU_GROUP'`: the device has no IOMMU group (nor a VFIO cdev for the backend
 *   asked for): the IOMMU is off, or no-IOMMU mode is not enabled.
 * - `'VFIO_MSI_NO_BUS_MASTER'`: MSI/MSI-X enabled while bus mastering is off (a warning's code).
 * - `'VFIO_BIND_REFUSED'`: `sysfs.bind` / `sysfs.unbind` refused or failed; the message says why, the hint what to do.
 * - `'VFIO_SRIOV_REFUSED'`: `sysfs.sriov` could not set the number of VFs (not a PF, a count out of
 *   range, or the kernel's refusal, whose errno is kept); the hint says what to do.
 * - `'ENVME'`: an NVMe command completed with an error status (`NvmeError`, from `vfio/nvme`).
 * - `'ENOADDON'`: the native addon could not be loaded (no build, no fitting prebuild); the hint
 *   says how to build or approve it.
 */
export type OwnErrorCode =
  | 'ECLOSED'
  | 'EREVOKED'
  | 'EDECODE'
  | 'VFIO_NO_DEVICE'
  | 'VFIO_NOT_BOUND'
  | 'VFIO_NO_IOMMU_GROUP'
  | 'VFIO_MSI_NO_BUS_MASTER'
  | 'ENVME'
  | 'ENOADDON'
  | 'VFIO_BIND_REFUSED'
  | 'VFIO_SRIOV_REFUSED';

/**
 * Every `code` a {@link VfioError} can have: an errno name (the kernel's answer, or an errno-like
 * code of one of the package's checks: 'EINVAL', 'ERANGE', 'EBUSY', …), `E<n>` for an errno
 * the platform does not name, or one of the package's own codes.
 */
export type VfioErrorCode = ErrnoCode | `E${number}` | OwnErrorCode;

/** What an error says about where it happened; every field optional. */
export interface ErrorContext {
  /** The device (BDF, or a path for non-PCI devices) when the error concerns one. */
  device?: string;
  /** What to do about it, when we know. */
  hint?: string;
  /** Extra detail appended to the message (e.g. "region 2, offset 0x1000"). */
  detail?: string;
  /** The error that led to this one (becomes `Error.cause`). */
  cause?: unknown;
}

/** What a {@link VfioError} is made from. */
export interface VfioErrorInit extends ErrorContext {
  /** The errno name or package code ({@link VfioErrorCode}). */
  code: VfioErrorCode;
  /** The failing operation: an ioctl, a syscall or a method name. */
  op: string;
  /** The kernel's errno number, when the kernel said it. */
  errno?: number;
  /** The whole message; default: made from op, device, code and detail. */
  message?: string;
}

/**
 * The one error class that leaves the public API (its subclasses narrow it): `code` says what
 * went wrong, `errno` keeps the kernel's number, `op` the failing call, and `hint` a fix that
 * works on the machine at hand (also appended to the message).
 */
export class VfioError extends Error {
  /** 'EINVAL', 'ENOTTY', … (the errno name) or one of the package's own codes ({@link OwnErrorCode}). */
  readonly code: VfioErrorCode;
  /** The errno number when the kernel said it; undefined for our own checks. */
  readonly errno: number | undefined;
  /** The failing operation: an ioctl name ('VFIO_DEVICE_GET_REGION_INFO'), a syscall, or a method. */
  readonly op: string;
  /** The device concerned (BDF, or a path), when there is one. */
  readonly device: string | undefined;
  /** What to do about it, when known: a command or a setting that fixes it here. */
  readonly hint: string | undefined;

  /** Builds the message from `init` (or takes `init.message`), with the hint on a second line. */
  constructor(init: VfioErrorInit) {
    const what = init.message ?? describe(init);
    super(
      init.hint ? `${what}\n  hint: ${init.hint}` : what,
      init.cause === undefined ? undefined : { cause: init.cause },
    );
    this.name = new.target.name;
    this.code = init.code;
    this.errno = init.errno;
    this.op = init.op;
    this.device = init.device;
    this.hint = init.hint;
  }
}

function describe(init: VfioErrorInit): string {
  const text = errnoText[init.code];
  const on = init.device ? ` on ${init.device}` : '';
  const detail = init.detail ? ` (${init.detail})` : '';
  return `${init.op} failed${on}: ${init.code}${text ? ` ${text}` : ''}${detail}`;
}

/** The kernel or driver does not support this (ENOTTY, EOPNOTSUPP, ENOSYS). */
export class NotSupportedError extends VfioError {}
/** EPERM/EACCES: usually /dev/vfio permissions, memlock or a kernel option. */
export class PermissionError extends VfioError {}
/** EBUSY: the group or device is held elsewhere. */
export class BusyError extends VfioError {}
/** The object was closed; using it again is a bug in the caller. */
export class ClosedError extends VfioError {}
/** A wait with a deadline ran out (code ETIMEDOUT): a register never reached its value, a command never completed. */
export class TimeoutError extends VfioError {}
/**
 * The memory behind a mapping was revoked (a dma-buf revoke, a device reset): the library took
 * the mapping down before the kernel did, so accessors throw this instead of faulting.
 */
export class RevokedError extends ClosedError {}
/** Our own argument checks (offsets, widths, alignment, ranges) and the kernel's EINVAL/ERANGE. */
export class InvalidArgumentError extends VfioError {}

function classFor(code: string): typeof VfioError {
  switch (code) {
    case 'ENOTTY':
    case 'EOPNOTSUPP':
    case 'ENOSYS':
      return NotSupportedError;
    case 'EPERM':
    case 'EACCES':
      return PermissionError;
    case 'EBUSY':
      return BusyError;
    case 'EINVAL':
    case 'ERANGE':
      return InvalidArgumentError;
    case 'ETIMEDOUT':
      return TimeoutError;
    default:
      return VfioError;
  }
}

/** The typed error for a kernel errno returned by operation `op`. */
export function errnoError(errno: number, op: string, ctx: ErrorContext = {}): VfioError {
  const code = errnoName(errno);
  const Cls = classFor(code);
  return new Cls({ ...ctx, code, errno, op });
}

/** Passes a native result through, or throws the typed error for its -errno. */
export function check(result: number, op: string, ctx?: ErrorContext | (() => ErrorContext)): number {
  if (result >= 0) return result;
  throw errnoError(-result, op, typeof ctx === 'function' ? ctx() : ctx);
}

/** For native calls that return a value object on success and -errno on failure. */
export function checkValue<T>(result: T | number, op: string, ctx?: ErrorContext | (() => ErrorContext)): T {
  if (typeof result === 'number' && result < 0) check(result, op, ctx);
  return result as T;
}

/** Our own validation failure: no errno, code EINVAL (or ERANGE for out-of-range offsets). */
export function invalidArgument(
  op: string,
  message: string,
  ctx: ErrorContext & { code?: 'EINVAL' | 'ERANGE' } = {},
): InvalidArgumentError {
  return new InvalidArgumentError({ ...ctx, code: ctx.code ?? 'EINVAL', op, message: `${op}: ${message}` });
}

export function closedError(op: string, what: string, device?: string): ClosedError {
  return new ClosedError({
    code: 'ECLOSED',
    op,
    device,
    message: `${op}: ${what} is closed`,
    hint: 'the object was closed (or its device was); open it again instead of reusing it',
  });
}

export function revokedError(op: string, what: string, why: string, device?: string): RevokedError {
  return new RevokedError({
    code: 'EREVOKED',
    op,
    device,
    message: `${op}: ${what} was revoked (${why})`,
    hint: 'the memory behind it is gone for good: make a new cookie (a new dma-buf) and map that',
  });
}

export function notSupported(op: string, message: string, ctx: ErrorContext = {}): NotSupportedError {
  return new NotSupportedError({ ...ctx, code: 'EOPNOTSUPP', op, message: `${op}: ${message}` });
}

/**
 * Several cleanup steps failed while closing one object: every step still ran, and each failure
 * is kept in `causes` (the first is also `cause`). The code is the first failure's, so a caller
 * that matches on codes sees what went wrong first.
 */
export class CloseError extends VfioError {
  /** Every failure, in the order the cleanup steps ran (at least one). */
  readonly causes: readonly unknown[];
  /** `op` names the close that failed; `causes` must not be empty. */
  constructor(op: string, causes: readonly unknown[], device?: string) {
    const first = causes[0];
    const code = first instanceof VfioError ? first.code : 'EIO';
    const errno = first instanceof VfioError ? first.errno : undefined;
    const what = causes.map((c) => (c instanceof Error ? c.message.split('\n')[0] : String(c))).join('; ');
    super({
      code,
      errno,
      op,
      device,
      cause: first,
      message: `${op}: ${causes.length} step(s) failed: ${what}`,
      hint: 'the object is closed anyway; each failure is in .causes',
    });
    this.causes = causes;
  }
}

/** Throws one CloseError when `errors` is not empty; a single VfioError passes through as it is. */
export function throwCloseErrors(op: string, errors: readonly unknown[], device?: string): void {
  if (errors.length === 0) return;
  if (errors.length === 1 && errors[0] instanceof VfioError) throw errors[0];
  throw new CloseError(op, errors, device);
}
