// The three write-combining designs of the sample driver (docs/sample-driver.md), measured on
// the same device in one run. Per design, at the kernel's level (raw calls, no library checks):
// - setup: what makes a ready mapping (design 1: mmap of the WC region; design 2: cookie GET +
//   mmap; design 3: dma-buf export + MEMATTR SET + mmap), against a plain BAR2 mmap;
// - first access: one store to each page of a fresh mapping (design 3 populates its page-table
//   entries in a fault handler; designs 1 and 2 at mmap), against the same stores repeated;
// - write throughput of WC against the same design's uncached mapping (design 1 has no UC
//   variant of its region: plain BAR2 stands in).
// Then the library's cost per cookie (cookie() + map() + close()) for each route. Every figure is
// a ratio per round, reported as the median and the spread (lowest–highest) over the rounds.
// Inside the emulated host, ivshmem bound to the sample driver:
//
//   vfio-vm run --kernel custom --sample-driver ivshmem --smp 1 -- node dist/bench/wc-designs.js BDF
import { Device, cookie } from '../lib';
import { Mapped, native } from '../lib/addon/native';
import { median, must } from './util';

const ROUNDS = 9;
const ITER = 50;
const LEN = 0x10000;
const PAGES = LEN / 4096;
const WRITE_PASSES = 16;

type Design = 'plain' | 'design 1' | 'design 2' | 'design 3';
/** A ready mapping of BAR2's first LEN bytes and how to take it down (munmap + release). */
interface Ready {
  readonly mem: Mapped;
  done(): void;
}

const ns = (f: () => void): number => {
  const t0 = process.hrtime.bigint();
  f();
  return Number(process.hrtime.bigint() - t0);
};

function summary(xs: readonly number[]): string {
  const s = [...xs].sort((a, b) => a - b);
  const digits = (x: number) => (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2));
  return `${digits(median(s))} (${digits(s[0])}–${digits(s[s.length - 1])})`;
}

