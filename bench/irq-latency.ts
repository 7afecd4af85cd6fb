// One-way wakeup latency from an eventfd write to the 'interrupt' listener of an Irq, against a
// plain C epoll_wait + read loop, in the same run with the same writer (bench/irq-epoll.c).
// The writer is another process that, per go-ahead, waits until the reader sleeps, then adds its
// CLOCK_MONOTONIC time to the eventfd: the reader reads that time back as the counter.
//
// Inside `vfio-vm run` the eventfd is a real MSI-X vector of nvme (the kernel holds it too);
// elsewhere the same Irq path runs over an eventfd no kernel knows about.
import { ChildProcess, spawn, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { Device, Irq } from '../lib';
import { Tap } from '../lib/irq';
import { IrqControl } from '../lib/irq-index';
import { DeviceIrqInfo } from '../lib/device';
import { median, ratioLine } from './util';

// Many short rounds in rotating order rather than a few long ones: the machine's speed drifts
// over seconds, and a long round of one variant would catch a drift the others miss.
const ROUNDS = 9;
const N = Number(process.env.IRQ_BENCH_SAMPLES ?? 330);
// Long enough for the reader to be back asleep in epoll_wait even under software emulation, so
// both sides measure a wakeup and never the tail of the previous event's processing.
const GAP_US = 2000;
const WARMUP = 30;

/** Builds the C side next to this script when missing or older than its source. */
function cProgram(): string {
  const src = path.resolve(__dirname, '../../bench/irq-epoll.c');
  const bin = path.join(__dirname, 'irq-epoll');
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

function cRound(bin: string): number[] {
  const r = spawnSync(bin, ['baseline', String(N), String(GAP_US)], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`irq-epoll baseline: ${r.stderr}`);
  return r.stdout.trim().split('\n').map(Number).slice(WARMUP);
}

/** Where a round's wakeups arrive: a way to subscribe to the counter, and the eventfd. */
interface Reader {
  fd: number;
  listen(cb: (t0: number) => void): void;
  unlisten(): void;
}

/** One round: the callback measures, then gives the writer its next go-ahead. */
function jsRound(bin: string, r: Reader): Promise<number[]> {
  return new Promise((resolve, reject) => {
    const lat: number[] = [];
    const writer: ChildProcess = spawn(bin, ['writer', String(N), String(GAP_US)], { stdio: ['pipe', 'inherit', 'inherit', r.fd] });
    r.listen((t0: number): void => {
      lat.push(Number(process.hrtime.bigint()) - t0);
      if (lat.length < N) writer.stdin!.write('x');
      else writer.stdin!.end();
    });
    writer.on('error', reject);
    writer.on('exit', (code) => {
      r.unlisten();
      if (code !== 0 || lat.length !== N) reject(new Error(`writer exited with ${code} after ${lat.length} samples`));
      else resolve(lat.slice(WARMUP));
    });
    writer.stdin!.write('x');
  });
}

/** Through the Irq and its EventEmitter: what a driver sees. */
function irqReader(irq: Irq, fd: number): Reader {
  let cb: ((t0: number) => void) | undefined;
  return { fd, listen: (f) => irq.on('interrupt', (cb = f)), unlisten: () => { if (cb) irq.off('interrupt', cb); } };
}

/** The addon's poll callback alone, on an eventfd of its own: the floor under the Irq layer. */
function tapReader(): Reader & { close(): void } {
  let cb: (t0: number) => void = () => undefined;
  const tap = Tap.open(0, (t0) => cb(t0), 'bench');
  tap.ref(true);
  return { fd: tap.fd, listen: (f) => { cb = f; }, unlisten: () => { cb = () => undefined; }, close: () => tap.close() };
}

/** An Irq on a real device's MSI-X vector 0, or on a kernel-less eventfd. */
async function openIrq(): Promise<{ irq: Irq; fd: number; what: string; close(): void }> {
  const bdf = process.env.VFIO_VM_NVME;
  if (bdf) {
    const dev = await Device.open(bdf);
    dev.config.busMaster = true;
    const irq = dev.irq('MSIX').enable({ vectors: [0] });
    return { irq, fd: irq.fdOf(0)!, what: `nvme ${bdf} MSI-X vector 0`, close: () => dev.close() };
  }
  const info: DeviceIrqInfo = {
    argsz: 16, rawFlags: 1, index: 0, count: 1, name: 'IRQ0',
    flags: { eventfd: true, maskable: false, automasked: false, noresize: true },
  };
  const control = new IrqControl({
    device: 'loopback', pci: false, irqs: [info], live: () => undefined, setIrqs: () => 0,
    openTap: (v, cb) => Tap.open(v, cb, 'loopback'), own: () => undefined, disown: () => undefined,
    allowIntx: () => undefined, busMaster: () => true, emitReleaseRequest: () => undefined,
  });
  const irq = control.index(0).enable();
  return { irq, fd: irq.fdOf(0)!, what: 'an eventfd without a device', close: () => irq.disable() };
}

async function main(): Promise<void> {
  const bin = cProgram();
  const { irq, fd, what, close } = await openIrq();
  const tap = tapReader();
  const variants: Record<string, () => Promise<number[]>> = {
    c: async () => cRound(bin),
    js: () => jsRound(bin, irqReader(irq, fd)),
    raw: () => jsRound(bin, tap),
  };
  const names = Object.keys(variants);
  const all: Record<string, number[]> = { c: [], js: [], raw: [] };
  const ratios: Record<string, number[]> = { js: [], raw: [] };
  for (let k = 0; k < ROUNDS; k++) {
    const round: Record<string, number> = {};
    for (let j = 0; j < names.length; j++) {
      const name = names[(j + k) % names.length];
      const lat = await variants[name]();
      all[name].push(...lat);
      round[name] = median(lat);
    }
    ratios.js.push(round.js / round.c);
    ratios.raw.push(round.raw / round.c);
  }
  tap.close();
  close();
  const us = (ns: number): string => `${(ns / 1000).toFixed(1)} µs`;
  console.log(`IRQ eventfd write → callback (${what}), ${ROUNDS} rounds x ${N - WARMUP} wakeups each, medians:`);
  console.log(`  C epoll_wait + read         ${us(median(all.c))}`);
  console.log(`  addon poll callback alone   ${us(median(all.raw))}`);
  console.log(`  Irq 'interrupt' listener    ${us(median(all.js))}`);
  console.log(ratioLine('  irq latency Node/C', median(ratios.js)));
  console.log(ratioLine('  addon poll alone Node/C', median(ratios.raw)));
}

main().catch((e) => { console.error(e); process.exit(1); });
