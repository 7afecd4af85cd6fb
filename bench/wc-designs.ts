// The three write-combining designs of the sample driver (docs/sample-driver.md), measured on
// the same device in one run: what a mapping costs through each, raw (the kernel's part) and
// through the library (PAT and sysfs reads included). Inside the emulated host, ivshmem bound to
// the sample driver:
//
//   vfio-vm run --kernel custom --sample-driver ivshmem -- node dist/bench/wc-designs.js BDF
import { Device, cookie } from '../lib';
import { native } from '../lib/addon/native';
import { median } from './util';

const ROUNDS = 5;
const ITER = 200;
const LEN = 0x10000;

/** Median microseconds per call of f over ROUNDS rounds of ITER calls. */
function time(f: () => void): number {
  const rounds: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < ITER; i++) f();
    rounds.push(Number(process.hrtime.bigint() - t0) / 1000 / ITER);
  }
  return median(rounds);
}

async function main(): Promise<void> {
  const bdf = process.argv[2];
  const n = native();
  const { PROT_READ, PROT_WRITE } = n.constants;
  const dev = await Device.open(bdf, { memattrTables: cookie.sampleDriverTables() });
  const fd = dev.fd('bench');
  const bar2 = dev.bar(2);
  const wcRegion = dev.regions.find((r) => r.index >= 9)!;
  const mmapUnmap = (file: number, offset: bigint) => {
    const m = n.mmap(file, offset, LEN, PROT_READ | PROT_WRITE, 0);
    if (typeof m === 'number') throw new Error(`mmap: ${m}`);
    n.munmap(m.handle);
  };
  const cookieFeature = dev.feature(cookie.SAMPLE_COOKIE_FEATURE);
  const memattr = dev.feature(cookie.SAMPLE_DMABUF_MEMATTR_FEATURE);
  const rows: Array<[string, number]> = [
    ['raw mmap + munmap of plain BAR2', time(() => mmapUnmap(fd, bar2.offset))],
    ['design 1, raw: mmap + munmap of the WC region', time(() => mmapUnmap(fd, wcRegion.offset))],
    [
      'design 2, raw: cookie GET + mmap + munmap + SET',
      time(() => {
        const req = cookie.encodeSampleCookie({
          bar: 2,
          memattr: cookie.SAMPLE_MEMATTR_WC,
          offset: 0n,
          length: BigInt(LEN),
        });
        const off = cookie.decodeSampleCookieOffset(cookieFeature.get(req, { unsafe: true }));
        mmapUnmap(fd, off);
        cookieFeature.set(cookie.SAMPLE_COOKIE_FEATURE_TABLE.encodeRelease(off), { unsafe: true });
      }),
    ],
    [
      'design 3, raw: export + MEMATTR SET + mmap + munmap + close',
      time(() => {
        const buf = bar2.exportDmaBuf([{ offset: 0, length: LEN }]);
        memattr.set(cookie.encodeDmaBufMemattr(buf.fd, cookie.SAMPLE_MEMATTR_WC), { unsafe: true });
        mmapUnmap(buf.fd, 0n);
        buf.close();
      }),
    ],
  ];
  for (const route of ['wc-region', 'cookie-feature', 'dmabuf']) {
    rows.push([
      `library cookie() + map() + close(), ${route}`,
      time(() => {
        const c = bar2.cookie({ offset: 0, length: LEN, memattr: 'wc', route });
        c.map();
        c.close();
      }),
    ]);
  }
  dev.close();
  for (const [what, us] of rows) process.stdout.write(`${what.padEnd(64)} ${us.toFixed(0)} µs\n`);
}

main().catch((e) => {
  process.stderr.write(`${(e as Error).stack}\n`);
  process.exit(1);
});
