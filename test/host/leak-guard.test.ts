// The safety net under close() (lib/addon/leak-guard.ts): IRQ taps, dma-bufs and IOMMU contexts
// over eventfds and plain files, dropped unclosed in a child Node with --expose-gc. Their fds
// must be closed once they are collected, each kind must warn once naming the object, and a
// closed object must neither warn nor close an fd number that was reused after its close.
import * as path from 'path';
import { runChild } from './native-util';

const dist = path.resolve(__dirname, '../../dist/lib');

const script = `
const fs = require('fs');
const { Tap } = require(${JSON.stringify(path.join(dist, 'irq', 'irq'))});
const { DmaBuf } = require(${JSON.stringify(path.join(dist, 'dma', 'dmabuf'))});
const { Type1Context } = require(${JSON.stringify(path.join(dist, 'iommu', 'type1'))});
const { IommufdContext } = require(${JSON.stringify(path.join(dist, 'iommu', 'iommufd'))});
const { O_RDONLY, O_CLOEXEC, EFD_CLOEXEC } = addon.constants;
const warnings = [];
process.on('warning', (w) => warnings.push({ name: w.name, code: w.code, message: w.message }));
const fds = () => fs.readdirSync('/proc/self/fd').length;
const settle = async () => { for (let i = 0; i < 6; i++) { gc(); await new Promise((r) => setImmediate(r)); } };
const file = () => addon.open('/proc/self/cmdline', O_RDONLY | O_CLOEXEC);
(async () => {
  // Node opens stderr's stream on the first warning it prints: not ours to count.
  process.emitWarning('warm-up');
  await settle();
  warnings.splice(0);
  const out = { baseline: fds() };
  // Dropped unclosed: two taps, two dma-bufs, a type1 container holding a group fd, an iommufd context.
  (() => {
    Tap.open(0, () => {}, 'tapdev');
    Tap.open(1, () => {}, 'tapdev');
    const init = { label: 'bufdev', regionIndex: 0, regionName: 'BAR0', ranges: [{ offset: 0n, length: 4096n }] };
    new DmaBuf(file(), init);
    new DmaBuf(addon.eventfd(0, EFD_CLOEXEC), init);
    const t1 = new Type1Context(file(), {});
    t1.groups.set(7, { number: 7, fd: file(), users: 1 });
    new IommufdContext(file(), 3, {});
  })();
  out.open = fds() - out.baseline;
  await settle();
  out.afterDrop = fds() - out.baseline;
  out.warnings = warnings.splice(0);
  // Closed, then dropped: nothing to release, no warning; a reused fd number stays open.
  let reused;
  (() => {
    const t = Tap.open(2, () => {}, 'closed');
    const n = t.fd;
    t.close();
    reused = file();
    out.sameNumber = reused === n;
  })();
  await settle();
  out.reusedOpen = fs.existsSync('/proc/self/fd/' + reused);
  addon.close(reused);
  out.end = fds() - out.baseline;
  out.lateWarnings = warnings;
  console.log(JSON.stringify(out));
})();
`;

describe('unclosed objects that are collected', () => {
  it('release their fds with one warning per kind naming the object', () => {
    const r = runChild(script, { flags: ['--expose-gc'] });
    if (r.status !== 0) throw new Error(`child ended with status ${r.status}, signal ${r.signal}:\n${r.stderr}`);
    const out = JSON.parse(r.stdout.trim().split('\n').pop() as string);
    expect(out.open).toBe(7);
    expect(out.afterDrop).toBe(0);
    const byCode = out.warnings.map((w: { name: string; code: string }) => `${w.name}:${w.code}`);
    expect(byCode).toEqual(Array(3).fill('VfioLeakWarning:VFIO_UNCLOSED'));
    const messages = out.warnings.map((w: { message: string }) => w.message).join('\n');
    expect(messages).toMatch(/the IRQ tap of tapdev vector [01] was garbage-collected without close\(\)/);
    expect(messages).toMatch(/the dma-buf of bufdev BAR0 was garbage-collected/);
    expect(messages).toMatch(/the (type1 IOMMU container|iommufd context \(IOAS 3\)) was garbage-collected/);
    expect(out.sameNumber).toBe(true);
    expect(out.reusedOpen).toBe(true);
    expect(out.end).toBe(0);
    expect(out.lateWarnings).toEqual([]);
  });
});
