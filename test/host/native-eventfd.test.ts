// Eventfds into the event loop: the count written reaches the callback, poll_stop stops it, an
// idle poll does not keep a process alive (a ref'd one does), and bad input is refused cleanly.
import * as fs from 'fs';
import { PollHandle, native } from '../../lib/addon/native';
import { E, le64, runChild, tempFile, thrown } from './native-util';
import { must } from '../support/must';

const n = native();
const { EFD_CLOEXEC, EFD_NONBLOCK, O_RDONLY } = n.constants;

function poll(fd: number, cb: (count: number) => void): PollHandle {
  const h = n.poll_start(fd, cb);
  if (typeof h === 'number') throw new Error(`poll_start: ${h}`);
  return h;
}

/** The next `k` callback values, or whatever came within `ms`. */
function collect(fd: number, k: number, ms: number): { handle: PollHandle; values: Promise<number[]> } {
  const seen: number[] = [];
  let done: (v: number[]) => void = () => undefined;
  const values = new Promise<number[]>((resolve) => {
    done = resolve;
  });
  const timer = setTimeout(() => done(seen), ms);
  const handle = poll(fd, (count) => {
    seen.push(count);
    if (seen.length === k) {
      clearTimeout(timer);
      done(seen);
    }
  });
  return { handle, values };
}

describe('poll_start / poll_stop', () => {
  let fd: number;
  beforeEach(() => {
    fd = n.eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  });
  afterEach(() => {
    n.close(fd);
  });

  it('delivers the count written (8-byte LE) to the callback on the event loop', async () => {
    const { handle, values } = collect(fd, 1, 5000);
    expect(n.write(fd, le64(3n))).toBe(8);
    expect(await values).toEqual([3]);
    n.poll_stop(handle);
  });

  it('writes between two loop turns add up; later writes give later calls', async () => {
    const { handle, values } = collect(fd, 2, 5000);
    n.write(fd, le64(2n));
    n.write(fd, le64(5n));
    await new Promise((r) => setTimeout(r, 50));
    n.write(fd, le64(1n));
    expect(await values).toEqual([7, 1]);
    n.poll_stop(handle);
  });

  it('poll_stop stops delivery and leaves the fd open and the count in place', async () => {
    const { handle, values } = collect(fd, 1, 300);
    n.poll_stop(handle);
    n.poll_stop(handle); // idempotent
    n.write(fd, le64(4n));
    expect(await values).toEqual([]);
    const counter = new BigUint64Array(1);
    expect(n.read(fd, new Uint8Array(counter.buffer))).toBe(8);
    expect(counter[0]).toBe(4n);
    n.poll_ref(handle, true); // harmless on a stopped handle
  });

  it('the fd can be polled again once stopped; twice at once is -EEXIST', () => {
    const first = poll(fd, () => undefined);
    expect(n.poll_start(fd, () => undefined)).toBe(-E.EEXIST);
    n.poll_stop(first);
    n.poll_stop(poll(fd, () => undefined));
  });
});

describe('refused input', () => {
  it('-EINVAL for unusable fds and for anything but an eventfd, -EBADF for a closed one', () => {
    expect(n.poll_start(-1, () => undefined)).toBe(-E.EINVAL);
    expect(n.poll_start(0.5, () => undefined)).toBe(-E.EINVAL);
    expect(n.poll_start(1 << 30, () => undefined)).toBe(-E.EBADF);
    const tmp = tempFile(new Uint8Array(8));
    const file = n.open(tmp.file, O_RDONLY);
    expect(n.poll_start(file, () => undefined)).toBe(-E.EINVAL);
    n.close(file);
    tmp.remove();
  });

  it('leaves the flags of a file that is no eventfd alone (a terminal, a pipe: no O_NONBLOCK behind their back)', () => {
    const tmp = tempFile(new Uint8Array(8));
    const file = n.open(tmp.file, O_RDONLY);
    const flags = () =>
      must(
        /^flags:\s+(\d+)/m.exec(fs.readFileSync(`/proc/self/fdinfo/${file}`, 'utf8')),
        `the flags line of /proc/self/fdinfo/${file}`,
      )[1];
    const before = flags();
    expect(n.poll_start(file, () => undefined)).toBe(-E.EINVAL);
    expect(flags()).toBe(before);
    n.close(file);
    tmp.remove();
  });

  it('a TypeError for a missing callback or a foreign handle', () => {
    expect(thrown(() => n.poll_start(0, undefined as never)).message).toMatch(/argument 1 must be a function/);
    expect(thrown(() => n.poll_stop({} as never)).name).toBe('TypeError');
    const m = n.dma_alloc(4096, false);
    if (typeof m === 'number') throw new Error(`dma_alloc: ${m}`);
    expect(thrown(() => n.poll_stop(m.handle as never)).message).toMatch(/handle returned by this addon/);
    n.dma_free(m.handle);
  });
});

