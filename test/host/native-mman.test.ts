// The addon's memory: mmap of a file through an external ArrayBuffer, munmap's detach-then-unmap,
// aligned placement, memfd DMA buffers, and the lifetime rules the finalizers follow. Addresses
// never reach JavaScript, so placement is checked in /proc/self/maps.
import * as fs from 'fs';
import { Mapped, native } from '../../lib/addon/native';
import { E, mappingsOf, runChild, tempFile, thrown } from './native-util';

const n = native();
const { O_RDWR, O_CLOEXEC, PROT_READ, PROT_WRITE, PAGE_SIZE } = n.constants;
const RW = PROT_READ | PROT_WRITE;
const TWO_MIB = 2 * 1024 * 1024;

function mapped(r: Mapped | number): Mapped {
  if (typeof r === 'number') throw new Error(`expected a mapping, got ${r}`);
  return r;
}

describe('mmap of a temp file', () => {
  let tmp: ReturnType<typeof tempFile>;
  let fd: number;
  beforeEach(() => {
    tmp = tempFile(new Uint8Array(4 * PAGE_SIZE));
    fd = n.open(tmp.file, O_RDWR | O_CLOEXEC);
  });
  afterEach(() => {
    n.close(fd);
    tmp.remove();
  });

  it('writes through a Uint32Array view reach the file (read back with pread)', () => {
    const m = mapped(n.mmap(fd, 0n, 2 * PAGE_SIZE, RW, 0));
    expect(m.buffer.byteLength).toBe(2 * PAGE_SIZE);
    const u32 = new Uint32Array(m.buffer);
    u32[1] = 0xdeadbeef;
    u32[PAGE_SIZE / 4] = 0x01020304;
    const back = new Uint8Array(4);
    expect(n.pread(fd, back, 4n)).toBe(4);
    expect(Array.from(back)).toEqual([0xef, 0xbe, 0xad, 0xde]);
    expect(n.pread(fd, back, BigInt(PAGE_SIZE))).toBe(4);
    expect(Array.from(back)).toEqual([4, 3, 2, 1]);
    expect(n.munmap(m.handle)).toBe(0);
  });

  it('maps at a file offset: the view starts there', () => {
    expect(n.pwrite(fd, Uint8Array.of(0x5a), BigInt(PAGE_SIZE))).toBe(1);
    const m = mapped(n.mmap(fd, BigInt(PAGE_SIZE), PAGE_SIZE, PROT_READ, 0));
    expect(new Uint8Array(m.buffer)[0]).toBe(0x5a);
    expect(n.munmap(m.handle)).toBe(0);
  });

  it('munmap detaches the buffer, unmaps, and a second munmap returns 0', () => {
    const m = mapped(n.mmap(fd, 0n, PAGE_SIZE, RW, 0));
    const view = new Uint32Array(m.buffer);
    expect(mappingsOf(tmp.file)).toHaveLength(1);
    expect(n.munmap(m.handle)).toBe(0);
    expect(m.buffer.byteLength).toBe(0);
    expect(view.length).toBe(0);
    expect(view[0]).toBeUndefined();
    expect(mappingsOf(tmp.file)).toHaveLength(0);
    expect(n.munmap(m.handle)).toBe(0);
    expect(n.dma_free(m.handle)).toBe(0);
  });

  it('align = 2 MiB places a working mapping on a 2 MiB boundary and returns the rest', () => {
    const m = mapped(n.mmap(fd, 0n, 4 * PAGE_SIZE, RW, TWO_MIB));
    const maps = mappingsOf(tmp.file);
    expect(maps).toHaveLength(1);
    expect(maps[0].start % BigInt(TWO_MIB)).toBe(0n);
    expect(maps[0].length).toBe(BigInt(4 * PAGE_SIZE)); // the reservation around it is gone
    new Uint8Array(m.buffer)[3 * PAGE_SIZE] = 0x77;
    const back = new Uint8Array(1);
    expect(n.pread(fd, back, BigInt(3 * PAGE_SIZE))).toBe(1);
    expect(back[0]).toBe(0x77);
    expect(n.munmap(m.handle)).toBe(0);
  });

  it('a DMA buffer id serves MAP_DMA only within its buffer (-EINVAL outside, -ENOTTY past the checks)', () => {
    const m = mapped(n.dma_alloc(PAGE_SIZE, false));
    const size = BigInt(PAGE_SIZE);
    expect(n.VFIO_IOMMU_MAP_DMA(fd, m.id, 0n, size, 0n, 3)).toBe(-E.ENOTTY); // a file, not a container
    expect(n.VFIO_IOMMU_MAP_DMA(fd, m.id, 1n, size, 0n, 3)).toBe(-E.EINVAL);
    expect(n.VFIO_IOMMU_MAP_DMA(fd, m.id, size, 1n, 0n, 3)).toBe(-E.EINVAL);
    expect(n.VFIO_IOMMU_MAP_DMA(fd, m.id, 2n ** 64n - 1n, 2n, 0n, 3)).toBe(-E.EINVAL);
    expect(n.dma_free(m.handle)).toBe(0);
    expect(n.VFIO_IOMMU_MAP_DMA(fd, m.id, 0n, size, 0n, 3)).toBe(-E.EBADF); // unmapped: the id names nothing
  });

  it("a device mapping's id is no DMA buffer: the map ioctls of both backends refuse it (-EBADF)", () => {
    const m = mapped(n.mmap(fd, 0n, PAGE_SIZE, RW, 0));
    const size = BigInt(PAGE_SIZE);
    expect(n.VFIO_IOMMU_MAP_DMA(fd, m.id, 0n, size, 0n, 3)).toBe(-E.EBADF);
    expect(n.IOMMU_IOAS_MAP(fd, 1, m.id, 0n, size, 0n, 0)).toBe(-E.EBADF);
    expect(n.munmap(m.handle)).toBe(0);
  });

  it("ids are not sequential, and another addon instance's ids name nothing here", () => {
    // A fresh instance (a child) allocates three: the steps between their ids differ.
    const ids = runChild('console.log(JSON.stringify([1, 2, 3, 4].map(() => addon.dma_alloc(4096, false).id)))');
    const [a, b, c, d] = JSON.parse(ids.stdout) as number[];
    expect(new Set([b - a, c - b, d - c]).size).toBe(3);
    // A worker thread loads its own instance: its first buffer's id, tried here, where this
    // instance's first buffer is live too.
    const r = runChild(`
      const mine = addon.dma_alloc(4096, false);
      const { Worker } = require('worker_threads');
      const w = new Worker('const { parentPort } = require("worker_threads"); const a = (' + loadAddon.toString() + ')(); parentPort.postMessage(a.dma_alloc(4096, false).id); setTimeout(() => {}, 500);', { eval: true });
      w.once('message', (id) => {
        const nul = addon.open('/dev/null', 0);
        const frame = new Float64Array(addon.frame, 0, 9);
        frame.set([nul, id, 0, 4096, 0, 3, 0, 0]);
        addon.VFIO_IOMMU_MAP_DMA();
        console.log(frame[8]);
        w.terminate();
      });`);
    expect(r.stderr).toBe('');
    expect(Number(r.stdout.trim())).toBe(-E.EBADF);
  });

  it('refuses lengths, protections and alignments it cannot honour', () => {
    expect(n.mmap(fd, 0n, 0, RW, 0)).toBe(-E.EINVAL);
    expect(n.mmap(fd, 0n, 2 ** 32 + PAGE_SIZE, RW, 0)).toBe(-E.EINVAL); // over an external ArrayBuffer's cap
    expect(n.mmap(fd, 0n, PAGE_SIZE, 0, 0)).toBe(-E.EINVAL); // PROT_NONE: any view would fault
    expect(n.mmap(fd, 0n, PAGE_SIZE, RW | 4 /* PROT_EXEC */, 0)).toBe(-E.EINVAL);
    expect(n.mmap(fd, 0n, PAGE_SIZE, RW, 3 * PAGE_SIZE)).toBe(-E.EINVAL);
    expect(n.mmap(fd, 0n, PAGE_SIZE, RW, 2 ** 31)).toBe(-E.EINVAL);
    expect(n.mmap(-1, 0n, PAGE_SIZE, RW, 0)).toBe(-E.EINVAL);
    expect(n.mmap(1 << 30, 0n, PAGE_SIZE, RW, 0)).toBe(-E.EBADF);
    expect(n.mmap(fd, 1n, PAGE_SIZE, RW, 0)).toBe(-E.EINVAL); // the kernel's: unaligned offset
    expect(mappingsOf(tmp.file)).toHaveLength(0);
  });

  it('handles from elsewhere are a TypeError, not a crash', () => {
    expect(thrown(() => n.munmap({} as never)).message).toMatch(/handle returned by this addon/);
    const poll = n.poll_start(n.eventfd(0, 0), () => undefined);
    if (typeof poll === 'number') throw new Error(`poll_start: ${poll}`);
    expect(thrown(() => n.munmap(poll as never)).name).toBe('TypeError');
    n.poll_stop(poll);
  });
});

