// MMIO cost: Mapping.write32/read32 against a C volatile loop over the same mapping, in the same
// process. On the host the mapping is a shared-memory file (same page tables as a BAR mapping,
// without a device); inside the emulated host it is edu's BAR0. Reports median ratios.
//
//   node dist/bench/mmio.js            host, shared-memory file
//   node dist/bench/mmio.js --device   edu BAR0 (inside `vfio-vm run`)
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Device, Mapping } from '../lib';
import { Mapped, native } from '../lib/addon/native';
import { loadBaseline, median, ratioLine } from './util';

const ROUNDS = 15;

interface Target {
  mapping: Mapping;
  buffer: ArrayBuffer;
  close(): void;
  iterations: number;
  writeOff: number;
  readOff: number;
}

function hostTarget(): Target {
  const n = native();
  const file = path.join(fs.existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir(), `vfio-bench-${process.pid}`);
  fs.writeFileSync(file, Buffer.alloc(1 << 20));
  const fd = n.open(file, n.constants.O_RDWR | n.constants.O_CLOEXEC);
  const mapped = n.mmap(fd, 0n, 1 << 20, n.constants.PROT_READ | n.constants.PROT_WRITE, 0) as Mapped;
  if (typeof mapped === 'number') throw new Error(`mmap: ${mapped}`);
  const mapping = new Mapping(mapped, 0n, 1 << 20, { label: 'bench', regionName: 'shm', release: () => undefined });
  return {
    mapping,
    buffer: mapped.buffer,
    iterations: 2_000_000,
    writeOff: 4,
    readOff: 0,
    close: () => {
      mapping.close();
      n.close(fd);
      fs.rmSync(file);
    },
  };
}

async function deviceTarget(): Promise<Target> {
  const bdf = process.env.VFIO_VM_EDU;
  if (!bdf) throw new Error('--device needs VFIO_VM_EDU (run inside `vfio-vm run`)');
  const dev = await Device.open(bdf);
  const mapping = dev.bar(0).map();
  // Each access to an emulated device exits to QEMU: far fewer iterations give stable rounds.
  // The Mapping keeps its ArrayBuffer private; the bench reaches it to hand the same memory to C.
  const buffer = (mapping as unknown as { v8: Uint8Array }).v8.buffer as ArrayBuffer;
  return { mapping, buffer, iterations: 20_000, writeOff: 4, readOff: 0, close: () => dev.close() };
}

function timeJs(fn: () => void): number {
  const t0 = process.hrtime.bigint();
  fn();
  return Number(process.hrtime.bigint() - t0);
}

async function main(): Promise<void> {
  const c = loadBaseline();
  const t = process.argv.includes('--device') ? await deviceTarget() : hostTarget();
  const { mapping: m, iterations: n } = t;
  const writeJs = () => {
    for (let i = 0; i < n; i++) m.write32(t.writeOff, i);
  };
  // The floor: a bare Uint32Array store loop, no accessor, no checks. V8's loop (a stack-guard
  // check and an overflow check per iteration) is what it costs over the C loop.
  const bare = new Uint32Array(t.buffer, 0, 2);
  const writeBare = () => {
    for (let i = 0; i < n; i++) bare[t.writeOff >>> 2] = i;
  };
  let sink = 0;
  // XOR into a local keeps the accumulator a small integer: a captured `+=` sum overflows into a
  // heap number and would time an allocation per iteration, not the read.
  const readJs = () => {
    let x = 0;
    for (let i = 0; i < n; i++) x ^= m.read32(t.readOff);
    sink ^= x;
  };
  // Warm up: let TurboFan optimise the accessors before measuring.
  writeJs();
  readJs();
  writeBare();
  const w: number[] = [];
  const r: number[] = [];
  const b: number[] = [];
  for (let k = 0; k < ROUNDS; k++) {
    w.push(timeJs(writeJs) / c.write32_loop(t.buffer, t.writeOff, n));
    r.push(timeJs(readJs) / c.read32_loop(t.buffer, t.readOff, n));
    b.push(timeJs(writeBare) / c.write32_loop(t.buffer, t.writeOff, n));
  }
  const where = process.argv.includes('--device') ? 'edu BAR0 (emulated host)' : 'shared-memory mapping (host)';
  console.log(`MMIO ${where}, ${n} accesses x ${ROUNDS} rounds, median JS/C:`);
  console.log(ratioLine('  write32', median(w)));
  console.log(ratioLine('  read32 ', median(r)));
  console.log(ratioLine('  bare Uint32Array store loop (the floor for write32)', median(b)));
  void sink;
  t.close();
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
