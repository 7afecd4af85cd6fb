// One-way wakeup latency from an eventfd write to the 'interrupt' listener of an Irq, against a
// plain C epoll_wait + read loop, in the same run with the same writer. Per go-ahead the writer
// waits until the reader sleeps, then adds its CLOCK_MONOTONIC time to the eventfd: the reader
// reads that time back as the counter.
//
// Two writers, each against its own C reader. Another process (bench/irq-epoll.c) makes every
// wakeup an address-space switch, which software emulation charges by the woken side's working
// set (in the emulated host Node's share grew by about 0.2-0.4x of C with it). A thread of the
// reader's own process (bench/native) switches none, like a device interrupt: the MSI handler
// signals the eventfd and the sleeping reader wakes on a CPU that still has its address space
// loaded.
//
// Inside `vfio-vm run` the eventfd is a real MSI-X vector of nvme (the kernel holds it too);
// elsewhere the same Irq path runs over an eventfd no kernel knows about.
import { ChildProcess, spawn, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { Device, Irq } from '../lib';
import { Tap } from '../lib/irq/irq';
import { IrqControl } from '../lib/irq/control';
import { DeviceIrqInfo } from '../lib/device/device';
import { Baseline, loadBaseline, median, must, ratioLine } from './util';

/** The writer thread's part of the C baselines (bench/native/baseline.cc). */
interface ThreadBaseline extends Baseline {
  /** A writer thread for `eventfd`: one write per go(); stop() joins it, and must come first. */
  irq_thread_writer_start(eventfd: number, gapUs: number): { go(): void; stop(): void };
  /** The same thread on an eventfd of its own, read by epoll_wait + read: latencies in ns. */
  irq_thread_baseline(n: number, gapUs: number): Float64Array;
}

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

/** A round's writer: go() asks for one write, end() stops it and resolves once it is gone. */
interface Writer {
  go(): void;
  end(): Promise<void>;
}
type StartWriter = (fd: number, fail: (e: Error) => void) => Writer;

/** irq-epoll.c in writer mode. Asked for one sample more than it gets, it ends only at our EOF:
 * any exit before end() is a failure, never a race with the last sample. */
function processWriter(bin: string): StartWriter {
  return (fd, fail) => {
    const child: ChildProcess = spawn(bin, ['writer', String(N + 1), String(GAP_US)], {
      stdio: ['pipe', 'inherit', 'inherit', fd],
    });
    let ending = false;
    const exited = new Promise<void>((resolve, reject) => {
      child.on('error', (e) => {
        fail(e);
        reject(e);
      });
      child.on('exit', (code) => {
        const e = new Error(`irq-epoll writer exited with ${code}${ending ? '' : ' before the round ended'}`);
        if (code === 0 && ending) resolve();
        else {
          fail(e);
          reject(e);
        }
      });
    });
    exited.catch(() => undefined); // reported through fail(); end() rethrows it
    const stdin = must(child.stdin, "the writer's stdin pipe");
    stdin.on('error', fail); // a go-ahead to a writer already gone
    return {
      go: () => void stdin.write('x'),
      end: () => {
        ending = true;
        stdin.end();
        return exited;
      },
    };
  };
}

/** The writer thread of the C baselines: nothing can fail after it started. */
function threadWriter(c: ThreadBaseline): StartWriter {
  return (fd) => {
    const w = c.irq_thread_writer_start(fd, GAP_US);
    return { go: () => w.go(), end: async () => w.stop() };
  };
}

/** One round: the callback measures, then gives the writer its next go-ahead. The writer always
 * ends before the round does: a thread left running would write into the next round's eventfd. */
async function jsRound(start: StartWriter, r: Reader): Promise<number[]> {
  const lat: number[] = [];
  let writer: Writer | undefined;
  try {
    await new Promise<void>((resolve, reject) => {
      r.listen((t0: number): void => {
        lat.push(Number(process.hrtime.bigint()) - t0);
        if (lat.length < N) must(writer, 'the writer').go();
        else resolve();
      });
      writer = start(r.fd, reject);
      writer.go();
    });
  } finally {
    r.unlisten();
    await writer?.end();
  }
  return lat.slice(WARMUP);
}

/** Through the Irq and its EventEmitter: what a driver sees. */
function irqReader(irq: Irq, fd: number): Reader {
  let cb: ((t0: number) => void) | undefined;
  return {
    fd,
    listen: (f) => irq.on('interrupt', (cb = f)),
    unlisten: () => {
      if (cb) irq.off('interrupt', cb);
    },
  };
}

/** The addon's poll callback alone, on an eventfd of its own: the floor under the Irq layer. */
function tapReader(): Reader & { close(): void } {
  let cb: (t0: number) => void = () => undefined;
  const tap = Tap.open(0, (t0) => cb(t0), 'bench');
  tap.ref(true);
  return {
    fd: tap.fd,
    listen: (f) => {
      cb = f;
    },
    unlisten: () => {
      cb = () => undefined;
    },
    close: () => tap.close(),
  };
}

/** An Irq on a real device's MSI-X vector 0, or on a kernel-less eventfd. */
async function openIrq(): Promise<{ irq: Irq; fd: number; what: string; close(): void }> {
  const bdf = process.env.VFIO_VM_NVME;
  if (bdf) {
    const dev = await Device.open(bdf);
    dev.config.busMaster = true;
    const irq = dev.irq('MSIX').enable({ vectors: [0] });
    return {
      irq,
      fd: must(irq.fdOf(0), "vector 0's eventfd"),
      what: `nvme ${bdf} MSI-X vector 0`,
      close: () => dev.close(),
    };
  }
  const info: DeviceIrqInfo = {
    argsz: 16,
    rawFlags: 1,
    index: 0,
    count: 1,
    name: 'IRQ0',
    flags: { eventfd: true, maskable: false, automasked: false, noresize: true },
  };
  const control = new IrqControl({
    device: 'loopback',
    pci: false,
    irqs: [info],
    live: () => undefined,
    setIrqs: () => 0,
    openTap: (v, cb) => Tap.open(v, cb, 'loopback'),
    own: () => undefined,
    disown: () => undefined,
    allowIntx: () => undefined,
    busMaster: () => true,
    emitReleaseRequest: () => undefined,
  });
  const irq = control.index(0).enable();
  return {
    irq,
    fd: must(irq.fdOf(0), "vector 0's eventfd"),
    what: 'an eventfd without a device',
    close: () => irq.disable(),
  };
}

async function main(): Promise<void> {
  const bin = cProgram();
  const c = loadBaseline() as ThreadBaseline;
  const { irq, fd, what, close } = await openIrq();
  const tap = tapReader();
  const proc = processWriter(bin);
  const thread = threadWriter(c);
  // All six in one rotation, so both pairs see the same drift of the machine.
  const variants: Record<string, () => Promise<number[]>> = {
    c: async () => cRound(bin),
    raw: () => jsRound(proc, tap),
    js: () => jsRound(proc, irqReader(irq, fd)),
    'c-thread': async () => Array.from(c.irq_thread_baseline(N, GAP_US).subarray(WARMUP)),
    'raw-thread': () => jsRound(thread, tap),
    'js-thread': () => jsRound(thread, irqReader(irq, fd)),
  };
  const names = Object.keys(variants);
  const all: Record<string, number[]> = Object.fromEntries(names.map((n) => [n, []]));
  const ratios: Record<string, number[]> = Object.fromEntries(names.map((n) => [n, []]));
  try {
    for (let k = 0; k < ROUNDS; k++) {
      const round: Record<string, number> = {};
      for (let j = 0; j < names.length; j++) {
        const name = names[(j + k) % names.length];
        const lat = await variants[name]();
        all[name].push(...lat);
        round[name] = median(lat);
      }
      // Each Node variant over the C reader of its own writer, in the same round.
      for (const name of names) ratios[name].push(round[name] / round[name.endsWith('-thread') ? 'c-thread' : 'c']);
    }
  } finally {
    tap.close();
    close();
  }
  const us = (ns: number): string => `${(ns / 1000).toFixed(1)} µs`;
  const block = (title: string, sfx: string): void => {
    console.log(`  writer ${title}:`);
    console.log(`    C epoll_wait + read         ${us(median(all['c' + sfx]))}`);
    console.log(`    addon poll callback alone   ${us(median(all['raw' + sfx]))}`);
    console.log(`    Irq 'interrupt' listener    ${us(median(all['js' + sfx]))}`);
    console.log(ratioLine('    irq latency Node/C', median(ratios['js' + sfx])));
    console.log(ratioLine('    addon poll alone Node/C', median(ratios['raw' + sfx])));
  };
  console.log(`IRQ eventfd write → callback (${what}), ${ROUNDS} rounds x ${N - WARMUP} wakeups each, medians:`);
  block('in another process (an address-space switch per wakeup)', '');
  block('thread in the same process (as a device interrupt: no address-space switch)', '-thread');
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
