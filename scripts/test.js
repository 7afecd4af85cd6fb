#!/usr/bin/env node
// npm test: compile, check the public API and its documentation (scripts/check-api.js), build
// the C probes, run the host suite, then boot the emulated VFIO host once per guest
// configuration (scripts/test/configs.js: the kernel × IOMMU mode matrix) and run that
// configuration's jest passes inside it. Every run is judged against what it declares
// (scripts/test/counts.js: files that must run, a minimum of executed tests, gating variables);
// the summary lists each run's passed / failed / skipped, its skip reasons and its time, then
// one closing line "N passed, N failed, N skipped". The host phase (the static checks in CHECKS
// below, the host suite, the other Node.js lines' builds and host suites) runs in a child process
// beside the guest configurations: a guest under TCG keeps about one of two cores busy.
//
// Usage: node scripts/test.js [--host-only | --guest-only | --config NAME] [--timeout S] [--no-build] [JEST ARGS…]
//   --host-only     only the host phase (checks, host suite, the other Node.js lines' host suites)
//   --guest-only    only the guest suite, in every configuration
//   --config NAME   only the guest suite in configuration NAME (see scripts/test/configs.js);
//                   NAME/PASS: only that pass of it
//   --node-lines    only the other Node.js LTS lines: host suite and the default configuration's
//                   core guest files on each (scripts/node-lines.js)
//   --timeout S     time limit of each guest boot, all its passes (default 2400 s)
//   --host-phase F  only the host phase, its results written to F as JSON (what npm test runs
//                   in its child process; no compile)
//   --no-build      use dist/ as it is (no compile or API check; dist/ is not deleted, so runs
//                   can overlap); the C probes are still built
//   anything else is passed to jest (e.g. -t 'edu' or a test path pattern); a filtered run is
//   not held to the declared minimum counts
'use strict';
const { spawn, spawnSync } = require('child_process');
const fs = require('fs');
const path = require('path');

const {
  GUEST_CONFIGS,
  NVME_TEST,
  NVME_TEST_IMAGE,
  NVME_TEST_IMAGE_BYTES,
  resultsDir,
  runOptions,
  passPattern,
} = require('./test/configs');
const { judge, readRecord, summaryLines } = require('./test/counts');

const root = path.resolve(__dirname, '..');

/** The host suite's declaration (scripts/test/counts.js): how many tests must execute. */
const HOST_DECLARATION = { minTests: 700 };

function parseArgs(argv) {
  const args = {
    hostOnly: false,
    guestOnly: false,
    nodeLines: false,
    hostPhase: undefined,
    config: undefined,
    timeout: 2400,
    build: true,
    jest: [],
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--host-only') args.hostOnly = true;
    else if (a === '--guest-only') args.guestOnly = true;
    else if (a === '--config') args.config = argv[++i];
    else if (a === '--timeout') args.timeout = Number(argv[++i]);
    else if (a === '--no-build') args.build = false;
    else if (a === '--node-lines') args.nodeLines = true;
    else if (a === '--host-phase') args.hostPhase = argv[++i];
    else args.jest.push(a);
  }
  // --config NAME/PASS: one pass of a configuration (still one boot).
  if (args.config?.includes('/')) [args.config, args.pass] = args.config.split('/');
  const chosen = GUEST_CONFIGS.find((c) => c.name === args.config);
  if (args.pass && !chosen?.passes.some((p) => p.name === args.pass)) {
    fail(`unknown pass ${args.config}/${args.pass}; known: ${chosen?.passes.map((p) => p.name).join(', ') ?? 'none'}`);
  }
  if (args.config && !chosen) {
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

const jestBin = path.join('node_modules', 'jest', 'bin', 'jest.js');

/**
 * jest's arguments: the project's config file, extended (passed inline as JSON) with the counts
 * reporter (scripts/test/reporter.js) writing what ran to outputFile. No --passWithNoTests: a
 * run that finds no test fails.
 */
function jestArgs(configFile, outputFile, extra, requireEnv = []) {
  const config = {
    rootDir: root,
    ...require(path.join(root, configFile)),
    reporters: ['default', [path.join(__dirname, 'test', 'reporter.js'), { outputFile, requireEnv }]],
  };
  return [jestBin, `--config=${JSON.stringify(config)}`, '--ci', ...extra];
}

/** A run filtered by jest arguments (e.g. -t) is not the matrix: its declared minimum does not apply. */
const declaration = (decl, args) => (args.jest.length ? { requireEnv: decl.requireEnv } : decl);

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
    problems: failed.map((name) => `npm run ${name} failed`),
  };
}

function hostSuite(args) {
  const out = path.join(resultsDir, 'host.json');
  fs.rmSync(out, { force: true });
  const t0 = Date.now();
  const status = runStep(
    'host suite (jest -c jest.config.js)',
    process.execPath,
    jestArgs('jest.config.js', out, args.jest),
  );
  return { ...judge('host', declaration(HOST_DECLARATION, args), readRecord(out), status), ms: Date.now() - t0 };
}

