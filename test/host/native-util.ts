// Helpers for the addon's host tests (test/host/native-*.test.ts): temp files, /proc/self/maps,
// little-endian counters, and child Node processes that load the same built addon.
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { packageRoot } from '../../lib/addon/paths';

export const E = os.constants.errno;

/** A fresh file in os.tmpdir() holding `bytes`; removed by the returned cleanup. */
export function tempFile(bytes: Uint8Array): { file: string; remove: () => void } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vfio-native-'));
  const file = path.join(dir, 'data');
  fs.writeFileSync(file, bytes);
  return { file, remove: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

/** The /proc/self/maps lines whose path contains `needle`: start address, length, permissions. */
export function mappingsOf(needle: string): { start: bigint; length: bigint; perms: string }[] {
  return fs
    .readFileSync('/proc/self/maps', 'utf8')
    .split('\n')
    .filter((line) => line.includes(needle))
    .map((line) => {
      const [range, perms] = line.split(/\s+/);
      const [lo, hi] = range.split('-').map((h) => BigInt(`0x${h}`));
      return { start: lo, length: hi - lo, perms };
    });
}

/** An eventfd write: the 8-byte little-endian counter increment. */
export function le64(value: bigint): Uint8Array {
  return new Uint8Array(new BigUint64Array([value]).buffer);
}

/** What the addon threw: jest runs tests in another realm, so compare names, not classes. */
export function thrown(fn: () => unknown): { name: string; message: string } {
  try {
    fn();
  } catch (e) {
    const err = e as { constructor?: { name?: string }; message?: string };
    return { name: err.constructor?.name ?? '', message: err.message ?? '' };
  }
  throw new Error('expected the call to throw');
}

/**
 * Runs `script` in a child Node (extra flags first) with `addon` bound to the built addon (and
 * `loadAddon`, whose source a worker thread can eval to load it too), and
 * returns its exit status, output and wall time. The child must exit by itself within timeoutMs.
 * `wrap` runs it under another program (strace and its options, say).
 */
export function runChild(script: string, opts: { flags?: string[]; timeoutMs?: number; wrap?: string[] } = {}) {
  const prelude =
    `const loadAddon = () => require(${JSON.stringify(require.resolve('node-gyp-build'))})(${JSON.stringify(packageRoot())});\n` +
    'const addon = loadAddon();\n';
  const started = Date.now();
  const argv = [process.execPath, ...(opts.flags ?? []), '-e', prelude + script];
  const command = [...(opts.wrap ?? []), ...argv];
  const r = spawnSync(command[0], command.slice(1), {
    encoding: 'utf8',
    timeout: opts.timeoutMs ?? 20000,
    killSignal: 'SIGKILL',
  });
  return { status: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr, ms: Date.now() - started };
}

/** The compiled library (dist/lib), for children that require the public classes. */
export const DIST_LIB = path.resolve(__dirname, '../../dist/lib');

/**
 * The last line a child printed, parsed as JSON; an Error with its status, signal and stderr
 * when the child did not exit 0 (a fault is counted there, not hidden).
 */
export function childJson(r: ReturnType<typeof runChild>): Record<string, unknown> {
  if (r.status !== 0) throw new Error(`child ended with status ${r.status}, signal ${r.signal}:\n${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop() ?? '');
}