describe('the event loop (child processes)', () => {
  it("an idle, unref'd poll does not keep the process alive", () => {
    const r = runChild(
      `
      const fd = addon.eventfd(0, 0);
      globalThis.h = addon.poll_start(fd, () => console.log('unexpected'));
      console.log(typeof globalThis.h);`,
      { timeoutMs: 10000 },
    );
    expect(r.signal).toBeNull();
    expect(r.status).toBe(0);
    expect(r.stdout.trim()).toBe('object');
  });

  it("a ref'd poll keeps it alive until its callback stops it", () => {
    const r = runChild(
      `
      const fd = addon.eventfd(0, 0);
      const h = addon.poll_start(fd, (count) => { console.log('count', count); addon.poll_stop(h); });
      addon.poll_ref(h, true);
      setTimeout(() => addon.write(fd, new Uint8Array(new BigUint64Array([9n]).buffer)), 200).unref();`,
      { timeoutMs: 10000 },
    );
    expect(r.status).toBe(0);
    expect(r.stdout.trim()).toBe('count 9');
    expect(r.ms).toBeGreaterThanOrEqual(200);
  });

  it('microtasks queued by the callback run right after it, before the next macrotask', () => {
    const r = runChild(
      `
      const fd = addon.eventfd(1, 0);
      const h = addon.poll_start(fd, () => {
        setImmediate(() => console.log('immediate'));
        Promise.resolve().then(() => console.log('microtask'));
        console.log('callback');
        addon.poll_stop(h);
      });
      addon.poll_ref(h, true);`,
      { timeoutMs: 10000 },
    );
    expect(r.status).toBe(0);
    expect(r.stdout.trim().split('\n')).toEqual(['callback', 'microtask', 'immediate']);
  });

  it('an exception thrown by the callback is an uncaught exception, as from an event emitter', () => {
    const r = runChild(
      `
      const fd = addon.eventfd(1, 0);
      const h = addon.poll_start(fd, () => { addon.poll_stop(h); throw new Error('boom'); });
      addon.poll_ref(h, true);
      process.on('uncaughtException', (e) => console.log('uncaught', e.message));`,
      { timeoutMs: 10000 },
    );
    expect(r.status).toBe(0);
    expect(r.stdout.trim()).toBe('uncaught boom');
    const crash = runChild(
      `
      const fd = addon.eventfd(1, 0);
      const h = addon.poll_start(fd, () => { addon.poll_stop(h); throw new Error('boom'); });
      addon.poll_ref(h, true);`,
      { timeoutMs: 10000 },
    );
    expect(crash.status).toBe(1);
    expect(crash.stderr).toMatch(/Error: boom/);
  });

  it('exits cleanly with armed polls at teardown, and a worker thread can poll and exit', () => {
    const r = runChild(
      `
      const { Worker } = require('worker_threads');
      globalThis.h = addon.poll_start(addon.eventfd(0, 0), () => {});
      const w = new Worker(\`
        const addon = (\${loadAddon.toString()})();
        const fd = addon.eventfd(0, 0);
        const h = addon.poll_start(fd, (c) => require('worker_threads').parentPort.postMessage(c));
        addon.poll_ref(h, true);
        addon.write(fd, new Uint8Array(new BigUint64Array([5n]).buffer));\`, { eval: true });
      w.on('message', (c) => { console.log('worker count', c); w.terminate(); });
      w.on('exit', () => console.log('worker exit'));`,
      { timeoutMs: 15000 },
    );
    expect(r.status).toBe(0);
    expect(r.stdout.trim().split('\n')).toEqual(['worker count 5', 'worker exit']);
  });
});
