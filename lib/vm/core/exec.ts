// Running host programs: one place that turns ENOENT into "install it with apt-get", and that
// collects output for error messages.
import { spawn, SpawnOptions } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { missingTool, VmError, VmErrorKind } from './errors';

/**
 * The Debian package that provides each host program the emulated host still takes from the
 * host: apt and dpkg to fetch and unpack, the C toolchain for the custom kernel and the sample
 * driver. QEMU, busybox, xz and zstd are provisioned (userland.ts), never looked up here.
 */
export const HOST_PACKAGES: Readonly<Record<string, string>> = {
  'apt-get': 'apt',
  'apt-cache': 'apt',
  dpkg: 'dpkg',
  gcc: 'build-essential',
  make: 'build-essential',
};

/** Absolute path of `program` on PATH, or undefined. */
export function which(program: string): string | undefined {
  for (const dir of (process.env.PATH ?? '/usr/bin:/bin').split(':')) {
    const candidate = path.join(dir || '.', program);
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      return candidate;
    } catch { /* not here */ }
  }
  return undefined;
}

/** Path of a required host program; throws a VmError naming the apt-get command if absent. */
export function requireProgram(program: string): string {
  if (program.includes('/')) return program;
  const found = which(program);
  if (!found) throw missingTool(program, HOST_PACKAGES[program] ?? program);
  return found;
}

export interface ExecResult {
  status: number;
  stdout: Buffer;
  stderr: string;
}

export interface ExecOptions extends Pick<SpawnOptions, 'cwd' | 'env'> {
  /** Bytes to write to stdin. */
  input?: Buffer;
  /** Where stdout goes: collected (default) or a file descriptor (e.g. a file being written). */
  stdoutFd?: number;
  /** The error kind thrown when the program fails. */
  kind?: VmErrorKind;
  /** Kills the program (SIGKILL) when aborted; the result then has its signal status. */
  signal?: AbortSignal;
}

/**
 * Runs a program to completion; throws a VmError (with its stderr) unless it exits 0.
 * Programs are looked up first so a missing one is reported with its package.
 */
export async function exec(program: string, args: string[], opts: ExecOptions = {}): Promise<ExecResult> {
  const file = requireProgram(program);
  const r = await execRaw(file, args, opts);
  if (r.status !== 0) {
    const detail = r.stderr.trim().split('\n').slice(-5).join('\n');
    throw new VmError(opts.kind ?? 'provision',
      `${program} ${args.join(' ')} failed (exit ${r.status})${detail ? `:\n${detail}` : ''}`);
  }
  return r;
}

/** Like exec(), but returns any exit status instead of throwing. */
export function execRaw(file: string, args: string[], opts: ExecOptions = {}): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, {
      cwd: opts.cwd,
      env: opts.env,
      stdio: ['pipe', opts.stdoutFd ?? 'pipe', 'pipe'],
      signal: opts.signal,
      killSignal: 'SIGKILL',
    });
    const out: Buffer[] = [];
    let err = '';
    child.stdout?.on('data', (b: Buffer) => out.push(b));
    child.stderr?.on('data', (b: Buffer) => { err += b.toString(); });
    child.on('error', (e) => { if (e.name !== 'AbortError') reject(e); });
    child.on('close', (code, signal) => {
      resolve({ status: code ?? 128 + signalNumber(signal), stdout: Buffer.concat(out), stderr: err });
    });
    child.stdin?.end(opts.input);
  });
}

function signalNumber(signal: NodeJS.Signals | null): number {
  return signal ? os.constants.signals[signal] ?? 0 : 0;
}