/** scripts/check-pack.js: the packed tarball's prebuilt addon loads with install scripts off. */
function packageCheck() {
  const status = runStep('package (npm pack, install --ignore-scripts, load)', process.execPath, [
    path.join(root, 'scripts', 'check-pack.js'),
  ]);
  return {
    name: 'package',
    passed: status === 0 ? 1 : 0,
    failed: status === 0 ? 0 : 1,
    skipped: 0,
    problems: status === 0 ? [] : [`scripts/check-pack.js exited ${status}`],
  };
}

/** The fuzz suites' replay settings (docs/reliability.md), passed on to the guest when set. */
function fuzzSettings() {
  const out = {};
  for (const k of ['VFIO_FUZZ_SEED', 'VFIO_FUZZ_SCALE']) if (process.env[k]) out[k] = process.env[k];
  return out;
}

/**
 * One boot of the emulated host for a configuration: its passes run one after the other inside
 * it (scripts/test/guest-passes.js), each judged on its own against its declaration.
 */
async function guestSuite(config, args) {
  const { run, VmError } = require(path.join(root, 'dist', 'lib', 'vm'));
  freshNvmeImage(config);
  const file = (pass, ext) => path.join(resultsDir, `guest-${config.name}-${pass.name}.${ext}`);
  const chosen = config.passes.filter((p) => !args.pass || p.name === args.pass);
  const passes = chosen.map((pass) => {
    for (const ext of ['json', 'status']) fs.rmSync(file(pass, ext), { force: true });
    return {
      name: pass.name,
      env: pass.env ?? {},
      args: jestArgs('jest.guest.config.js', file(pass, 'json'), [...args.jest, ...passPattern(pass)], pass.requireEnv),
      statusFile: file(pass, 'status'),
    };
  });
  const plan = path.join(resultsDir, `guest-${config.name}.plan.json`);
  fs.writeFileSync(plan, JSON.stringify({ passes }, null, 2) + '\n');
  say(`guest suite, configuration "${config.name}" (${config.description})…`);
  const t0 = Date.now();
  let status;
  try {
    const result = await run({
      ...runOptions(config),
      command: [process.execPath, path.join(__dirname, 'test', 'guest-passes.js'), plan],
      cwd: root,
      env: { VFIO_TEST_CONFIG: config.name, ...config.env, ...fuzzSettings() },
      timeoutSeconds: args.timeout,
      log: (line) => process.stderr.write(`vfio-vm: ${line}\n`),
    });
    status = result.exitCode;
    say(
      `guest "${config.name}": ${result.qemu.version} (${result.qemu.source}), ${result.accel.accel} (${result.accel.reason})`,
    );
    say(
      `guest "${config.name}": exit ${status}; boot ${seconds(result.timings.bootMs ?? 0)}, ` +
        `suite ${seconds(result.timings.commandMs ?? 0)}, total ${seconds(Date.now() - t0)}`,
    );
  } catch (e) {
    if (!(e instanceof VmError)) throw e;
    say(`guest "${config.name}": the emulated host failed (${e.kind}): ${e.message}`);
    status = 125;
  }
  const ms = Date.now() - t0;
  return chosen.map((pass) => {
    const done = readRecord(file(pass, 'status'));
    const judged = judge(
      `${config.name}/${pass.name}`,
      declaration(pass, args),
      readRecord(file(pass, 'json')),
      done?.exit ?? status,
    );
    return { ...judged, ms: done?.ms, config: config.name, configMs: ms };
  });
}

/** A zeroed sparse image per boot: what the tests read is what this run wrote. */
function freshNvmeImage(config) {
  if (!config.options.drives?.includes(NVME_TEST.drive)) return;
  fs.rmSync(NVME_TEST_IMAGE, { force: true });
  fs.writeFileSync(NVME_TEST_IMAGE, '');
  fs.truncateSync(NVME_TEST_IMAGE, NVME_TEST_IMAGE_BYTES);
}

const countResults = (name, out, status) => judge(name, {}, readRecord(out), status);

/** The default configuration as the other Node.js lines' guest passes run it (scripts/node-lines.js). */
function lineGuest(args) {
  const config = GUEST_CONFIGS.find((c) => c.name === 'default');
  return {
    config: { ...config, options: runOptions(config), env: { ...config.env, ...config.passes[0].env } },
    timeout: args.timeout,
    prepare: () => freshNvmeImage(config),
  };
}

/** --node-lines: the host suite and the default configuration's core guest files on the other LTS lines. */
function nodeLines(args) {
  return require('./node-lines').nodeLinesPhase({
    root,
    resultsDir,
    countResults,
    jestExtra: args.jest,
    guest: lineGuest(args),
  });
}

/**
 * The host phase: static checks, the host suite, then each other Node.js line staged, built and
 * its host suite run. Returns the results and the staged lines (plain data) for their guest passes.
 */
function hostPhase(args) {
  const results = [checksPhase(), hostSuite(args)];
  const lines = require('./node-lines').hostLines({ root, resultsDir, countResults, jestExtra: args.jest });
  return { results: [...results, ...lines.results], staged: lines.staged };
}

