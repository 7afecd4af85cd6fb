// `vfio doctor` as a library: the ordered host and device checks over a readable root, and the
// root cause of a failed open (the first check that fails, in the same order), which
// Device.open and the CLI put in front of their errors.
import { VfioError } from '../errors';
import { Invocation, currentInvocation } from '../system/hints';
import * as sysfs from '../system/sysfs';
import { Check, passed } from './check';
import { DeviceContext, Identity, currentIdentity, deviceChecks } from './device-checks';
import { hostChecks } from './host-checks';
import { HostRoots } from './roots';

export { Check, CheckStatus, passed } from './check';
export { Identity, acsExplanation, currentIdentity, mayOpen } from './device-checks';
export { TYPICAL_DMA_BYTES, bootLoaderNote, memlockLimits } from './host-checks';
export { groupUses, hostUses, vfioHolders } from './in-use';
export { HostRoots } from './roots';

export interface DoctorOptions extends HostRoots {
  /** How fixes write commands; default: this process (`npx vfio`, sudo when not root). */
  invocation?: Invocation;
  /** Whose permissions the node check tests; default: this process's uid and groups. */
  identity?: Identity;
  /** Processes holding a device's VFIO files; default: a scan of /proc. */
  holders?: (bdf: string, group: number | undefined) => number[];
}

export interface DoctorReport {
  /** Every check passed (warnings allowed). */
  readonly ready: boolean;
  readonly checks: Check[];
}

function context(o: DoctorOptions): DeviceContext {
  const inv = o.invocation ?? currentInvocation();
  return { host: hostChecks(o, inv), inv, who: o.identity ?? currentIdentity(), holders: o.holders };
}

/** The host checks, then each device's (BDFs already normalised), in order. */
export function doctor(bdfs: readonly string[], o: DoctorOptions = {}): DoctorReport {
  const ctx = context(o);
  const checks = [...ctx.host.checks, ...bdfs.flatMap((b) => deviceChecks(b, o, ctx))];
  return { ready: passed(checks), checks };
}

/** The host checks an open depends on; the IOMMU ones only when the device lacks a group. */
const OPEN_HOST_CHECKS = ['modules', 'nodes', 'backends'];

/**
 * The first check, in doctor's order, that stops PCI device `bdf` from opening; undefined when
 * every check an open depends on passes.
 */
export function rootCause(bdf: string, o: DoctorOptions = {}): Check | undefined {
  const ctx = context(o);
  const noGroup = sysfs.iommuGroupOf(bdf, o) === undefined && !ctx.host.backends.noIommuEnabled;
  const host = ctx.host.checks.filter(
    (c) => OPEN_HOST_CHECKS.includes(c.id) || (noGroup && (c.id === 'iommu' || c.id === 'cmdline')),
  );
  return [...host, ...deviceChecks(bdf, o, ctx)].find((c) => c.status === 'fail');
}

/** The codes of an open that the host's set-up can explain: the kernel's and the package's own. */
const OPEN_FAILURE_CODES: readonly string[] = [
  'ENODEV',
  'ENOENT',
  'EACCES',
  'EPERM',
  'EBUSY',
  'EOPNOTSUPP',
  'VFIO_NOT_BOUND',
  'VFIO_NO_IOMMU_GROUP',
];

/**
 * `e` led by its root cause: the same code and class, the cause's finding in the message and its
 * fix as the hint, `e` attached. When the cause is the driver (what `e` already says), only the
 * hint changes. Errors of other kinds, and opens with no failing check, pass through.
 */
export function withRootCause(e: unknown, bdf: string, o: DoctorOptions = {}): unknown {
  if (!(e instanceof VfioError) || !OPEN_FAILURE_CODES.includes(e.code)) return e;
  let cause: Check | undefined;
  try {
    cause = rootCause(bdf, o);
  } catch {
    return e;
  }
  if (!cause) return e;
  const own = e.hint ? e.message.slice(0, e.message.lastIndexOf('\n  hint: ')) : e.message;
  const message = cause.id === 'driver' ? own : `${e.op}: ${bdf}: ${cause.title}: ${cause.detail}`;
  const Cls = e.constructor as typeof VfioError;
  return new Cls({
    code: e.code,
    errno: e.errno,
    op: e.op,
    device: e.device ?? bdf,
    message,
    hint: cause.fix,
    cause: e,
  });
}
