// NVMe 4 KiB random reads, queue depth 1 and 32: this package's driver (interrupt-driven and
// polled queues) against the kernel's nvme driver on the same emulated controller in the same
// guest run. The kernel side is bench/nvme-direct.c (O_DIRECT, Linux native AIO: fio's libaio
// pattern; fio is not in the emulated host). Rounds alternate between the drivers (the
// controller is rebound each time); each figure is the median over rounds of the IOPS ratio.
//
//   node dist/bench/nvme.js [BDF]      inside the emulated host, with the nvme module loaded
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { DmaPool } from '../lib';
import { NvmeController, NvmeQueue } from '../lib/nvme';
import { median, must } from './util';

const ROUNDS = Number(process.env.NVME_BENCH_ROUNDS ?? 5);
const SECONDS = Number(process.env.NVME_BENCH_SECONDS ?? 3);
const WARMUP_ROUNDS = 2;
/** Uncounted seconds before each measured mode, on both sides (fio's ramp_time). */
const RAMP_SECONDS = 1;
/** Bytes per read: BLOCK of bench/nvme-direct.c. */
const READ_BYTES = 4096;
const NSID = 1;

function cProgram(): string {
  const src = path.resolve(__dirname, '../../bench/nvme-direct.c');
  const bin = path.join(__dirname, 'nvme-direct');
  if (fs.existsSync(bin) && fs.statSync(bin).mtimeMs >= fs.statSync(src).mtimeMs) return bin;
  // `cc` is an alternatives link under /etc, which the emulated host does not share: try gcc too.
  for (const compiler of ['cc', 'gcc']) {
    const r = spawnSync(compiler, ['-O2', '-Wall', '-Wextra', '-o', bin, src], { stdio: 'inherit' });
    if (r.error && (r.error as NodeJS.ErrnoException).code === 'ENOENT') continue;
    if (r.status !== 0) throw new Error(`${compiler} failed on ${src}`);
    return bin;
  }
  throw new Error('no C compiler (cc or gcc) on PATH');
}

const sysDev = (bdf: string) => `/sys/bus/pci/devices/${bdf}`;
const driverOf = (bdf: string) =>
  fs.existsSync(`${sysDev(bdf)}/driver`) ? path.basename(fs.readlinkSync(`${sysDev(bdf)}/driver`)) : undefined;

function bindTo(bdf: string, driver: string): void {
  fs.writeFileSync(`${sysDev(bdf)}/driver_override`, driver);
  if (driverOf(bdf)) fs.writeFileSync(`${sysDev(bdf)}/driver/unbind`, bdf);
  fs.writeFileSync('/sys/bus/pci/drivers_probe', bdf);
  if (driverOf(bdf) !== driver) throw new Error(`${bdf} did not bind to ${driver}`);
}

/** The kernel's block device for the controller once its namespace is scanned. */
async function kernelDisk(bdf: string): Promise<string> {
  const end = Date.now() + 60000;
  while (Date.now() < end) {
    const dir = `${sysDev(bdf)}/nvme`;
    const ctrl = fs.existsSync(dir) ? fs.readdirSync(dir).find((n) => /^nvme\d+$/.test(n)) : undefined;
    const ns = ctrl && fs.readdirSync(`/sys/class/nvme/${ctrl}`).find((n) => /^nvme\d+c?\d*n1$/.test(n));
    const disk = ns && `/dev/${ns.replace(/c\d+/, '')}`;
    if (disk && fs.existsSync(disk)) return disk;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`the kernel's nvme driver did not bring ${bdf} up`);
}

/** Per command, over the last measured run of each mode: what to look at when a ratio moves. */
const costs: Record<string, string> = {};

/**
 * `qd` loops, each keeping one read in flight, for `seconds` after a ramp of RAMP_SECONDS that
 * is not counted: completions per second.
 */
async function ours(c: NvmeController, q: NvmeQueue, qd: number, seconds: number, mode?: string): Promise<number> {
  await readLoops(c, q, qd, RAMP_SECONDS);
  return readLoops(c, q, qd, seconds, mode);
}

