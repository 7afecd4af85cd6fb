// Every function the addon exports, called with hostile values in every argument position: the
// process must live, and each call must either throw the addon's TypeError or return (a negative
// errno, a Promise, a value). The calls run in a child Node so that an abort or a fault is
// counted. Other arguments hold harmless values (fd 1000 is not open, resource 1000 is no
// rlimit), so that no call can change the child's own state behind the test's back.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { runChild } from './native-util';

const script = `
const fs = require('fs');
const expectedThrow = (e) => e instanceof TypeError && /^vfio native: /.test(e.message);
const poller = (() => { const fd = addon.eventfd(0, addon.constants.EFD_NONBLOCK); const h = addon.poll_start(fd, () => {}); addon.poll_stop(h); return h; })();
const mem = addon.dma_alloc(4096, false);
const readOnly = (() => {
  fs.writeFileSync('ro', new Uint8Array(4096));
  const fd = addon.open('ro', addon.constants.O_RDONLY);
  return addon.mmap(fd, 0n, 4096, addon.constants.PROT_READ, 0);
})();
const detached = new Uint8Array(16); structuredClone(detached.buffer, { transfer: [detached.buffer] });
const hostile = {
  null: null, undefined: undefined, symbol: Symbol('s'), bigint: 1n, negBigint: -1n, hugeBigint: 1n << 70n,
  nan: NaN, inf: Infinity, neg: -1, frac: 1.5, big: 2 ** 53, zero: 0, str: 'x', nulStr: 'a\\0b', empty: '',
  obj: {}, arr: [1, 2], fn: () => {}, date: new Date(),
  getters: new Proxy({}, { get() { throw new Error('getter'); }, getPrototypeOf() { throw new Error('proto'); } }),
  valueOf: { valueOf() { throw new Error('valueOf'); }, [Symbol.toPrimitive]() { throw new Error('prim'); } },
  wrongTag: poller, memHandle: mem.handle, u8: new Uint8Array(64), i32: new Int32Array(4), u64s: new BigUint64Array(4),
  detached, roView: new Uint8Array(readOnly.buffer), roU64: new BigUint64Array(readOnly.buffer),
  f64: new Float64Array(8), dataView: new DataView(new ArrayBuffer(8)), ab: new ArrayBuffer(8),
};
const plain = [1000, 1000, 1000, 0n, 0n, 0n, 1000];
const names = Object.keys(addon).filter((k) => typeof addon[k] === 'function' && !k.startsWith('__'));
const frame = new Float64Array(addon.frame, 0, 9);
let calls = 0, threw = 0, returned = 0;
const bad = [];
function call(name, args, what) {
  calls++;
  try {
    const r = addon[name](...args);
    if (r instanceof Promise) r.catch((e) => bad.push(name + ' ' + what + ' rejected ' + String(e && e.message)));
    returned++;
  } catch (e) {
    if (!expectedThrow(e)) bad.push(name + ' ' + what + ' threw ' + String(e && e.message));
    threw++;
  }
}
for (const name of names) {
  for (const [label, v] of Object.entries(hostile)) {
    // Zero everywhere is no hostile value but a real call (setrlimit(RLIMIT_CPU, 0, 0) would end the child).
    if (label !== 'zero') call(name, Array(7).fill(v), label + ' everywhere');
    for (let pos = 0; pos < 7; pos++) {
      const args = plain.slice();
      args[pos] = v;
      call(name, args, label + ' at ' + pos);
    }
  }
  call(name, [], 'no arguments');
}
// The framed functions read their numbers from the frame: hostile doubles and kinds there too.
const slots = [NaN, -1, 1.5, 2 ** 60, Infinity, -Infinity, 1e300, -0, 127, 1 << 30];
for (const name of ['VFIO_IOMMU_MAP_DMA', 'VFIO_IOMMU_UNMAP_DMA', 'IOMMU_IOAS_MAP', 'IOMMU_IOAS_UNMAP', 'VFIO_DEVICE_GET_REGION_INFO']) {
  for (const a of slots) for (const b of slots) {
    frame.fill(a); frame[1] = b; frame[2] = mem.id; frame[7] = b;
    call(name, [hostile.u8], 'frame ' + a + ',' + b);
    call(name, [hostile.roView], 'frame ' + a + ',' + b + ' read-only');
  }
}
setTimeout(() => console.log(JSON.stringify({ functions: names.length, calls, threw, returned, bad: bad.slice(0, 10) })), 200);
`;

describe('the addon under hostile arguments', () => {
  let dir: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vfio-hostile-'));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('survives every value in every position of every function, with typed errors only', () => {
    const r = runChild(`process.chdir(${JSON.stringify(dir)});\n${script}`, { timeoutMs: 60000 });
    if (r.status !== 0)
      throw new Error(`child ended with status ${r.status}, signal ${r.signal}:\n${r.stderr.slice(-2000)}`);
    const out = JSON.parse(r.stdout.trim().split('\n').pop() as string);
    expect(out.bad).toEqual([]);
    expect(out.functions).toBeGreaterThanOrEqual(45);
    expect(out.threw).toBeGreaterThan(1000);
    expect(out.returned).toBeGreaterThan(1000);
  });
});
