#!/usr/bin/env node
// npm run demo: build what is missing, provision the emulated VFIO host (a QEMU guest with a
// vIOMMU and VFIO test devices), boot it once, and run in it what a user runs on a VFIO machine:
// `vfio list`, `vfio info` of the edu device, the examples, and the NVMe driver through the CLI. Exits non-zero if any step fails.
'use strict';
const { spawnSync } = require('child_process');
const fs = require('fs');
const path = require('path');

const root = path.resolve(__dirname, '..');
const started = Date.now();
const elapsed = () => `${((Date.now() - started) / 1000).toFixed(0)} s`;
const header = (text) => process.stdout.write(`\n==> ${text}\n`);
const note = (text) => process.stdout.write(`    ${text}\n`);

function fail(message) {
  process.stderr.write(`\ndemo: ${message}\n`);
  process.exit(1);
}

/** Newest modification time of the .ts files under the given directories. */
function newestSource(dirs) {
  let newest = 0;
  const walk = (dir) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.ts')) newest = Math.max(newest, fs.statSync(p).mtimeMs);
    }
  };
  for (const d of dirs) if (fs.existsSync(d)) walk(d);
  return newest;
}

function runOrFail(what, program, args) {
  note(`${what}: ${path.basename(program)} ${args.join(' ')}`);
  const r = spawnSync(program, args, { cwd: root, stdio: 'inherit' });
  if (r.error) fail(`${what} could not start: ${r.error.message}`);
  if (r.status !== 0) fail(`${what} failed (exit ${r.status})`);
}

/** The addon and the compiled JavaScript (library, CLI, examples), built only when missing or stale. */
function build() {
  header('Build');
  let addon;
  try {
    // What the package will load: a local build, else the shipped prebuild (node-gyp-build's order).
    addon = require(require.resolve('node-gyp-build', { paths: [root] })).path(root);
  } catch {
    /* neither: build it */
  }
  if (addon) note(`native addon: ${path.relative(root, addon)}`);
  else runOrFail('native addon', process.execPath, [path.join(root, 'scripts', 'build-native.js'), 'gyp']);
  const outputs = [
    'dist/lib/index.js',
    'dist/lib/cli/vfio.js',
    'dist/lib/vm/index.js',
    'dist/examples/edu-driver.js',
    'dist/examples/ivshmem.js',
    'dist/examples/nvme.js',
  ].map((p) => path.join(root, p));
  const oldest = Math.min(...outputs.map((p) => (fs.existsSync(p) ? fs.statSync(p).mtimeMs : 0)));
  if (oldest > newestSource([path.join(root, 'lib'), path.join(root, 'examples')])) {
    note('TypeScript: up to date');
  } else {
    // The library and the examples only: a type error in a test must not stop the demo.
    runOrFail('TypeScript', process.execPath, [
      require.resolve('typescript/bin/tsc', { paths: [root] }),
      '-p',
      path.join(root, 'examples', 'tsconfig.json'),
    ]);
  }
}

/** Provisioning logs a line per step; a heartbeat fills long silences (a kernel download). */
async function provisionWithProgress(vm) {
  header(
    'Provision the emulated VFIO host (the first run downloads QEMU, busybox and a Debian kernel; later runs use the cache)',
  );
  let last = Date.now();
  const log = (line) => {
    last = Date.now();
    note(line);
  };
  const beat = setInterval(() => {
    if (Date.now() - last >= 15000) log(`… still working (${elapsed()})`);
  }, 5000);
  try {
    const { kernel, userland } = await vm.provisionHost({ log });
    note(`${userland.info.qemuReports}, kernel ${kernel.kernelVersion} ready (${elapsed()})`);
  } finally {
    clearInterval(beat);
  }
}

/**
 * What runs inside the guest: each step under a header, the command shown as a user would type
 * it (`vfio` is a function standing for the installed bin), failures collected, not fatal.
 */
const GUEST_SCRIPT = `
vfio() { node dist/lib/cli/vfio.js "$@"; }
failed=""
step() {
  title=$1; shift
  printf '\\n==> %s\\n$ %s\\n' "$title" "$*"
  "$@" || failed="$failed
    $title (exit $?)"
}
step "PCI devices, and which ones VFIO can use" vfio list
step "The edu device as VFIO describes it" vfio info "$VFIO_VM_EDU"
step "Example: a userspace driver for edu (MMIO, interrupt, DMA)" node dist/examples/edu-driver.js
step "Example: shared memory with the host through ivshmem" node dist/examples/ivshmem.js
step "Example: the NVMe driver writes and reads a namespace" node dist/examples/nvme.js
step "The NVMe controller through the CLI's driver" vfio nvme identify "$VFIO_VM_NVME"
step "Blocks the example wrote, as the CLI reads them" vfio nvme read "$VFIO_VM_NVME" 8
if [ -n "$failed" ]; then
  printf '\\nfailed steps:%s\\n' "$failed"
  exit 1
fi
`;

async function main() {
  if (fs.existsSync('/dev/vfio/vfio')) {
    header('This machine has VFIO (/dev/vfio/vfio)');
    note(
      'the same commands run directly here: `npx vfio list`, `sudo npx vfio bind BDF`, `npx vfio info BDF` (docs/cli.md);',
    );
    note('the demo below still uses the emulated host, so it needs no device of yours');
  }
  build();
  // Loaded only now: the build above may just have produced it.
  const vm = require(path.join(root, 'dist', 'lib', 'vm'));
  try {
    await provisionWithProgress(vm);
    header('Boot the emulated host and run the demo in it');
    const result = await vm.run({ command: ['sh', '-c', GUEST_SCRIPT], cwd: root, log: note, timeoutSeconds: 600 });
    const t = result.timings;
    header(`Done in ${elapsed()} (guest boot ${t.bootMs === undefined ? '?' : `${(t.bootMs / 1000).toFixed(1)} s`})`);
    if (result.exitCode !== 0)
      fail(`a step failed in the emulated host (exit ${result.exitCode}); its output is above`);
    note('next: `npx vfio-vm run -- node dist/examples/edu-driver.js`, `npx vfio-vm shell`, and docs/cli.md');
  } catch (e) {
    if (e && e.name === 'VmError') fail(e.message);
    throw e;
  }
}

main().catch((e) => fail(e && e.stack ? e.stack : String(e)));