/**
 * Starts the host phase in a child process (`--host-phase`) and resolves with its results when
 * it ends. Its output goes to a log, printed whole when it ends, so it never interleaves with a
 * guest's; a phase that ends without results counts as a failure.
 */
function startHostPhase(args) {
  const log = path.join(resultsDir, 'host-phase.log');
  const out = path.join(resultsDir, 'host-phase.json');
  fs.rmSync(out, { force: true });
  say(
    `host phase (checks, host suite, other Node.js lines) runs beside the guest configurations; output: ${path.relative(root, log)}`,
  );
  const t0 = Date.now();
  const fd = fs.openSync(log, 'w');
  const child = spawn(process.execPath, [__filename, '--host-phase', out, ...args.jest], {
    cwd: root,
    stdio: ['ignore', fd, fd],
  });
  fs.closeSync(fd);
  const stop = () => child.kill('SIGTERM');
  process.on('exit', stop);
  return new Promise((resolve) => {
    const done = (how) => {
      process.off('exit', stop);
      process.stderr.write(fs.readFileSync(log, 'utf8'));
      say(`host phase: ${how} in ${seconds(Date.now() - t0)}, beside the guest configurations`);
      const failed = { name: 'host phase', passed: 0, failed: 1, skipped: 0, problems: [`it ${how} without results`] };
      resolve(readRecord(out) ?? { results: [failed], staged: [] });
    };
    child.on('error', (e) => done(`could not start (${e.message})`));
    child.on('exit', (code, signal) => done(signal ? `was killed (${signal})` : `exited ${code}`));
  });
}

function buildPhase(args) {
  const tsc = path.join('node_modules', 'typescript', 'bin', 'tsc');
  if (args.build) {
    // A clean output tree: a file left from a moved source would shadow its new folder's index.
    fs.rmSync(path.join(root, 'dist'), { recursive: true, force: true });
    if (runStep('compile (tsc -p tsconfig.json)', process.execPath, [tsc, '-p', 'tsconfig.json']) !== 0) return false;
    // The public face: API reference validation, API report, type tests, links (scripts/check-api.js).
    if (
      runStep('public API (npm run docs:check)', process.execPath, [path.join(root, 'scripts', 'check-api.js')]) !== 0
    )
      return false;
  }
  const tools = path.join(root, 'scripts', 'build-tools.js');
  if (fs.existsSync(tools) && runStep('C probes (scripts/build-tools.js)', process.execPath, [tools]) !== 0)
    return false;
  return true;
}

function summarise(results) {
  process.stderr.write('\n');
  const configTimes = new Map(results.filter((r) => r.config).map((r) => [r.config, r.configMs]));
  for (const r of results)
    process.stderr.write(
      summaryLines(r)
        .map((l) => `[test] ${l}\n`)
        .join(''),
    );
  for (const [name, ms] of configTimes)
    process.stderr.write(`[test] configuration ${name}: ${seconds(ms)} (boot included)\n`);
  const sum = (k) => results.reduce((n, r) => n + r[k], 0);
  // The one closing line CI reads.
  process.stdout.write(`${sum('passed')} passed, ${sum('failed')} failed, ${sum('skipped')} skipped\n`);
  return sum('failed') === 0 && results.length > 0;
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const t0 = Date.now();
  fs.mkdirSync(resultsDir, { recursive: true });
  if (args.hostPhase) {
    fs.writeFileSync(args.hostPhase, JSON.stringify(hostPhase(args)));
    return;
  }
  if (!buildPhase(args)) {
    process.stdout.write('0 passed, 1 failed\n');
    process.exit(1);
  }
  const results = [];
  const all = !args.guestOnly && !args.config && !args.nodeLines;
  const host = all && !args.hostOnly ? startHostPhase(args) : undefined;
  if (all && args.hostOnly) results.push(...hostPhase(args).results);
  if (!args.hostOnly && !args.nodeLines) {
    for (const config of GUEST_CONFIGS.filter((c) => !args.config || c.name === args.config)) {
      results.push(...(await guestSuite(config, args)));
    }
  }
  if (host) {
    say('guest configurations done; the host phase’s results next (it may still be running)…');
    const { results: hostResults, staged } = await host;
    results.unshift(...hostResults);
    const guest = lineGuest(args);
    results.push(...(await require('./node-lines').guestLines(staged, { countResults, jestExtra: args.jest, guest })));
  }
  if (args.nodeLines) results.push(...(await nodeLines(args)));
  // Last: npm pack's prepack rebuilds the addon (prebuildify), which empties build/, where the
  // C probes the guest suites run live.
  if (all) results.push(packageCheck());
  const ok = summarise(results);
  say(`done in ${seconds(Date.now() - t0)}`);
  process.exit(ok ? 0 : 1);
}

main().catch((e) => {
  process.stderr.write(`test: ${e.stack ?? e}\n`);
  process.stdout.write('0 passed, 1 failed\n');
  process.exit(1);
});