describe('dma_alloc', () => {
  it('gives zeroed, shared (fork-safe) memfd memory of the asked length', () => {
    const length = 3 * PAGE_SIZE;
    const before = mappingsOf('/memfd:vfio-dma').length;
    const m = mapped(n.dma_alloc(length, false));
    expect(m.buffer.byteLength).toBe(length);
    expect(new Uint8Array(m.buffer).every((b) => b === 0)).toBe(true);
    const maps = mappingsOf('/memfd:vfio-dma');
    expect(maps).toHaveLength(before + 1);
    const mine = maps.find((x) => x.length === BigInt(length));
    expect(mine?.perms).toBe('rw-s');
    expect(Number((mine?.start ?? 1n) % BigInt(PAGE_SIZE))).toBe(0);
    new Float64Array(m.buffer)[10] = 1.5;
    expect(new Float64Array(m.buffer)[10]).toBe(1.5);
    expect(n.dma_free(m.handle)).toBe(0);
    expect(m.buffer.byteLength).toBe(0);
    expect(mappingsOf('/memfd:vfio-dma')).toHaveLength(before);
  });

  it('refuses zero and over-4-GiB lengths', () => {
    expect(n.dma_alloc(0, false)).toBe(-E.EINVAL);
    expect(n.dma_alloc(2 ** 32 + 1, false)).toBe(-E.EINVAL);
    expect(thrown(() => n.dma_alloc(PAGE_SIZE, 1 as unknown as boolean)).message).toMatch(/must be a boolean/);
  });

  it("hugepages: a length that is not a whole huge page is -EINVAL; a shortage is the kernel's ENOSPC/ENOMEM", () => {
    expect(n.dma_alloc(PAGE_SIZE, true)).toBe(-E.EINVAL);
    const free = Number(/HugePages_Free:\s+(\d+)/.exec(fs.readFileSync('/proc/meminfo', 'utf8'))?.[1] ?? 0);
    const r = n.dma_alloc(TWO_MIB, true);
    if (free === 0) {
      expect([-E.ENOSPC, -E.ENOMEM]).toContain(r); // fallocate says ENOSPC, an mmap reservation ENOMEM
    } else {
      const m = mapped(r);
      expect(m.buffer.byteLength).toBe(TWO_MIB);
      expect(n.dma_free(m.handle)).toBe(0);
    }
  });
});

