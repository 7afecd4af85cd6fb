// Child process of the RLIMIT_MEMLOCK test (dma-limits.test.ts): started as an unprivileged user, so
// without CAP_IPC_LOCK, it lowers its own memlock limit, maps a buffer under the limit and one
// over it, and prints what happened as JSON.
import { DmaBuffer, VfioError } from '../../lib';
import { native } from '../../lib/addon/native';
import { openDevice } from './env';

async function main(): Promise<void> {
  const [bdf, limitText, sizeText] = process.argv.slice(2);
  const n = native();
  const limit = BigInt(limitText);
  const r = n.setrlimit(n.constants.RLIMIT_MEMLOCK, limit, limit);
  if (r < 0) throw new Error(`setrlimit: ${r}`);
  const out: Record<string, unknown> = { limit: (n.getrlimit(n.constants.RLIMIT_MEMLOCK) as bigint[]).map(String) };
  const dev = await openDevice(bdf);
  try {
    const small = DmaBuffer.allocate(Number(limit) / 2);
    dev.iommu.map(small);
    out.small = 'mapped';
    const big = DmaBuffer.allocate(Number(sizeText));
    try {
      dev.iommu.map(big);
      out.big = 'mapped';
    } catch (e) {
      const v = e as VfioError;
      out.big = { code: v.code, op: v.op, hint: v.hint, message: v.message };
    }
  } finally {
    dev.close();
  }
  process.stdout.write(JSON.stringify(out));
}

main().catch((e) => {
  process.stderr.write(String((e as Error).stack ?? e));
  process.exitCode = 1;
});
