// Running QEMU itself: start, time limit, cancellation, and how it ended.
import { spawn } from 'child_process';
import { Tool, toolArgv } from '../archive/userland-tools';

export interface QemuExit {
  /** QEMU's exit code, or null when a signal ended it. */
  code: number | null;
  signal: NodeJS.Signals | null;
  /** QEMU's own stderr (its error messages; the guest never writes there). */
  stderr: string;
  timedOut: boolean;
  aborted: boolean;
}

export interface QemuProcessOptions {
  /** The QEMU to run: the provisioned one (through its loader) or a host binary (--qemu). */
  qemu: Tool;
  args: string[];
  /** Serial console on this process's terminal (interactive shell). */
  interactive: boolean;
  timeoutMs: number;
  signal?: AbortSignal;
  verbose?: (line: string) => void;
}

/** How long QEMU gets to exit after SIGTERM before SIGKILL. */
const KILL_GRACE_MS = 2000;

export function runQemu(opts: QemuProcessOptions): Promise<QemuExit> {
  const [program, argv] = toolArgv(opts.qemu, opts.args);
  opts.verbose?.(`${program} ${argv.map((a) => (/[\s"']/.test(a) ? JSON.stringify(a) : a)).join(' ')}`);
  const child = spawn(program, argv, {
    // stdin is /dev/null in run mode: a QEMU reading a terminal it does not own was seen to stall.
    stdio: opts.interactive ? ['inherit', 'inherit', 'pipe'] : ['ignore', 'ignore', 'pipe'],
    // In run mode QEMU gets its own process group, so a terminal's Ctrl-C reaches this
    // process (which stops QEMU and reports) rather than killing QEMU mid-write.
    detached: !opts.interactive,
  });
  let stderr = '';
  let timedOut = false;
  let aborted = false;
  // stdio pipes stderr in both modes, so the stream is there.
  child.stderr?.on('data', (b: Buffer) => {
    stderr += b.toString();
    if (opts.interactive) process.stderr.write(b);
  });
  const stop = () => {
    child.kill('SIGTERM');
    setTimeout(() => child.kill('SIGKILL'), KILL_GRACE_MS).unref();
  };
  const timer = setTimeout(() => { timedOut = true; stop(); }, opts.timeoutMs);
  const onAbort = () => { aborted = true; stop(); };
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  // A detached QEMU would outlive a crashing host process: take it down with us.
  const onExit = () => child.kill('SIGKILL');
  process.once('exit', onExit);
  return new Promise((resolve, reject) => {
    const cleanUp = () => {
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
      process.removeListener('exit', onExit);
    };
    child.on('error', (e) => { cleanUp(); reject(e); });
    child.on('close', (code, signal) => {
      cleanUp();
      resolve({ code, signal, stderr, timedOut, aborted });
    });
  });
}
