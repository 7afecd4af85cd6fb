// The socket layer under the vfio-user server (native/socket.cc, native/socket_poll.cc): UNIX
// stream sockets, descriptors passed with SCM_RIGHTS, readiness through libuv, and hostile
// arguments (a few thousand random calls in a child process, which must live).
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { native } from '../../lib/addon';
import { E, le64, runChild, thrown } from './native-util';

const n = native();
const STREAM = n.constants.SOCK_STREAM;

function pair(): [number, number] {
  const out = new Int32Array(2);
  expect(n.socketpair(STREAM, out)).toBe(0);
  return [out[0], out[1]];
}

describe('UNIX sockets with descriptor passing', () => {
  const open: number[] = [];
  afterEach(() => {
    for (const fd of open.splice(0)) n.close(fd);
  });

  it('passes an eventfd: the received descriptor names the same file', () => {
    const [a, b] = pair();
    const efd = n.eventfd(0, n.constants.EFD_NONBLOCK);
    open.push(a, b, efd);
    expect(n.sendmsg(a, Uint8Array.of(7, 8, 9), Int32Array.of(efd))).toBe(3);
    const buf = new Uint8Array(16);
    const fds = new Int32Array(4);
    expect(n.recvmsg(b, buf, fds)).toBe(3);
    expect(Array.from(buf.subarray(0, 3))).toEqual([7, 8, 9]);
    const got = fds[0];
    expect(got).toBeGreaterThanOrEqual(0);
    expect(got).not.toBe(efd);
    expect(Array.from(fds.subarray(1))).toEqual([-1, -1, -1]);
    open.push(got);
    // A count written through the received descriptor is read through the original one.
    expect(n.write(got, le64(5n))).toBe(8);
    const count = new Uint8Array(8);
    expect(n.read(efd, count)).toBe(8);
    expect(new BigUint64Array(count.buffer)[0]).toBe(5n);
    // Close-on-exec, as every descriptor the addon hands out.
    const flags = /flags:\s+([0-7]+)/.exec(fs.readFileSync(`/proc/self/fdinfo/${got}`, 'utf8'))?.[1] ?? '0';
    expect(parseInt(flags, 8) & 0o2000000).toBe(0o2000000);
  });

  it('closes every passed descriptor and says EMSGSIZE when more came than asked for', () => {
    const [a, b] = pair();
    const efd = n.eventfd(0, 0);
    open.push(a, b, efd);
    const before = fs.readdirSync('/proc/self/fd').length;
    expect(n.sendmsg(a, Uint8Array.of(1), Int32Array.of(efd, efd, efd))).toBe(1);
    const fds = new Int32Array(2);
    expect(n.recvmsg(b, new Uint8Array(4), fds)).toBe(-E.EMSGSIZE);
    expect(Array.from(fds)).toEqual([-1, -1]);
    expect(fs.readdirSync('/proc/self/fd').length).toBe(before);
  });

  it('listens, connects and accepts on a path; readiness arrives through the event loop', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vfio-sock-'));
    const where = path.join(dir, 's');
    const server = n.socket(STREAM);
    open.push(server);
    expect(n.bind(server, where)).toBe(0);
    expect(n.listen(server, 4)).toBe(0);
    expect(n.accept(server)).toBe(-E.EAGAIN); // nobody yet, and no waiting
    const client = n.socket(STREAM);
    open.push(client);
    const accepted = new Promise<number>((resolve) => {
      const h = n.socket_poll_start(server, 1, (ev) => {
        n.socket_poll_stop(h as never);
        resolve(ev);
      });
      expect(typeof h).toBe('object');
    });
    expect(n.connect(client, where)).toBe(0);
    expect(await accepted).toBe(1);
    const conn = n.accept(server);
    expect(conn).toBeGreaterThanOrEqual(0);
    open.push(conn);
    const readable = new Promise<number>((resolve) => {
      const h = n.socket_poll_start(conn, 1, (ev) => {
        n.socket_poll_stop(h as never);
        resolve(ev);
      });
    });
    expect(n.sendmsg(client, Uint8Array.of(42), null)).toBe(1);
    expect(await readable).toBe(1);
    const buf = new Uint8Array(1);
    expect(n.recvmsg(conn, buf, new Int32Array(0))).toBe(1);
    expect(buf[0]).toBe(42);
    n.shutdown(client, 2);
    expect(n.recvmsg(conn, buf, new Int32Array(0))).toBe(0); // the peer's close
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('checks its arguments like the rest of the addon', () => {
    expect(n.socket(12345)).toBe(-E.EINVAL);
    expect(n.bind(1000, 'x'.repeat(200))).toBe(-E.ENAMETOOLONG);
    expect(n.bind(1000, '')).toBe(-E.EINVAL);
    expect(n.bind(1000, 'a\0b')).toBe(-E.EINVAL);
    expect(n.sendmsg(1000, new Uint8Array(1), Int32Array.of(-1))).toBe(-E.EINVAL);
    expect(n.sendmsg(1000, new Uint8Array(0), Int32Array.of(0))).toBe(-E.EINVAL);
    expect(n.sendmsg(1000, new Uint8Array(1), new Int32Array(254))).toBe(-E.EINVAL);
    expect(n.recvmsg(1000, new Uint8Array(0), new Int32Array(0))).toBe(-E.EINVAL);
    expect(n.socketpair(STREAM, new Int32Array(1))).toBe(-E.EINVAL);
    const efd = n.eventfd(0, 0);
    expect(n.socket_poll_start(efd, 1, () => {})).toBe(-E.ENOTSOCK);
    n.close(efd);
    expect(n.socket_poll_start(1000, 8, () => {})).toBe(-E.EINVAL);
    expect(thrown(() => n.sendmsg(1000, 'x' as never, null)).message).toMatch(/^vfio native: argument 1/);
    expect(thrown(() => n.socket_poll_stop({} as never)).name).toBe('TypeError');
    expect(thrown(() => n.recvmsg(1000, new Uint8Array(4), [1] as never)).name).toBe('TypeError');
  });

  it('lives through thousands of random calls with random arguments (child process)', () => {
    const script = `
let seed = 12345;
const rnd = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
const [a, b] = (() => { const o = new Int32Array(2); addon.socketpair(addon.constants.SOCK_STREAM, o); return [o[0], o[1]]; })();
const efd = addon.eventfd(0, 0);
const values = () => [a, b, efd, -1, 0, 1, 2, 3, 253, 254, 1 << 30, 2 ** 53, NaN, 1.5, -0, 'x', '', 'a\\0b', 'x'.repeat(300),
  null, undefined, {}, [], () => {}, 1n, -1n, new Uint8Array(0), new Uint8Array(64), new Int32Array(0),
  Int32Array.of(efd), Int32Array.of(-5), new Int32Array(300), Int32Array.of(a, b), new BigUint64Array(2)];
const fns = ['socket', 'socketpair', 'bind', 'connect', 'listen', 'accept', 'shutdown', 'sendmsg', 'recvmsg',
  'socket_poll_start', 'socket_poll_events', 'socket_poll_ref', 'socket_poll_stop'];
let calls = 0, typeErrors = 0, other = [];
const made = new Set();
for (let i = 0; i < 5000; i++) {
  const name = fns[Math.floor(rnd() * fns.length)];
  const vs = values();
  const args = Array.from({ length: 4 }, () => vs[Math.floor(rnd() * vs.length)]);
  if (name === 'bind' || name === 'connect') { if (typeof args[1] === 'string' && args[1].length && !args[1].includes('\\0') && args[1].length < 100) args[1] = '/nonexistent-dir/' + args[1]; }
  calls++;
  try {
    const r = addon[name](...args);
    if (typeof r === 'number' && r >= 0 && (name === 'socket' || name === 'accept')) made.add(r);
    if (r && typeof r === 'object') addon.socket_poll_stop(r);
  } catch (e) {
    if (e instanceof TypeError && /^vfio native: /.test(e.message)) typeErrors++;
    else other.push(name + ': ' + (e && e.message));
  }
  // The pair must stay usable: reopen it if a random shutdown hit it.
}
for (const fd of made) addon.close(fd);
setTimeout(() => console.log(JSON.stringify({ calls, typeErrors, other: other.slice(0, 5) })), 50);
`;
    const r = runChild(script, { timeoutMs: 60000 });
    if (r.status !== 0)
      throw new Error(`child ended with status ${r.status}, signal ${r.signal}:\n${r.stderr.slice(-2000)}`);
    const out = JSON.parse(r.stdout.trim().split('\n').pop() as string);
    expect(out.other).toEqual([]);
    expect(out.calls).toBe(5000);
    expect(out.typeErrors).toBeGreaterThan(1000);
  });
});
