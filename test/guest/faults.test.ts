// Fault injection through one full driver flow on edu (faults-child.ts): each of the addon's
// syscalls in the flow fails in turn with EINTR, ENOMEM, EFAULT and EIO. Every failure must
// leave the flow as a VfioError, nothing may leak (fds, the addon's mapping table), and the
// device must open and work afterwards. In a child Node per errno, so a crash is counted.
import { spawnSync } from 'child_process';
import * as os from 'os';
import * as path from 'path';
import { must } from '../support/must';

const EDU = must(process.env.VFIO_VM_EDU, 'process.env.VFIO_VM_EDU');
const E = os.constants.errno;

describe('fault injection through an edu driver flow', () => {
  it.each([
    ['EINTR', E.EINTR],
    ['ENOMEM', E.ENOMEM],
    ['EFAULT', E.EFAULT],
    ['EIO', E.EIO],
  ])(
    'every syscall failing with %s: a typed error, no leak',
    (name, errno) => {
      const r = spawnSync(
        process.execPath,
        ['--expose-gc', path.join(__dirname, 'faults-child.js'), EDU, String(errno)],
        {
          encoding: 'utf8',
          timeout: 900_000,
        },
      );
      expect({ status: r.status, signal: r.signal, stderr: r.stderr }).toEqual({ status: 0, signal: null, stderr: '' });
      const out = JSON.parse(must(r.stdout.trim().split('\n').pop(), "r.stdout.trim().split('\\n').pop()"));
      process.stdout.write(`[faults] ${name}: ${out.count} syscalls in the flow\n`);
      expect(out.count).toBeGreaterThan(10);
      const untyped = out.outcomes.filter((o: string) => o.startsWith('untyped'));
      expect(untyped).toEqual([]);
      // Most failures surface as the injected errno; every one is typed.
      const carrying = out.outcomes.filter((o: string) => o.includes(`:${errno}:`)).length;
      expect(carrying).toBeGreaterThan(0);
      expect(out.leaks).toEqual([]);
    },
    1_000_000,
  );
});
