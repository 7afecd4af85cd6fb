// How the CLI ends: where its text goes, and how a failure is told to the user. Exit statuses:
// 0 ok, 1 the operation failed (with `error:` and, when known, a `hint:`), 2 usage.
import { VfioError } from '../errors';
import type { Invocation } from '../system/hints';
import { colors } from './format';

export const EXIT_OK = 0;
export const EXIT_FAILED = 1;
export const EXIT_USAGE = 2;

/** Everything a command may touch outside its arguments; tests pass their own. */
export interface Runtime {
  out(text: string): void;
  err(text: string): void;
  /** Colour on stdout / stderr. */
  readonly color: boolean;
  readonly errColor: boolean;
  /** The effective uid: bind and unbind refuse to run unless it is 0. */
  readonly uid: number;
  /** Root of sysfs (tests point it at a fixture tree); '/sys' by default. */
  readonly sysfs?: string;
  /** Root of procfs (doctor, bind's in-use checks); '/proc' by default. */
  readonly proc?: string;
  /** Root of the device nodes (doctor); '/dev' by default. */
  readonly dev?: string;
  /** How hints write commands: 'vfio' or 'npx vfio', with sudo when needed; default from uid. */
  readonly invocation?: Invocation;
}

/** The invocation hints use: the runtime's, else `vfio`, root from the uid, sudo assumed. */
export function invocationOf(rt: Runtime): Invocation {
  return rt.invocation ?? { cli: 'vfio', root: rt.uid === 0, sudo: true };
}

/** Ends a command with this exit status after its output (doctor: 1 when not ready), no error line. */
export class ExitStatus extends Error {
  constructor(readonly status: number) {
    super(`exit ${status}`);
  }
}

/** An operation that failed for a reason we can explain (exit status 1). */
export class CliError extends Error {
  readonly hint: string | undefined;

  constructor(message: string, hint?: string) {
    super(message);
    this.name = 'CliError';
    this.hint = hint;
  }
}

/** The message and hint of any error, without the hint repeated inside the message. */
export function describeError(e: unknown): { message: string; hint: string | undefined } {
  if (e instanceof VfioError) {
    // VfioError appends its hint to the message; the CLI prints the hint on a line of its own.
    const message = e.hint ? e.message.slice(0, e.message.lastIndexOf('\n  hint: ')) : e.message;
    return { message, hint: e.hint };
  }
  if (e instanceof CliError) return { message: e.message, hint: e.hint };
  if (e instanceof Error) return { message: e.message, hint: undefined };
  return { message: String(e), hint: undefined };
}

/** Prints `error: …` and `hint: …` to stderr; returns the exit status for a failed operation. */
export function reportFailure(e: unknown, rt: Runtime): number {
  const c = colors(rt.errColor);
  const { message, hint } = describeError(e);
  rt.err(`${c.red('error:')} ${message}\n`);
  if (hint) rt.err(`${c.yellow('hint:')} ${hint}\n`);
  return EXIT_FAILED;
}
