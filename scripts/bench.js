#!/usr/bin/env node
// Runs the benchmarks: each reports median ratios against a C baseline run in the same process
// (or the same guest run), never absolute times, because these machines are noisy.
//   npm run bench              host and emulated-host benchmarks
//   npm run bench -- host      only the host ones
//   npm run bench -- guest     only the ones inside the emulated VFIO host
//   npm run bench -- nvme      only the NVMe one (bench/nvme.ts), in one guest boot
'use strict';
const { spawnSync } = require('child_process');
const fs = require('fs');
const path = require('path');

const root = path.resolve(__dirname, '..');
const which = process.argv[2] || 'all';

function run(cmd, args, what) {
  console.error(`[bench] ${what}`);
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) {
    console.error(`[bench] ${what} failed (${r.status ?? r.signal})`);
    process.exit(1);
  }
}

run(
  process.execPath,
  [path.join(root, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json'],
  'compiling TypeScript',
);
run(process.execPath, ['scripts/build-native.js', 'gyp', '--directory', 'bench/native'], 'building the C baselines');

if (which === 'all' || which === 'host') {
  run(process.execPath, ['dist/bench/mmio.js'], 'MMIO, host');
  // The same eventfd wakeup path as in the emulated host, on an eventfd no device holds.
  run(process.execPath, ['dist/bench/irq-latency.js'], 'IRQ latency, host');
}
if (which === 'all' || which === 'guest' || which === 'nvme') {
  // One guest boot for every emulated-host benchmark; each script prints its own ratios.
  const all = ['mmio.js --device', 'region-info.js', 'irq-latency.js', 'dma-map.js', 'nvme.js'];
  const scripts = (which === 'nvme' ? ['nvme.js'] : all).filter((s) =>
    fs.existsSync(path.join(root, 'dist/bench', s.split(' ')[0])),
  );
  const cmd = scripts.map((s) => `node dist/bench/${s}`).join(' && ');
  // One guest CPU: TCG runs all vCPUs on one host thread in turns, so with two the benchmark's
  // main thread shares its time with V8's compiler and GC threads and the ratios scatter.
  // The kernel's nvme driver: bench/nvme.ts hands the controller to it for the baseline.
  run(
    process.execPath,
    ['dist/lib/vm/cli/main.js', 'run', '--smp', '1', '--module', 'nvme', '--', 'sh', '-c', cmd],
    `emulated host: ${scripts.join(', ')}`,
  );
}
