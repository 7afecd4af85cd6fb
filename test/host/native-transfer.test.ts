// Memory that JavaScript can still reach after close: ArrayBuffer.prototype.transfer() moves an
// external buffer's memory to a new ArrayBuffer that munmap()/dma_free() cannot detach. Each case
// runs in a child Node (behind --harmony-rab-gsab-transfer on Node 20) so that a fault is a
// signal we count, not a dead test runner: the child must exit normally, the view must read and
// write harmless memory, and the file behind a mapping must not change.
import * as fs from 'fs';
import * as path from 'path';
import { native } from '../../lib/addon/native';
import { childJson, DIST_LIB, runChild, tempFile } from './native-util';

const n = native();
const { PAGE_SIZE } = n.constants;
// transfer() is on by default from Node 22, which no longer knows the flag (a "bad option").
const TRANSFER_FLAG = 'transfer' in ArrayBuffer.prototype ? [] : ['--harmony-rab-gsab-transfer'];
const FLAGS = [...TRANSFER_FLAG, '--expose-gc'];

// Lets the finalizers the last collection queued run (they run from setImmediate).
const settle =
  'const settle = async () => { for (let i = 0; i < 4; i++) { gc(); await new Promise((r) => setImmediate(r)); } };\n';

describe('a transferred view after close', () => {
  let tmp: ReturnType<typeof tempFile>;
  beforeEach(() => {
    tmp = tempFile(new Uint8Array(2 * PAGE_SIZE).fill(0xaa));
  });
  afterEach(() => tmp.remove());

  it('raw dma_alloc: transfer, dma_free, then read and write through the new buffer', () => {
    const r = runChild(
      `
      const m = addon.dma_alloc(${PAGE_SIZE}, false);
      new Uint8Array(m.buffer)[0] = 7;
      const moved = new Uint8Array(m.buffer.transfer());
      const freed = addon.dma_free(m.handle);
      const before = moved[0];
      moved[1] = 9;
      console.log(JSON.stringify({ freed, before, after: moved[1], length: moved.length }));`,
      { flags: FLAGS },
    );
    // The memory is gone: the range reads zero pages that take writes harmlessly.
    expect(childJson(r)).toEqual({ freed: 0, before: 0, after: 9, length: PAGE_SIZE });
  });

  it('raw mmap of a file: a write through the transferred buffer after munmap never reaches the file', () => {
    const r = runChild(
      `
      const fd = addon.open(${JSON.stringify(tmp.file)}, addon.constants.O_RDWR);
      const m = addon.mmap(fd, 0n, ${2 * PAGE_SIZE}, addon.constants.PROT_READ | addon.constants.PROT_WRITE, 0);
      const moved = new Uint8Array(m.buffer.transfer());
      const first = moved[0];
      const unmapped = addon.munmap(m.handle);
      moved[0] = 0x55; moved[${PAGE_SIZE}] = 0x66;
      console.log(JSON.stringify({ first, unmapped, now: moved[0] }));`,
      { flags: FLAGS },
    );
    expect(childJson(r)).toEqual({ first: 0xaa, unmapped: 0, now: 0x55 });
    expect(fs.readFileSync(tmp.file).every((b) => b === 0xaa)).toBe(true);
  });

  it('the range stays reserved while the transferred buffer lives, and is released after it is collected', () => {
    const r = runChild(
      settle +
        `
      (async () => {
        const before = addon.__mem_stats();
        let m = addon.dma_alloc(${4 * PAGE_SIZE}, false);
        let moved = m.buffer.transfer();
        addon.dma_free(m.handle);
        m = null;
        await settle();
        const held = addon.__mem_stats();
        new Uint8Array(moved)[5] = 1;
        moved = null;
        await settle();
        console.log(JSON.stringify({ before, held, after: addon.__mem_stats() }));
      })();`,
      { flags: FLAGS },
    );
    const out = childJson(r) as Record<
      string,
      { mappings: number; ids: number; retired: number; retiredBytes: number }
    >;
    expect(out.before).toEqual({ mappings: 0, ids: 0, retired: 0, retiredBytes: 0 });
    expect(out.held).toEqual({ mappings: 1, ids: 0, retired: 1, retiredBytes: 4 * PAGE_SIZE });
    expect(out.after).toEqual(out.before);
  });

  describe('through the library (dist/lib)', () => {
    beforeAll(() => {
      if (!fs.existsSync(path.join(DIST_LIB, 'index.js')))
        throw new Error(`${DIST_LIB} is missing: build with \`npx tsc -p tsconfig.json\` first`);
    });

    it('DmaBuffer: buf.u8.buffer.transfer(); close() → accessors throw ClosedError, the process lives', () => {
      const r = runChild(
        `
        const { DmaBuffer } = require(${JSON.stringify(DIST_LIB)});
        const buf = DmaBuffer.allocate(${PAGE_SIZE});
        buf.write32(0, 0x12345678);
        const moved = new Uint32Array(buf.u8.buffer.transfer());
        buf.close();
        moved[0] = 1; const seen = moved[0] + moved[1];
        const errors = [() => buf.read32(0), () => buf.write8(0, 1), () => buf.u8].map((f) => {
          try { f(); return 'no error'; } catch (e) { return e.constructor.name + ':' + e.code; }
        });
        console.log(JSON.stringify({ seen, errors }));`,
        { flags: FLAGS },
      );
      expect(childJson(r)).toEqual({
        seen: 1,
        errors: ['ClosedError:ECLOSED', 'ClosedError:ECLOSED', 'ClosedError:ECLOSED'],
      });
    });

    it('Mapping over a file: a view transferred before close() writes nowhere near the file', () => {
      const r = runChild(
        `
        const { Mapping } = require(${JSON.stringify(path.join(DIST_LIB, 'memory', 'mapping'))});
        const fd = addon.open(${JSON.stringify(tmp.file)}, addon.constants.O_RDWR);
        const mapped = addon.mmap(fd, 0n, ${PAGE_SIZE}, addon.constants.PROT_READ | addon.constants.PROT_WRITE, 0);
        const m = new Mapping(mapped, 0n, ${PAGE_SIZE}, { label: 'file', regionName: 'BAR0', release() {} });
        const moved = new Uint8Array(mapped.buffer.transfer());
        m.close();
        moved.fill(0x11);
        let error = 'no error';
        try { m.read8(0); } catch (e) { error = e.constructor.name + ':' + e.code; }
        console.log(JSON.stringify({ error, seen: moved[100] }));`,
        { flags: FLAGS },
      );
      expect(childJson(r)).toEqual({ error: 'ClosedError:ECLOSED', seen: 0x11 });
      expect(fs.readFileSync(tmp.file).every((b) => b === 0xaa)).toBe(true);
    });
  });
});
