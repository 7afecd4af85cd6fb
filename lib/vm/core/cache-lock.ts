// An exclusive lock on a cache directory, so two processes (two terminals, parallel CI jobs
// sharing a cache) never build into the same place at once. The lock is a file created with
// O_EXCL holding the owner's pid; a lock whose owner is gone (killed, crashed) is taken over.
import * as fs from 'fs';
import * as path from 'path';

export interface LockOptions {
  /** Called once when the lock is busy, with the owner's pid, before waiting. */
  onWait?: (ownerPid: number) => void;
  /** How often to look again while waiting. Default 500 ms. */
  pollMs?: number;
  /** Give up after this long (ms). Default: wait as long as the owner lives. */
  timeoutMs?: number;
}

/** Whether a process with this pid exists (EPERM: it exists but is not ours). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function ownerOf(file: string): number | undefined {
  try {
    const pid = Number(fs.readFileSync(file, 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined; // gone meanwhile, or being written
  }
}

/** Tries once: true if this process now holds the lock. */
function tryTake(file: string): boolean {
  try {
    const fd = fs.openSync(file, 'wx');
    fs.writeSync(fd, `${process.pid}\n`);
    fs.closeSync(fd);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
  }
  const owner = ownerOf(file);
  if (owner !== undefined && !processAlive(owner)) {
    // Stale. Rename first so that of two processes seeing the same stale lock only one removes it.
    const aside = `${file}.stale-${process.pid}`;
    try {
      fs.renameSync(file, aside);
      fs.rmSync(aside, { force: true });
    } catch { /* someone else took it over first */ }
  }
  return false;
}

/**
 * Runs fn while holding `<dir>/.lock`, waiting for another holder to finish first.
 * The lock is released when fn settles, whatever the outcome.
 */
export async function withLock<T>(dir: string, fn: () => Promise<T>, opts: LockOptions = {}): Promise<T> {
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, '.lock');
  const started = Date.now();
  let announced = false;
  while (!tryTake(file)) {
    const owner = ownerOf(file);
    if (!announced && owner !== undefined) {
      opts.onWait?.(owner);
      announced = true;
    }
    if (opts.timeoutMs !== undefined && Date.now() - started > opts.timeoutMs) {
      throw new Error(`${file} is held by pid ${owner ?? '?'}`);
    }
    await new Promise((r) => setTimeout(r, opts.pollMs ?? 500));
  }
  try {
    return await fn();
  } finally {
    if (ownerOf(file) === process.pid) fs.rmSync(file, { force: true });
  }
}