async function readLoops(c: NvmeController, q: NvmeQueue, qd: number, seconds: number, mode?: string): Promise<number> {
  const ns = must(c.namespaces.get(NSID), `namespace ${NSID}`);
  // 4 KiB reads at 4 KiB-aligned offsets, as bench/nvme-direct.c does, whatever the block size.
  const perRead = READ_BYTES / ns.format.blockBytes;
  const slots = Math.floor(ns.size / perRead);
  // Each loop reads in place into its own DMA block, as the kernel side reads with O_DIRECT into
  // its own buffer: no copy on either side.
  using pool = DmaPool.create(c.device, { blockSize: READ_BYTES, blocks: qd });
  let running = true;
  let done = 0;
  const before = { interrupts: q.interrupts, doorbells: q.doorbells, cpu: process.cpuUsage() };
  const t0 = performance.now();
  const stop = setTimeout(() => (running = false), seconds * 1000);
  await Promise.all(
    Array.from({ length: qd }, async () => {
      const o = { queue: q, into: pool.alloc() };
      while (running) {
        await c.read(NSID, Math.floor(Math.random() * slots) * perRead, perRead, o);
        done++;
      }
    }),
  );
  clearTimeout(stop);
  const rate = done / ((performance.now() - t0) / 1000);
  if (mode) {
    const cpu = process.cpuUsage(before.cpu);
    costs[mode] =
      `${((cpu.user + cpu.system) / done).toFixed(0)} µs CPU of this process, ` +
      `${((q.interrupts - before.interrupts) / done).toFixed(2)} interrupts, ` +
      `${((q.doorbells - before.doorbells) / done).toFixed(2)} SQ doorbells`;
  }
  return rate;
}

/** The kernel side, with the same uncounted ramp before it is measured. */
function kernel(bin: string, disk: string, qd: number, seconds: number): number {
  kernelRun(bin, disk, qd, RAMP_SECONDS);
  return kernelRun(bin, disk, qd, seconds);
}

function kernelRun(bin: string, disk: string, qd: number, seconds: number): number {
  const r = spawnSync(bin, [disk, String(qd), String(seconds)], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`nvme-direct: ${r.stderr}`);
  const [n, s] = r.stdout.trim().split(' ').map(Number);
  return n / s;
}

async function main(bdf: string): Promise<void> {
  if (!fs.existsSync('/sys/bus/pci/drivers/nvme'))
    throw new Error("the kernel's nvme driver is not loaded (vfio-vm run --module nvme)");
  const bin = cProgram();
  const modes = ['irq QD1', 'poll QD1', 'irq QD32', 'poll QD32', 'kernel QD1', 'kernel QD32'] as const;
  const iops: Record<string, number[]> = Object.fromEntries(modes.map((m) => [m, []]));
  // Warm-up rounds (this driver only, not counted): V8 reaches its optimized code for the path
  // only after tens of seconds of commands across the modes, and closing a controller throws
  // some of it away again until the type feedback has seen that too. In a cold process the first
  // half-second slices of a mode ran at a quarter of the settled rate; after two rounds, a
  // reopened controller runs at the settled rate from its first slice.
  for (let round = -WARMUP_ROUNDS; round < ROUNDS; round++) {
    if (driverOf(bdf) !== 'vfio-pci') bindTo(bdf, 'vfio-pci');
    const c = await NvmeController.open(bdf, { ioQueues: 2, queueDepth: 64 });
    const counted = round >= 0;
    const measure = async (q: NvmeQueue, qd: number, mode: string) => {
      const rate = await ours(c, q, qd, SECONDS, counted ? mode : undefined);
      if (counted) iops[mode].push(rate);
    };
    try {
      const irq = await c.createQueue();
      const poll = await c.createQueue({ polled: true });
      await measure(irq, 1, 'irq QD1');
      await measure(poll, 1, 'poll QD1');
      await measure(irq, 32, 'irq QD32');
      await measure(poll, 32, 'poll QD32');
    } finally {
      await c.close();
    }
    if (!counted) continue;
    bindTo(bdf, 'nvme');
    const disk = await kernelDisk(bdf);
    iops['kernel QD1'].push(kernel(bin, disk, 1, SECONDS));
    iops['kernel QD32'].push(kernel(bin, disk, 32, SECONDS));
    bindTo(bdf, 'vfio-pci');
  }
  const ratio = (a: string, b: string) => median(iops[a].map((x, i) => x / iops[b][i]));
  const range = (xs: number[]) => `${Math.round(Math.min(...xs))}–${Math.round(Math.max(...xs))}`;
  console.log(
    `NVMe 4 KiB random reads on ${bdf}, ${ROUNDS} rounds of ${SECONDS} s per mode (IOPS: min–max over rounds)`,
  );
  for (const m of modes)
    console.log(`  ${m.padEnd(12)} ${range(iops[m]).padStart(13)} IOPS (median ${Math.round(median(iops[m]))})`);
  for (const [m, cost] of Object.entries(costs)) console.log(`  ${m.padEnd(12)} per command: ${cost}`);
  for (const qd of ['QD1', 'QD32']) {
    for (const mode of ['irq', 'poll']) {
      const rs = iops[`${mode} ${qd}`].map((x, i) => x / iops[`kernel ${qd}`][i]);
      console.log(
        `  this driver (${mode}) / kernel, ${qd}: ${ratio(`${mode} ${qd}`, `kernel ${qd}`).toFixed(2)}x (rounds ${rs.map((r) => r.toFixed(2)).join(', ')})`,
      );
    }
  }
}

main(process.argv[2] ?? process.env.VFIO_VM_NVME ?? '').catch((e: unknown) => {
  console.error(e instanceof Error ? e.stack : e);
  process.exit(1);
});
