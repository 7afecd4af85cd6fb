#!/usr/bin/env node
// npm test: compile, check the public API and its documentation (scripts/check-api.js), build
// the C probes, run the host suite, then boot the emulated VFIO host once per guest configuration and run the guest suite inside it; finally one summary line
// "N passed, N failed" aggregated from every jest run's counts (written by the reporter below).
// The host phase starts with the static checks (CHECKS below: dependency layers, generated
// files, lint).
//
// Usage: node scripts/test.js [--host-only | --guest-only | --config NAME] [--timeout S] [JEST ARGS…]
//   --host-only     only the host suite
//   --guest-only    only the guest suite, in every configuration
//   --config NAME   only the guest suite in configuration NAME (see GUEST_CONFIGS)
//   --node-lines    only the other Node.js LTS lines: host suite and the default configuration's
//                   core guest files on each (scripts/node-lines.js)
//   --timeout S     time limit of each guest boot (default 900 s)
//   anything else is passed to jest (e.g. -t 'edu' or a test path pattern)
'use strict';
const { spawnSync } = require('child_process');
const fs = require('fs');
const path = require('path');

const root = path.resolve(__dirname, '..');
const resultsDir = path.join(root, '.vm-work', 'test-results');

/**
 * A second NVMe controller for the driver tests (test/guest/nvme*.test.ts), on its own image
 * (made afresh for each run) with its own serial and block size. The tests read the device and
 * drive specs back from VFIO_TEST_NVME and VFIO_TEST_NVME_DRIVE, and the image's size from the
 * file. The kernel's nvme driver is loaded so the tests can hand the controller to it.
 */
const NVME_TEST_IMAGE = path.join(resultsDir, '..', 'nvme-test.img');
const NVME_TEST_IMAGE_BYTES = 64 << 20;
const NVME_TEST = {
  device: 'nvme,serial=vfio-nvme-test,drive=nvmetest,addr=0x0c,logical_block_size=4096,physical_block_size=4096',
  // discard=unmap: a Dataset Management deallocate reaches the image, so the blocks read as zeroes.
  drive: `file=${NVME_TEST_IMAGE},id=nvmetest,format=raw,discard=unmap`,
};
const NVME_TEST_ENV = { VFIO_TEST_NVME: NVME_TEST.device, VFIO_TEST_NVME_DRIVE: NVME_TEST.drive };

/**
 * The guest configurations: each is one boot running the whole guest suite, with
 * VFIO_TEST_CONFIG=<name> so tests can tell which one they are in, plus the configuration's
 * `env` (VFIO_TEST_BACKEND: the IOMMU backend test/guest/env.ts opens devices with, 'auto' when
 * unset; docs/backends.md). `options` are vfio-vm run options (lib/vm/options.ts).
 */
