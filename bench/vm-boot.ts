// Timings of the emulated host, as medians (run after `tsc`):
//   node dist/bench/vm-boot.js [--runs N] [--cold] [--kernel K]
// - warm provision: provision() with everything cached
// - cold provision (--cold): provision() into an empty cache directory (downloads ~125 MB)
// - boot: QEMU start to the command's start, from the init's console marker
// - `node -e 1`: the whole run() call, as `vfio-vm run -- node -e 1` does it
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { PassThrough } from 'stream';
import { provision, run } from '../lib/vm';

interface Args {
  runs: number;
  cold: boolean;
  kernel?: string;
}

function parseArgs(argv: string[]): Args {
  const args: Args = { runs: 5, cold: false };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--runs') args.runs = Number(argv[++i]);
    else if (argv[i] === '--cold') args.cold = true;
    else if (argv[i] === '--kernel') args.kernel = argv[++i];
    else throw new Error(`unknown argument ${argv[i]}`);
  }
  return args;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const fmt = (ms: number[]) =>
  `median ${(median(ms) / 1000).toFixed(2)} s  (n=${ms.length}, min ${(Math.min(...ms) / 1000).toFixed(2)}, max ${(Math.max(...ms) / 1000).toFixed(2)})`;

async function timed(f: () => Promise<unknown>): Promise<number> {
  const t0 = Date.now();
  await f();
  return Date.now() - t0;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const sink = () => new PassThrough().resume();
  await provision({ kernel: args.kernel }); // make sure the cache is warm first

  const warm: number[] = [];
  for (let i = 0; i < args.runs; i++) warm.push(await timed(() => provision({ kernel: args.kernel })));
  console.log(`warm provision        ${fmt(warm)}`);

  if (args.cold) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vfio-vm-bench-'));
    try {
      console.log(
        `cold provision        ${fmt([await timed(() => provision({ kernel: args.kernel, cacheDir: dir }))])}`,
      );
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }

  const boot: number[] = [];
  const total: number[] = [];
  for (let i = 0; i < args.runs; i++) {
    const t0 = Date.now();
    const r = await run({ command: ['node', '-e', '1'], kernel: args.kernel, stdout: sink(), stderr: sink() });
    total.push(Date.now() - t0);
    if (r.exitCode !== 0) throw new Error(`node -e 1 exited ${r.exitCode}`);
    if (r.timings.bootMs) boot.push(r.timings.bootMs);
  }
  console.log(`boot to command start ${fmt(boot)}`);
  console.log(`run -- node -e 1      ${fmt(total)}`);
  console.log(
    `host: ${os.cpus().length} cores, load average ${os
      .loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')}`,
  );
}

main().catch((e) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
