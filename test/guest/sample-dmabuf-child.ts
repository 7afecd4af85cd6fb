// Run by test/guest/sample-driver-dmabuf.test.ts as its own process: maps a WC dma-buf cookie of
// ivshmem's BAR2 through the library, then revokes the dma-buf BEHIND the library's back (the
// feature called directly, as another holder of the fd would), then touches the mapping. The
// kernel answers that access with SIGBUS: the documented limit of a revoke the library did not
// make. Prints each step, so the parent can tell where the process died.
import { encodeDmaBufRevoke, sampleDriverTables, SAMPLE_DMABUF_REVOKE_FEATURE } from '../../lib/cookie';
import { openDevice } from './env';

async function main(): Promise<void> {
  const [bdf] = process.argv.slice(2);
  const dev = await openDevice(bdf, { memattrTables: sampleDriverTables() });
  const c = dev.bar(2).cookie({ offset: 0, length: 0x1000, memattr: 'wc', route: 'dmabuf' });
  const m = c.map();
  m.write32(0, 0x5a5a0001);
  process.stdout.write(`mapped ${m.effective}\n`);
  dev.feature(SAMPLE_DMABUF_REVOKE_FEATURE).set(encodeDmaBufRevoke(c.backing.fd));
  process.stdout.write('revoked\n');
  const v = m.read32(0);
  process.stdout.write(`read ${v}\n`);
}

main().catch((e) => {
  process.stderr.write(`${(e as Error).stack}\n`);
  process.exit(1);
});