const GUEST_CONFIGS = [
  // Beyond the default devices: an rtl8139 (I/O-port BAR), std VGA (ROM, VGA region), xHCI (MSI-X).
  {
    name: 'default',
    description: 'stock Debian kernel, type1 IOMMU backend',
    options: {
      devices: ['rtl8139', 'VGA', 'qemu-xhci', NVME_TEST.device],
      drives: [NVME_TEST.drive],
      modules: ['nvme'],
      sharedGroup: true, // test/guest/shared-group.test.ts
    },
    env: NVME_TEST_ENV,
  },
  {
    name: 'relaxed',
    description: 'the same with iomem=relaxed (sysfs and vfio mappings may coexist)',
    options: { append: 'iomem=relaxed' },
  },
  // The custom kernel (kernel/guest.config) is built on its first use and cached, with progress.
  // mtty: the mdev sample, for the mediated-device tests; a second edu, for two devices sharing
  // one IOMMU context; without an IOMMU, edu's DMA sees physical addresses, which pass its
  // default 28-bit mask in a 2 GiB guest only by luck: the second edu there drives 32 bits.
  {
    name: 'custom',
    description: 'custom kernel, backend auto (iommufd with the VFIO device cdev)',
    options: { kernel: 'custom', modules: ['mtty'], devices: ['edu'] },
  },
  {
    name: 'custom-type1',
    description: 'custom kernel, type1 backend',
    options: { kernel: 'custom', modules: ['mtty'], devices: ['edu'] },
    env: { VFIO_TEST_BACKEND: 'type1' },
  },
  {
    name: 'noiommu',
    description: 'custom kernel without an IOMMU: the no-IOMMU backend (unsafe)',
    options: { kernel: 'custom', noIommu: true, devices: ['edu,dma_mask=0xffffffff'], sharedGroup: true },
    env: { VFIO_TEST_BACKEND: 'noiommu' },
  },
  // ivshmem bound to the sample WC variant driver (kernel/vfio-pci-wc-sample, docs/sample-driver.md)
  // instead of vfio-pci; iomem=relaxed so the sysfs route competes with the driver's. `tests`
  // limits the boot to the suites written for it (a jest path pattern).
  {
    name: 'sample',
    description: 'custom kernel, ivshmem bound to the sample write-combining driver',
    options: { kernel: 'custom', sampleDriver: 'ivshmem', append: 'iomem=relaxed' },
    tests: ['sample-driver'],
  },
];

function parseArgs(argv) {
  const args = { hostOnly: false, guestOnly: false, nodeLines: false, config: undefined, timeout: 900, jest: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--host-only') args.hostOnly = true;
    else if (a === '--guest-only') args.guestOnly = true;
    else if (a === '--config') args.config = argv[++i];
    else if (a === '--node-lines') args.nodeLines = true;
    else if (a === '--timeout') args.timeout = Number(argv[++i]);
    else args.jest.push(a);
  }
  if (args.config && !GUEST_CONFIGS.some((c) => c.name === args.config)) {
    fail(`unknown --config ${args.config}; known: ${GUEST_CONFIGS.map((c) => c.name).join(', ')}`);
  }
  if (args.hostOnly && (args.guestOnly || args.config)) fail('--host-only excludes --guest-only and --config');
  if (args.nodeLines && (args.hostOnly || args.guestOnly || args.config)) fail('--node-lines runs that phase alone');
  if (!Number.isFinite(args.timeout) || args.timeout <= 0) fail('--timeout expects seconds');
  return args;
}

function fail(message) {
  process.stderr.write(`test: ${message}\n`);
  process.exit(2);
}

const say = (line) => process.stderr.write(`\n[test] ${line}\n`);
const seconds = (ms) => `${(ms / 1000).toFixed(1)} s`;

/** Runs a phase's program with inherited output; returns its exit status. */
function runStep(label, program, args) {
  say(`${label}…`);
  const t0 = Date.now();
  const r = spawnSync(program, args, { cwd: root, stdio: 'inherit' });
  const status = r.error ? 127 : (r.status ?? 128);
  say(`${label}: ${status === 0 ? 'ok' : `failed (exit ${status})`} in ${seconds(Date.now() - t0)}`);
  return status;
}

/**
 * A jest reporter that writes the run's counts to a file. jest's own --json output is not
 * used: it serialises every failure's error object and crashes on circular ones (seen with
 * spawnSync errors), losing the whole result.
 */
class CountsReporter {
  constructor(globalConfig, options) {
    this.outputFile = options.outputFile;
  }

  onRunComplete(contexts, r) {
    const counts = {
      numPassedTests: r.numPassedTests,
      numFailedTests: r.numFailedTests,
      numPendingTests: r.numPendingTests,
      numTodoTests: r.numTodoTests,
      numRuntimeErrorTestSuites: r.numRuntimeErrorTestSuites,
    };
    fs.writeFileSync(this.outputFile, JSON.stringify(counts) + '\n');
  }
}

const jestBin = path.join('node_modules', 'jest', 'bin', 'jest.js');

