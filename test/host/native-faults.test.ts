// Fault injection (native/faults.cc): one flow through the library — a Region over a tmpfs file
// (mmap, width-exact access, pread/pwrite, close), a DmaBuffer (allocate, access, close) and an
// IRQ tap (eventfd, poll) — run once to count its syscalls, then once per syscall with that one
// failing, for each of EINTR, ENOMEM, EFAULT and EIO. Every failure must leave the library as a
// VfioError carrying the injected errno, and nothing may leak: the same fds open and the same
// mapping table once the garbage collector has run. The loop runs in a child Node (the built
// library in dist/), where a collection is quick and a crash is counted.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { runChild } from './native-util';

const dist = path.resolve(__dirname, '../../dist/lib');
const E = os.constants.errno;

const script = (dir: string, errno: number) => `
const fs = require('fs'), path = require('path');
const { DmaBuffer, Region, VfioError } = require(${JSON.stringify(dist)});
const { Tap } = require(${JSON.stringify(path.join(dist, 'irq', 'irq'))});
const { PAGE_SIZE, O_RDWR, O_CLOEXEC } = addon.constants;
const file = path.join(${JSON.stringify(dir)}, 'bar');
fs.writeFileSync(file, new Uint8Array(2 * PAGE_SIZE));
const fd = addon.open(file, O_RDWR | O_CLOEXEC);
// A Region whose device fd is the tmpfs file: mmap and pread/pwrite go to the file.
const info = { argsz: 32, rawFlags: 0xf, index: 0, capOffset: 0, size: BigInt(2 * PAGE_SIZE), offset: 0n, caps: [],
  flags: { read: true, write: true, mmap: true, caps: false } };
const region = new Region(info, { label: 'tmpfs', fd: () => fd, track() {}, untrack() {} });
// Each object is closed in a finally, as a careful caller does, whatever failed.
function flow() {
  const m = region.map();
  try {
    m.write32(0, 0x11223344);
    if (m.read32(0) !== 0x11223344) throw new Error('mapping lost a write');
    region.write32(8, 0x55667788);
    if (region.read32(8) !== 0x55667788) throw new Error('pwrite/pread lost a write');
  } finally {
    m.close();
  }
  const buf = DmaBuffer.allocate(2 * PAGE_SIZE);
  try {
    buf.write64(8, 5n);
    if (buf.read64(8) !== 5n) throw new Error('DMA buffer lost a write');
  } finally {
    buf.close();
  }
  const tap = Tap.open(0, () => {}, 'tmpfs');
  tap.close();
}
const fds = () => fs.readdirSync('/proc/self/fd').sort().join(',');
const settle = async () => { for (let i = 0; i < 3; i++) { gc(); await new Promise((r) => setImmediate(r)); } };
(async () => {
  flow();                       // disarmed: nothing fails
  addon.__faults(2 ** 53, ${errno});
  flow();
  const count = addon.__faults(0, 0);
  await settle();
  const baseline = { fds: fds(), stats: JSON.stringify(addon.__mem_stats()) };
  const outcomes = [], leaks = [];
  for (let i = 1; i <= count; i++) {
    addon.__faults(i, ${errno});
    let outcome = 'completed';
    try { flow(); } catch (e) {
      outcome = e instanceof VfioError ? e.constructor.name + ':' + e.code + ':' + e.errno + ':' + e.op : 'untyped:' + String(e && e.stack);
    }
    addon.__faults(0, 0);
    outcomes.push(outcome);
    await settle();
    const now = { fds: fds(), stats: JSON.stringify(addon.__mem_stats()) };
    if (now.fds !== baseline.fds || now.stats !== baseline.stats) leaks.push({ i, baseline, now });
  }
  console.log(JSON.stringify({ count, outcomes, leaks, stats: addon.__mem_stats() }));
})();
`;

describe('fault injection through one library flow', () => {
  let dir: string;
  beforeAll(() => {
    if (!fs.existsSync(path.join(dist, 'index.js')))
      throw new Error(`${dist} is missing: build with \`npx tsc -p tsconfig.json\` first`);
    dir = fs.mkdtempSync(path.join(fs.existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir(), 'vfio-faults-'));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it.each([['EINTR'], ['ENOMEM'], ['EFAULT'], ['EIO']])(
    'each syscall failing with %s in turn: a VfioError with that errno, and no leak',
    (name) => {
      const errno = E[name as keyof typeof E];
      const r = runChild(script(dir, errno), { flags: ['--expose-gc'], timeoutMs: 60000 });
      if (r.status !== 0) throw new Error(`child ended with status ${r.status}, signal ${r.signal}:\n${r.stderr}`);
      const out = JSON.parse(r.stdout.trim().split('\n').pop() as string);
      // mmap, its zero pages, pwrite, pread, memfd_create, ftruncate, fallocate, mmap, zero pages,
      // eventfd, fcntl and readlink (poll_start), fcntl x2 (O_NONBLOCK), close: at least 14.
      expect(out.count).toBeGreaterThanOrEqual(14);
      expect(out.leaks).toEqual([]);
      expect(out.stats).toEqual({ mappings: 0, ids: 0, retired: 0, retiredBytes: 0 });
      // Every failure surfaced, typed, with the injected errno; none was swallowed.
      const surfaced = new RegExp(`^\\w+:${name}:${errno}:`);
      expect(out.outcomes.filter((o: string) => !surfaced.test(o))).toEqual([]);
      expect(out.outcomes).toHaveLength(out.count);
    },
  );
});
