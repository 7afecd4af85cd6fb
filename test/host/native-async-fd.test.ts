// Thread-pool calls (device open, resets, iommufd bind) hold their own reference to the file:
// closing the fd right after the call, or reusing its number for another file, cannot make the
// ioctl land anywhere else. The pool is kept busy (one thread, a long pbkdf2 first) so that
// the close always happens before the queued ioctl runs. The fd is an eventfd: any VFIO ioctl
// on it answers ENOTTY, while an ioctl on a closed number answers EBADF.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { E, runChild } from './native-util';
import { must } from '../support/must';

const busyPool = `
process.env.UV_THREADPOOL_SIZE = '1';
const crypto = require('crypto');
const busy = new Promise((r) => crypto.pbkdf2('x', 'y', 400000, 32, 'sha256', r));
`;

// Each pool function, started on fd X and then X closed at once (and, with reuse, X reopened as
// another eventfd): resolves to the ioctl's result.
const calls = `
const E = (f) => { const fd = addon.eventfd(0, 0); return [fd, f(fd)]; };
const starts = {
  VFIO_DEVICE_RESET: (fd) => addon.VFIO_DEVICE_RESET(fd),
  VFIO_DEVICE_PCI_HOT_RESET: (fd) => addon.VFIO_DEVICE_PCI_HOT_RESET(fd, new Int32Array([fd])),
  VFIO_GROUP_GET_DEVICE_FD: (fd) => addon.VFIO_GROUP_GET_DEVICE_FD(fd, '0000:00:03.0'),
  VFIO_DEVICE_BIND_IOMMUFD: (fd) => addon.VFIO_DEVICE_BIND_IOMMUFD(fd, fd),
};
async function run(reuse) {
  const out = {};
  for (const [name, start] of Object.entries(starts)) {
    const [fd, pending] = E(start);
    addon.close(fd);
    const other = reuse ? addon.eventfd(0, 0) : -1;
    out[name] = { fd, reused: other === fd, result: await pending };
    if (other >= 0) addon.close(other);
  }
  return out;
}
`;

describe('thread-pool calls and close()', () => {
  it('an fd closed right after the call: the ioctl still reaches the file (ENOTTY), not a closed number (EBADF)', () => {
    const r = runChild(
      busyPool +
        calls +
        `
      (async () => { await busy; })();
      run(false).then((out) => console.log(JSON.stringify(out)));`,
    );
    expect(r.stderr).toBe('');
    const out = JSON.parse(r.stdout);
    for (const name of [
      'VFIO_DEVICE_RESET',
      'VFIO_DEVICE_PCI_HOT_RESET',
      'VFIO_GROUP_GET_DEVICE_FD',
      'VFIO_DEVICE_BIND_IOMMUFD',
    ]) {
      expect({ name, reused: out[name].reused, result: out[name].result }).toEqual({
        name,
        reused: false,
        result: -E.ENOTTY,
      });
    }
  });

  const strace = ['/usr/bin/strace', '/bin/strace'].find((p) => fs.existsSync(p));
  (strace ? it : it.skip)(
    'a reused fd number: strace shows each ioctl on a private dup, never on the reused number',
    () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vfio-strace-'));
      try {
        const log = path.join(dir, 'trace');
        const r = runChild(
          busyPool +
            calls +
            `
        run(true).then((out) => console.log(JSON.stringify(out)));`,
          { wrap: [must(strace, 'strace'), '-f', '-e', 'trace=ioctl,close', '-o', log] },
        );
        expect(r.stderr).toBe('');
        const out = Object.values(JSON.parse(r.stdout)) as { fd: number; reused: boolean; result: number }[];
        expect(out.map((o) => [o.reused, o.result])).toEqual(Array(4).fill([true, -E.ENOTTY]));
        // VFIO ioctls are type ';' (0x3b). Each number JS used was reused by another eventfd before
        // the ioctl ran: an ioctl on one of those numbers is an ioctl on the wrong file.
        const lines = fs
          .readFileSync(log, 'utf8')
          .split('\n')
          .filter((l) => /ioctl\(\d+, (_IOC\([^,]+, 0x3b|VFIO_)/.test(l));
        expect(lines).toHaveLength(4);
        const ioctlFds = lines.map((l) =>
          Number(must(/ioctl\((\d+),/.exec(l), `an ioctl fd in the strace line ${l}`)[1]),
        );
        const jsFds = new Set(out.map((o) => o.fd));
        expect(ioctlFds.filter((fd) => jsFds.has(fd))).toEqual([]);
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    },
  );
});