/**
 * jest's arguments: the project's config file, extended (passed inline as JSON) with this
 * file as a second reporter writing the counts to outputFile.
 */
function jestArgs(configFile, outputFile, extra) {
  const config = {
    rootDir: root,
    ...require(path.join(root, configFile)),
    reporters: ['default', [__filename, { outputFile }]],
  };
  return [jestBin, `--config=${JSON.stringify(config)}`, '--ci', '--passWithNoTests', ...extra];
}

/** Counts from the reporter's file; a missing or broken file counts as one failure. */
function countResults(name, file, exitStatus) {
  let r;
  try {
    r = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch {
    return { name, passed: 0, failed: 1, skipped: 0, note: 'no results (the run did not complete)' };
  }
  const failed = r.numFailedTests + r.numRuntimeErrorTestSuites;
  // jest can fail without a failing test (e.g. an error outside any test): never report that green.
  const extra = exitStatus !== 0 && failed === 0 ? 1 : 0;
  return {
    name,
    passed: r.numPassedTests,
    failed: failed + extra,
    skipped: r.numPendingTests + r.numTodoTests,
    note: extra ? `jest exited ${exitStatus}` : undefined,
  };
}

/**
 * The static checks of the host phase, each an npm script (package.json): layering and cycles,
 * generated files not stale, lint and format (TypeScript, then native/ and kernel/). A failing check counts as one failure; passing
 * checks add nothing to the test counts.
 */
const CHECKS = ['depcheck', 'check:generated', 'lint', 'lint:native'];

function checksPhase() {
  const failed = CHECKS.filter((name) => runStep(`check: npm run ${name}`, 'npm', ['run', '--silent', name]) !== 0);
  return {
    name: 'checks',
    passed: 0,
    failed: failed.length,
    skipped: 0,
    note: failed.length ? `failed: ${failed.join(', ')}` : undefined,
  };
}

function hostSuite(args) {
  const out = path.join(resultsDir, 'host.json');
  fs.rmSync(out, { force: true });
  const status = runStep(
    'host suite (jest -c jest.config.js)',
    process.execPath,
    jestArgs('jest.config.js', out, args.jest),
  );
  return countResults('host', out, status);
}

/** scripts/check-pack.js: the packed tarball's prebuilt addon loads with install scripts off. */
function packageCheck() {
  const status = runStep('package (npm pack, install --ignore-scripts, load)', process.execPath, [
    path.join(root, 'scripts', 'check-pack.js'),
  ]);
  return { name: 'package', passed: status === 0 ? 1 : 0, failed: status === 0 ? 0 : 1, skipped: 0 };
}

/** A zeroed sparse image per boot: what the tests read is what this run wrote. */
function freshNvmeImage(config) {
  if (!config.options.drives?.includes(NVME_TEST.drive)) return;
  fs.rmSync(NVME_TEST_IMAGE, { force: true });
  fs.writeFileSync(NVME_TEST_IMAGE, '');
  fs.truncateSync(NVME_TEST_IMAGE, NVME_TEST_IMAGE_BYTES);
}

/** scripts/node-lines.js: the host suite and the default configuration's core guest files on the other Node.js LTS lines. */
function nodeLines(args) {
  const config = GUEST_CONFIGS.find((c) => c.name === 'default');
  return require('./node-lines').nodeLinesPhase({
    root,
    resultsDir,
    countResults,
    jestExtra: args.jest,
    guest: { config, timeout: args.timeout, prepare: () => freshNvmeImage(config) },
  });
}

/** One boot of the emulated host running the whole guest suite. */
async function guestSuite(config, args) {
  const { run, VmError } = require(path.join(root, 'dist', 'lib', 'vm'));
  freshNvmeImage(config);
  const out = path.join(resultsDir, `guest-${config.name}.json`);
  fs.rmSync(out, { force: true });
  say(`guest suite, configuration "${config.name}" (${config.description})…`);
  const t0 = Date.now();
  let status;
  try {
    const result = await run({
      ...config.options,
      command: [process.execPath, ...jestArgs('jest.guest.config.js', out, [...args.jest, ...(config.tests ?? [])])],
      cwd: root,
      env: { VFIO_TEST_CONFIG: config.name, ...config.env },
      timeoutSeconds: args.timeout,
      log: (line) => process.stderr.write(`vfio-vm: ${line}\n`),
    });
    status = result.exitCode;
    say(
      `guest "${config.name}": ${result.qemu.version} (${result.qemu.source}), ${result.accel.accel} (${result.accel.reason})`,
    );
    say(
      `guest "${config.name}": jest exit ${status}; boot ${seconds(result.timings.bootMs ?? 0)}, ` +
        `suite ${seconds(result.timings.commandMs ?? 0)}, total ${seconds(Date.now() - t0)}`,
    );
  } catch (e) {
    if (!(e instanceof VmError)) throw e;
    say(`guest "${config.name}": the emulated host failed (${e.kind}): ${e.message}`);
    status = 125;
  }
  return countResults(`guest ${config.name}`, out, status);
}

function buildPhase() {
  const tsc = path.join('node_modules', 'typescript', 'bin', 'tsc');
  // A clean output tree: a file left from a moved source would shadow its new folder's index.
  fs.rmSync(path.join(root, 'dist'), { recursive: true, force: true });
  if (runStep('compile (tsc -p tsconfig.json)', process.execPath, [tsc, '-p', 'tsconfig.json']) !== 0) return false;
  // The public face: API reference validation, API report, type tests, links (scripts/check-api.js).
  if (runStep('public API (npm run docs:check)', process.execPath, [path.join(root, 'scripts', 'check-api.js')]) !== 0)
    return false;
  const tools = path.join(root, 'scripts', 'build-tools.js');
  if (fs.existsSync(tools) && runStep('C probes (scripts/build-tools.js)', process.execPath, [tools]) !== 0)
    return false;
  return true;
}

function summarise(results) {
  process.stderr.write('\n');
  for (const r of results) {
    process.stderr.write(
      `[test] ${r.name.padEnd(16)} ${r.passed} passed, ${r.failed} failed, ${r.skipped} skipped${r.note ? ` (${r.note})` : ''}\n`,
    );
  }
  const sum = (k) => results.reduce((n, r) => n + r[k], 0);
  // The one closing line CI reads.
  process.stdout.write(`${sum('passed')} passed, ${sum('failed')} failed, ${sum('skipped')} skipped\n`);
  return sum('failed') === 0 && results.length > 0;
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const t0 = Date.now();
  fs.mkdirSync(resultsDir, { recursive: true });
  if (!buildPhase()) {
    process.stdout.write('0 passed, 1 failed\n');
    process.exit(1);
  }
  const results = [];
  const all = !args.guestOnly && !args.config && !args.nodeLines;
  if (all) results.push(checksPhase(), hostSuite(args));
  if (!args.hostOnly && !args.nodeLines) {
    for (const config of GUEST_CONFIGS.filter((c) => !args.config || c.name === args.config)) {
      results.push(await guestSuite(config, args));
    }
  }
  if (all || args.nodeLines) results.push(...(await nodeLines(args)));
  // Last: npm pack's prepack rebuilds the addon (prebuildify), which empties build/, where the
  // C probes the guest suites run live.
  if (all) results.push(packageCheck());
  const ok = summarise(results);
  say(`done in ${seconds(Date.now() - t0)}`);
  process.exit(ok ? 0 : 1);
}

if (require.main === module) {
  main().catch((e) => {
    process.stderr.write(`test: ${e.stack ?? e}\n`);
    process.stdout.write('0 passed, 1 failed\n');
    process.exit(1);
  });
} else {
  // Loaded by jest as a reporter (see jestArgs).
  module.exports = CountsReporter;
}