async function main(): Promise<void> {
  const bdf = process.argv[2];
  const n = native();
  const { PROT_READ, PROT_WRITE } = n.constants;
  const dev = await Device.open(bdf, { memattrTables: cookie.sampleDriverTables() });
  const fd = dev.fd('bench');
  const bar2 = dev.bar(2);
  const wcRegion = dev.regions.find((r) => r.index >= 9);
  if (!wcRegion) throw new Error(`${bdf} has no WC region: is it bound to the sample driver?`);
  const cookieFeature = dev.feature(cookie.SAMPLE_COOKIE_FEATURE);
  const memattrFeature = dev.feature(cookie.SAMPLE_DMABUF_MEMATTR_FEATURE);
  const mmap = (file: number, offset: bigint): Mapped => {
    const m = n.mmap(file, offset, LEN, PROT_READ | PROT_WRITE, 0);
    if (typeof m === 'number') throw new Error(`mmap: ${m}`);
    return m;
  };
  const open = (d: Design, wc: boolean): Ready => {
    const attr = wc ? cookie.SAMPLE_MEMATTR_WC : cookie.SAMPLE_MEMATTR_NC;
    if (d === 'plain' || (d === 'design 1' && !wc)) {
      const mem = mmap(fd, bar2.offset);
      return { mem, done: () => n.munmap(mem.handle) };
    }
    if (d === 'design 1') {
      const mem = mmap(fd, wcRegion.offset);
      return { mem, done: () => n.munmap(mem.handle) };
    }
    if (d === 'design 2') {
      const req = cookie.encodeSampleCookie({ bar: 2, memattr: attr, offset: 0n, length: BigInt(LEN) });
      const off = cookie.decodeSampleCookieOffset(cookieFeature.get(req, { unsafe: true }));
      const mem = mmap(fd, off);
      return {
        mem,
        done: () => {
          n.munmap(mem.handle);
          cookieFeature.set(cookie.SAMPLE_COOKIE_FEATURE_TABLE.encodeRelease(off), { unsafe: true });
        },
      };
    }
    const buf = bar2.exportDmaBuf([{ offset: 0, length: LEN }]);
    if (wc) memattrFeature.set(cookie.encodeDmaBufMemattr(buf.fd, attr), { unsafe: true });
    const mem = mmap(buf.fd, 0n);
    return {
      mem,
      done: () => {
        n.munmap(mem.handle);
        buf.close();
      },
    };
  };
  const designs: Design[] = ['design 1', 'design 2', 'design 3'];
  const touchPages = (v: Uint32Array) => {
    for (let p = 0; p < PAGES; p++) v[p * 1024] = p;
  };
  const writeAll = (v: Uint32Array) => {
    for (let pass = 0; pass < WRITE_PASSES; pass++) for (let i = 0; i < v.length; i++) v[i] = i ^ pass;
    n.store_fence();
  };

  const setup = new Map<Design, number[]>();
  const first = new Map<Design, number[]>();
  const wcVsUc = new Map<Design, number[]>();
  const mbps = new Map<string, number[]>();
  const push = <K>(m: Map<K, number[]>, k: K, x: number) => m.set(k, [...(m.get(k) ?? []), x]);
  for (let round = 0; round < ROUNDS; round++) {
    // Setup: ITER mappings made (timed) and taken down (not timed), per design and plain.
    const setupNs = (d: Design) => {
      let t = 0;
      for (let i = 0; i < ITER; i++) {
        let r: Ready | undefined;
        t += ns(() => {
          r = open(d, true);
        });
        must(r, 'the mapping').done();
      }
      return t;
    };
    const plainSetup = setupNs('plain');
    for (const d of designs) push(setup, d, setupNs(d) / plainSetup);
    // First access: one store per page of a fresh mapping, against the same stores once present.
    for (const d of designs) {
      let cold = 0;
      let warm = 0;
      for (let i = 0; i < ITER; i++) {
        const r = open(d, true);
        const v = new Uint32Array(r.mem.buffer, 0, LEN / 4);
        cold += ns(() => touchPages(v));
        warm += ns(() => touchPages(v));
        r.done();
      }
      push(first, d, cold / warm);
    }
    // Write throughput: WC against UC of the same design.
    for (const d of designs) {
      const rate = (wc: boolean) => {
        const r = open(d, wc);
        const v = new Uint32Array(r.mem.buffer, 0, LEN / 4);
        touchPages(v);
        const t = ns(() => writeAll(v));
        r.done();
        const mb = (LEN * WRITE_PASSES) / (t / 1e9) / 1e6;
        push(mbps, `${d} ${wc ? 'WC' : 'UC'}`, mb);
        return mb;
      };
      const uc = rate(false);
      push(wcVsUc, d, rate(true) / uc);
    }
  }

  const lib = new Map<string, number[]>();
  for (let round = 0; round < ROUNDS; round++) {
    for (const route of ['wc-region', 'cookie-feature', 'dmabuf']) {
      let t = 0;
      for (let i = 0; i < ITER / 5; i++) {
        t += ns(() => {
          const c = bar2.cookie({ offset: 0, length: LEN, memattr: 'wc', route });
          c.map().write32(0, i);
          c.close();
        });
      }
      push(lib, route, t / (ITER / 5) / 1000);
    }
  }
  dev.close();

  const out = (line: string) => process.stdout.write(`${line}\n`);
  out(
    `${ROUNDS} rounds; per round ${ITER} mappings of ${LEN / 1024} KiB per figure; median (lowest–highest) of the per-round ratios`,
  );
  out('');
  out('| | setup ÷ plain BAR2 mmap | first store per page ÷ later store | write throughput WC ÷ UC |');
  out('| --- | --- | --- | --- |');
  for (const d of designs)
    out(
      `| ${d} | ${summary(must(setup.get(d), d))} | ${summary(must(first.get(d), d))} | ${summary(must(wcVsUc.get(d), d))} |`,
    );
  out('');
  out('| write throughput, MB/s | median (lowest–highest) |');
  out('| --- | --- |');
  for (const [k, xs] of mbps) out(`| ${k} | ${summary(xs)} |`);
  out('');
  out('| library cookie() + map() + one store + close(), µs | median (lowest–highest) |');
  out('| --- | --- |');
  for (const [k, xs] of lib) out(`| ${k} | ${summary(xs)} |`);
}

main().catch((e) => {
  process.stderr.write(`${(e as Error).stack}\n`);
  process.exit(1);
});
