// The memory gate (lib/device/memory-gate.ts) and the addon's mem_suspend/mem_resume over a
// tmpfs file standing in for a BAR: while the gate is shut, accessors throw an EIO VfioError,
// the raw view reads private zero pages and its writes never reach the file; once open, the
// file's pages are back under the same view. In a child Node, so a fault is counted.
import * as fs from 'fs';
import * as path from 'path';
import { native } from '../../lib/addon/native';
import { childJson, DIST_LIB, runChild, tempFile } from './native-util';

const n = native();
const { PAGE_SIZE } = n.constants;

describe('memory gate over a file mapping', () => {
  let tmp: ReturnType<typeof tempFile>;
  beforeEach(() => {
    const bytes = new Uint8Array(2 * PAGE_SIZE);
    new DataView(bytes.buffer).setUint32(0, 0xcafef00d, true);
    tmp = tempFile(bytes);
  });
  afterEach(() => tmp.remove());

  it('raw: suspend swaps in zero pages under a live view, resume maps the file back', () => {
    const r = runChild(`
      const fd = addon.open(${JSON.stringify(tmp.file)}, addon.constants.O_RDWR | addon.constants.O_CLOEXEC);
      const { PROT_READ, PROT_WRITE } = addon.constants;
      const m = addon.mmap(fd, 0n, ${PAGE_SIZE}, PROT_READ | PROT_WRITE, 0);
      const v = new Uint32Array(m.buffer);
      const before = v[0];
      const s1 = addon.mem_suspend(m.handle), s2 = addon.mem_suspend(m.handle);
      const off = v[0];
      v[1] = 7;                       // private zero page: never reaches the file
      const r1 = addon.mem_resume(m.handle, fd, 0n), r2 = addon.mem_resume(m.handle, fd, 0n);
      const after = [v[0], v[1]];
      v[2] = 9;                       // the file's page again
      const dma = addon.dma_alloc(${PAGE_SIZE}, false);
      const onDma = addon.mem_suspend(dma.handle);
      const unmapped = addon.munmap(m.handle);
      const late = [addon.mem_suspend(m.handle), addon.mem_resume(m.handle, fd, 0n)];
      console.log(JSON.stringify({ before, s1, s2, off, r1, r2, after, onDma, unmapped, late }));`);
    expect(childJson(r)).toEqual({
      before: 0xcafef00d,
      s1: 0,
      s2: 0,
      off: 0,
      r1: 0,
      r2: 0,
      after: [0xcafef00d, 0],
      onDma: -22,
      unmapped: 0,
      late: [-9, -9],
    });
    const raw = fs.readFileSync(tmp.file);
    const file = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    expect([file.getUint32(4, true), file.getUint32(8, true)]).toEqual([0, 9]);
  });

  it('raw: a failed resume leaves the zero pages, and its fallback mmap is one the fault switch can fail', () => {
    const r = runChild(`
      const { O_RDWR, O_RDONLY, O_CLOEXEC, PROT_READ, PROT_WRITE } = addon.constants;
      const fd = addon.open(${JSON.stringify(tmp.file)}, O_RDWR | O_CLOEXEC);
      const readOnly = addon.open(${JSON.stringify(tmp.file)}, O_RDONLY | O_CLOEXEC);
      const m = addon.mmap(fd, 0n, ${PAGE_SIZE}, PROT_READ | PROT_WRITE, 0);
      const v = new Uint32Array(m.buffer);
      addon.mem_suspend(m.handle);
      // A writable shared mapping of a read-only fd: the kernel refuses it (EACCES) before it
      // touches the range, and the zero pages are mapped again over it.
      addon.__faults(2 ** 53, 5);
      const refused = addon.mem_resume(m.handle, readOnly, 0n);
      const calls = addon.__faults(0, 0);
      const zerosAfterRefused = v[0];
      // The second of those calls (the zero pages) failing on purpose: its errno is the answer.
      addon.__faults(2, 5);
      const injected = addon.mem_resume(m.handle, readOnly, 0n);
      addon.__faults(0, 0);
      const zerosAfterInjected = v[0];
      const resumed = addon.mem_resume(m.handle, fd, 0n);
      console.log(JSON.stringify({ refused, calls, zerosAfterRefused, injected, zerosAfterInjected, resumed, back: v[0] }));`);
    expect(childJson(r)).toEqual({
      refused: -13,
      calls: 2,
      zerosAfterRefused: 0,
      injected: -5,
      zerosAfterInjected: 0,
      resumed: 0,
      back: 0xcafef00d,
    });
  });

  it('library: a shut gate makes every accessor of every mapping throw EIO; open restores them', () => {
    const r = runChild(`
      const { Region, VfioError } = require(${JSON.stringify(DIST_LIB)});
      const { MemoryGate } = require(${JSON.stringify(path.join(DIST_LIB, 'device', 'memory-gate'))});
      const { PAGE_SIZE, O_RDWR, O_CLOEXEC } = addon.constants;
      const fd = addon.open(${JSON.stringify(tmp.file)}, O_RDWR | O_CLOEXEC);
      const info = { argsz: 32, rawFlags: 0xf, index: 0, capOffset: 0, size: BigInt(2 * PAGE_SIZE), offset: 0n, caps: [],
        flags: { read: true, write: true, mmap: true, caps: false } };
      const maps = new Set();
      let command = 0x6;
      const gate = new MemoryGate(() => 'tmpfs', () => [...maps], () => command);
      const region = new Region(info, { label: 'tmpfs', fd: () => fd, track: (m) => { maps.add(m); gate.noticeMapping(m); }, untrack: (m) => maps.delete(m) });
      const m = region.map();
      const what = (f) => { try { return f(); } catch (e) { return e instanceof VfioError ? e.code + ':' + e.op : 'untyped ' + e; } };
      const out = { before: what(() => m.read32(0)) };
      // A command write that clears MEMORY, as the device's config region would route it.
      gate.configWrite(4n, new Uint8Array([0x4, 0]), () => { command = 0x4; });
      out.suspended = m.suspended;
      out.read = what(() => m.read32(0));
      out.write = what(() => m.write8(0, 1));
      out.copyOut = what(() => m.copyOut(0, 4));
      const late = region.map({ length: PAGE_SIZE });
      out.late = what(() => late.read32(0));
      out.view = m.v32[0];
      gate.configWrite(4n, new Uint8Array([0x6, 0]), () => { command = 0x6; });
      out.after = [what(() => m.read32(0)), what(() => late.read32(0)), m.suspended === undefined];
      // A write that is not the command register leaves the gate alone.
      gate.configWrite(0x10n, new Uint8Array([0, 0, 0, 0]), () => {});
      out.untouched = what(() => m.read32(0));
      // Low power entry shuts it; a failed entry reopens; exit reopens.
      out.lowPower = [gate.feature('LOW_POWER_ENTRY', true, () => 0), what(() => m.read32(0))];
      out.exit = [gate.feature('LOW_POWER_EXIT', true, () => 0), what(() => m.read32(0))];
      out.failedEntry = [gate.feature('LOW_POWER_ENTRY', true, () => -25), what(() => m.read32(0))];
      m.close(); late.close();
      console.log(JSON.stringify(out));`);
    expect(childJson(r)).toEqual({
      before: 0xcafef00d,
      suspended: 'memory decoding is off (the command register has PCI_COMMAND_MEMORY clear)',
      read: 'EIO:Mapping.read32',
      write: 'EIO:Mapping.write8',
      copyOut: 'EIO:Mapping.copyOut',
      late: 'EIO:Mapping.read32',
      view: 0,
      after: [0xcafef00d, 0xcafef00d, true],
      untouched: 0xcafef00d,
      lowPower: [0, 'EIO:Mapping.read32'],
      exit: [0, 0xcafef00d],
      failedEntry: [-25, 0xcafef00d],
    });
  });
});
