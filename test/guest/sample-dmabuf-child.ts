// Run by test/guest/sample-driver-dmabuf.test.ts as its own process (a SIGBUS would kill the
// test runner): maps a WC dma-buf cookie of ivshmem's BAR2 through the library, then revokes the
// dma-buf with the raw feature call (Device.feature(N).set, not MmapCookie.revoke()), then tries
// every accessor of the mapping. Each must throw the typed revoke error: the device sees the
// revoke of a dma-buf it exported and takes the cookie's mappings down first. Prints each step,
// so the parent can tell where the process died.
import { encodeDmaBufRevoke, sampleDriverTables, SAMPLE_DMABUF_REVOKE_FEATURE } from '../../lib/cookie';
import { openDevice } from './env';

async function main(): Promise<void> {
  const [bdf] = process.argv.slice(2);
  const dev = await openDevice(bdf, { memattrTables: sampleDriverTables() });
  const c = dev.bar(2).cookie({ offset: 0, length: 0x1000, memattr: 'wc', route: 'dmabuf' });
  const m = c.map();
  m.write32(0, 0x5a5a0001);
  m.flush();
  process.stdout.write(`mapped ${m.effective}\n`);
  dev.feature(SAMPLE_DMABUF_REVOKE_FEATURE).set(encodeDmaBufRevoke(c.backing.fd), { unsafe: true });
  process.stdout.write('revoked\n');
  const accessors: [string, () => unknown][] = [
    ['read32', () => m.read32(0)],
    ['write32', () => m.write32(0, 1)],
    ['read64', () => m.read64(8)],
    ['copyIn', () => m.copyIn(0, new Uint8Array(16))],
    ['flush', () => m.flush()],
    ['map', () => c.map()],
  ];
  for (const [name, access] of accessors) {
    try {
      access();
      process.stdout.write(`${name} returned\n`);
    } catch (e) {
      const err = e as Error & { code?: string };
      process.stdout.write(`${name} ${err.name} ${err.code}\n`);
    }
  }
  process.stdout.write(`cookie ${c.revoked ?? 'live'}\n`);
  try {
    dev.bar(2).mapRange(0n, 0x1000, c.backing.fd, 0n).close();
    process.stdout.write('raw mmap returned\n');
  } catch (e) {
    process.stdout.write(`raw mmap ${(e as { code?: string }).code}\n`);
  }
  c.close();
  dev.close();
}

main().catch((e) => {
  process.stderr.write(`${(e as Error).stack}\n`);
  process.exit(1);
});
