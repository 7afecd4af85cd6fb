// Running the long steps of a kernel build: every step's output goes to one log file, the
// user sees phase names with elapsed times and, during long steps, a line every ~15 s (with a
// count of compiled files when the step is a compile). A failing step becomes an error that
// quotes the end of the log, so nobody has to go looking for it.
import { spawn } from 'child_process';
import * as fs from 'fs';
import { requireProgram } from '../core/exec';
import { VmError } from '../core/errors';

export const PROGRESS_INTERVAL_MS = 15_000;
const TAIL_LINES = 40;

/** "1m05s" / "42s" / "0.4s". */
export function formatElapsed(ms: number): string {
  if (ms < 10_000) return `${(ms / 1000).toFixed(1)}s`;
  const s = Math.round(ms / 1000);
  return s < 60 ? `${s}s` : `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
}

/** Kbuild's quiet output names each compiled file: "  CC      drivers/vfio/vfio_main.o" (or "CC [M]"). */
const COMPILE_LINE = /^\s+CC(?:\s+\[M\])?\s+(\S+)/;

/** The files a chunk of kbuild output reports as compiled. */
export function compiledFiles(text: string): string[] {
  const out: string[] = [];
  for (const line of text.split('\n')) {
    const m = COMPILE_LINE.exec(line);
    if (m) out.push(m[1]);
  }
  return out;
}

export interface StepCommand {
  program: string;
  args: string[];
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Run at a lower CPU priority (nice 10) so the machine stays usable during a compile. */
  nice?: boolean;
}

export class BuildSteps {
  private readonly started = Date.now();
  private readonly fd: number;

  constructor(readonly logFile: string, private readonly log: (line: string) => void) {
    this.fd = fs.openSync(logFile, 'w'); // one log per attempt
  }

  close(): void {
    fs.closeSync(this.fd);
  }

  /** Elapsed time since the build started. */
  elapsed(): string {
    return formatElapsed(Date.now() - this.started);
  }

  /** A line for the user and the log. */
  note(line: string): void {
    this.log(line);
    this.write(`\n== ${line}\n`);
  }

  write(text: string): void {
    fs.writeSync(this.fd, text);
  }

  /** Runs fn as a named phase, announcing its start and how long it took. */
  async phase<T>(name: string, fn: () => Promise<T> | T): Promise<T> {
    const t0 = Date.now();
    this.note(`kernel build: ${name}…`);
    const result = await fn();
    this.write(`== ${name} done in ${formatElapsed(Date.now() - t0)}\n`);
    return result;
  }

  /** Runs a program with its output in the log; throws with the log's tail unless it exits 0. */
  async run(cmd: StepCommand, progressLabel?: string): Promise<{ compiled: number }> {
    const file = requireProgram(cmd.program);
    const [program, args] = cmd.nice ? [requireProgram('nice'), ['-n', '10', file, ...cmd.args]] : [file, cmd.args];
    this.write(`$ ${cmd.program} ${cmd.args.join(' ')}${cmd.cwd ? `   (in ${cmd.cwd})` : ''}\n`);
    const t0 = Date.now();
    let compiled = 0;
    let last = '';
    const timer = progressLabel ? setInterval(() => {
      const what = compiled ? `, ${compiled} files compiled (last: ${last})` : '';
      this.log(`kernel build: ${progressLabel} ${formatElapsed(Date.now() - t0)}${what}; total ${this.elapsed()}`);
    }, PROGRESS_INTERVAL_MS) : undefined;
    try {
      const status = await new Promise<number>((resolve, reject) => {
        const child = spawn(program, args, { cwd: cmd.cwd, env: cmd.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
        const take = (b: Buffer) => {
          this.write(b.toString());
          const files = compiledFiles(b.toString());
          compiled += files.length;
          // Kernel objects are named relative to the tree; host tools (objtool) absolutely.
          if (files.length) last = files[files.length - 1].replace(/^\/.*\/out\//, '');
        };
        child.stdout.on('data', take);
        child.stderr.on('data', take);
        child.on('error', reject);
        child.on('close', (code, signal) => resolve(code ?? (signal ? 128 : 1)));
      });
      if (status !== 0) {
        throw new VmError('kernel-build',
          `${cmd.program} ${cmd.args.join(' ')} failed (exit ${status}); the end of ${this.logFile}:\n${this.tail()}`);
      }
    } finally {
      if (timer) clearInterval(timer);
    }
    return { compiled };
  }

  /** The last lines of the log. */
  tail(lines = TAIL_LINES): string {
    const text = fs.readFileSync(this.logFile, 'utf8');
    return text.trimEnd().split('\n').slice(-lines).join('\n');
  }
}