describe('store_fence', () => {
  it('is a plain call with no result', () => {
    expect(n.store_fence()).toBeUndefined();
  });
});

describe('lifetime under garbage collection (child process with --expose-gc)', () => {
  // Lets finalizers run: they are queued by GC and run on a later turn of the event loop.
  const settle =
    'async function settle() { for (let i = 0; i < 10; i++) { gc(); await new Promise((r) => setImmediate(r)); } }\n' +
    'const count = () => require("fs").readFileSync("/proc/self/maps", "utf8").split("\\n").filter((l) => l.includes("/memfd:vfio-dma")).length;\n';

  it('the memory stays mapped while the buffer lives, even with the handle gone; unmapped once both are gone', () => {
    const r = runChild(
      settle +
        `
      (async () => {
        let buffer = addon.dma_alloc(65536, false).buffer;   // the handle is dropped at once
        await settle();
        new Uint32Array(buffer)[100] = 42;
        const kept = count();
        const value = new Uint32Array(buffer)[100];
        buffer = null;
        await settle();
        console.log(JSON.stringify({ kept, value, after: count() }));
      })();`,
      { flags: ['--expose-gc'] },
    );
    expect(r.stderr).toBe('');
    expect(JSON.parse(r.stdout)).toEqual({ kept: 1, value: 42, after: 0 });
  });

  it('a handle alone keeps the memory mapped (for the IOMMU) until munmap', () => {
    const r = runChild(
      settle +
        `
      (async () => {
        const { handle } = addon.dma_alloc(65536, false);    // the buffer is dropped at once
        await settle();
        const kept = count();
        const first = addon.munmap(handle), second = addon.munmap(handle);
        console.log(JSON.stringify({ kept, first, second, after: count() }));
      })();`,
      { flags: ['--expose-gc'] },
    );
    expect(r.stderr).toBe('');
    expect(JSON.parse(r.stdout)).toEqual({ kept: 1, first: 0, second: 0, after: 0 });
  });

  it('exits cleanly with live mappings at exit', () => {
    const r = runChild(
      'globalThis.keep = [addon.dma_alloc(8192, false), addon.dma_alloc(4096, false)]; console.log("ok")',
    );
    expect(r.status).toBe(0);
    expect(r.stdout.trim()).toBe('ok');
  });

  // The raw framed MAP_DMA on /dev/null: -ENOTTY once the checks pass, -EBADF for a dead id.
  const mapDma =
    'const frame = new Float64Array(addon.frame, 0, 9), nul = addon.open("/dev/null", 0);\n' +
    'function mapDma(id) { frame.set([nul, id, 0, 4096, 0, 3, 0, 0]); addon.VFIO_IOMMU_MAP_DMA(); return frame[8]; }\n';

  it('a mapping collected by the garbage collector takes its id with it', () => {
    const r = runChild(
      settle +
        mapDma +
        `
      (async () => {
        let m = addon.dma_alloc(4096, false);
        const id = m.id, live = mapDma(id);
        m = null;
        await settle();
        console.log(JSON.stringify({ live, dead: mapDma(id), maps: count() }));
      })();`,
      { flags: ['--expose-gc'] },
    );
    expect(r.stderr).toBe('');
    expect(JSON.parse(r.stdout)).toEqual({ live: -E.ENOTTY, dead: -E.EBADF, maps: 0 });
  });

  it('each worker thread has its own table of ids, and exits cleanly with mappings alive, freed or collected', () => {
    const r = runChild(
      mapDma +
        `
      const { Worker } = require('worker_threads');
      addon.dma_free(addon.dma_alloc(4096, false).handle);  // our first slot moves to its second generation
      const mine = addon.dma_alloc(4096, false);
      const w = new Worker(\`
        const addon = (\${loadAddon.toString()})();
        globalThis.keep = addon.dma_alloc(8192, false);     // the worker's first slot, first generation
        addon.dma_free(addon.dma_alloc(4096, false).handle);
        addon.dma_alloc(4096, false);                        // left to the collector
        require('worker_threads').parentPort.postMessage(globalThis.keep.id);\`, { eval: true });
      w.on('message', (theirs) => {
        console.log(theirs !== mine.id, mapDma(theirs), mapDma(mine.id));
        w.terminate();
      });
      w.on('exit', () => console.log('worker exit'));`,
      { timeoutMs: 15000 },
    );
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout.trim().split('\n')).toEqual([`true ${-E.EBADF} ${-E.ENOTTY}`, 'worker exit']);
  });
});
