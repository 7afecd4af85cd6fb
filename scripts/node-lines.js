// npm test's Node.js lines phase: the host suite, and the default guest configuration's core
// files, on every LTS line scripts/node-lines.json pins other than the one running npm test
// (which runs everything already). Each line gets a staged copy of the tree under
// .vm-work/node-<line>/ (the working tree's files, the compiled dist/, the C test tools, a hard-link
// tree of node_modules) with the addon rebuilt by node-gyp against that line's own headers, so the
// main tree's build/ is never touched. The Node binaries come from the npm registry
// (scripts/node-fetch.js) and are cached beside the emulated host's files.
'use strict';
const { spawnSync } = require('child_process');
const fs = require('fs');
const path = require('path');
const { defaultCacheDir, fetchNode, pinnedVersion, pins } = require('./node-fetch');

/**
 * The guest files each extra line runs: the core of the library against the real kernel
 * (devices, regions and MMIO widths, DMA, interrupts). A whole guest suite per line would add
 * the full suite's time again for each line; the rest of the suite is line-independent
 * JavaScript over the same addon calls.
 */
const CORE_GUEST_FILES = ['smoke.test', 'device.test', 'mmio-width.test', 'dma.test', 'dma-limits.test', 'irq.test'];

const say = (line) => process.stderr.write(`\n[test] ${line}\n`);

/** The lines to run besides the current one (its major version). */
function extraLines() {
  const current = process.versions.node.split('.')[0];
  return Object.keys(pins.lines).filter((line) => line !== current);
}

/** npm's own node-gyp (npm tells scripts where it is), else the one beside this node's npm. */
function nodeGypScript() {
  const fromNpm = process.env.npm_config_node_gyp;
  if (fromNpm && fs.existsSync(fromNpm)) return fromNpm;
  const bundled = path.join(
    path.dirname(process.execPath),
    '..',
    'lib',
    'node_modules',
    'npm',
    'node_modules',
    'node-gyp',
    'bin',
    'node-gyp.js',
  );
  if (fs.existsSync(bundled)) return bundled;
  throw new Error('node-gyp not found: run through npm (npm test), which provides its own');
}

/** The working tree's files as git sees them (tracked and new, not ignored). */
function treeFiles(root) {
  const r = spawnSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], {
    cwd: root,
    encoding: 'utf8',
  });
  if (r.status !== 0) throw new Error(`git ls-files failed: ${r.stderr}`);
  return r.stdout.split('\0').filter((f) => f && fs.existsSync(path.join(root, f)));
}

/** The node binary (large, never written): a hard link when the cache shares the file system. */
function linkOrCopy(from, to) {
  fs.mkdirSync(path.dirname(to), { recursive: true });
  try {
    fs.linkSync(from, to);
  } catch {
    fs.copyFileSync(from, to);
    fs.chmodSync(to, fs.statSync(from).mode);
  }
}

/** A fresh copy of the tree for one line, with that line's node at .node/bin/node. */
function stage(root, resultsDir, line, nodeDir) {
  const dir = path.join(resultsDir, '..', `node-${line}`);
  fs.rmSync(dir, { recursive: true, force: true });
  // Copies, not links: nothing a run writes in the stage can reach the working tree.
  for (const f of treeFiles(root)) {
    fs.mkdirSync(path.dirname(path.join(dir, f)), { recursive: true });
    fs.copyFileSync(path.join(root, f), path.join(dir, f));
  }
  fs.cpSync(path.join(root, 'dist'), path.join(dir, 'dist'), { recursive: true });
  // A tree of hard links, not a symlink: host tests that boot a guest share the stage as the
  // project, and a link out of it would not resolve in the guest.
  const links = spawnSync('cp', ['-al', path.join(root, 'node_modules'), path.join(dir, 'node_modules')], {
    encoding: 'utf8',
  });
  if (links.status !== 0) throw new Error(`linking node_modules into ${dir} failed: ${links.stderr.trim()}`);
  linkOrCopy(path.join(nodeDir, 'bin', 'node'), path.join(dir, '.node', 'bin', 'node'));
  return dir;
}

function runLogged(label, program, args, options) {
  say(`${label}…`);
  const t0 = Date.now();
  const r = spawnSync(program, args, { stdio: 'inherit', ...options });
  const status = r.error ? 127 : (r.status ?? 128);
  say(`${label}: ${status === 0 ? 'ok' : `failed (exit ${status})`} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  return status;
}

/** jest's arguments for a staged tree, with scripts/test/reporter.js as the counting reporter. */
function jestArgs(dir, configFile, outputFile, extra) {
  const config = {
    rootDir: dir,
    ...require(path.join(dir, configFile)),
    reporters: ['default', [path.join(dir, 'scripts', 'test', 'reporter.js'), { outputFile }]],
  };
  return [
    path.join(dir, 'node_modules', 'jest', 'bin', 'jest.js'),
    `--config=${JSON.stringify(config)}`,
    '--ci',
    ...extra,
  ];
}

/**
 * Stages each extra line, builds its addon and runs its host suite. Returns one result per line
 * (counted by `countResults`, scripts/test.js) and the staged lines for `guestLines`: plain data,
 * so the host phase can run in its own process beside the guest configurations. `needTools`: the
 * staged trees get the C test tools the guest suite runs.
 */
function hostLines({ root, resultsDir, countResults, jestExtra = [], needTools = true, lines = extraLines() }) {
  const results = [];
  const staged = [];
  for (const line of lines) {
    const name = `node ${line}`;
    let dir;
    let nodeBin;
    try {
      const version = pinnedVersion(line);
      const nodeDir = fetchNode(version, defaultCacheDir(), (l) => say(`${name}: ${l}`));
      dir = stage(root, resultsDir, line, nodeDir);
      nodeBin = path.join(dir, '.node', 'bin', 'node');
      // binding.gyp runs `node -p` for its paths: that line's node comes first on PATH.
      const env = { ...process.env, PATH: `${path.dirname(nodeBin)}:${process.env.PATH}` };
      const built = runLogged(
        `${name}: addon (node-gyp rebuild against ${version}'s headers)`,
        nodeBin,
        [nodeGypScript(), 'rebuild', `--nodedir=${nodeDir}`],
        { cwd: dir, env },
      );
      if (built !== 0) {
        results.push({
          name: `${name} build`,
          passed: 0,
          failed: 1,
          skipped: 0,
          problems: ['node-gyp rebuild failed'],
        });
        continue;
      }
      // node-gyp rebuild starts from an empty build/: the C test tools (the guest suite's) go
      // back in after it.
      const tools = path.join(root, 'build', 'tools');
      if (fs.existsSync(tools)) fs.cpSync(tools, path.join(dir, 'build', 'tools'), { recursive: true });
      else if (needTools) throw new Error('build/tools is missing: scripts/build-tools.js builds it first');
    } catch (e) {
      results.push({ name, passed: 0, failed: 1, skipped: 0, problems: [String(e.message ?? e)] });
      continue;
    }
    const hostOut = path.join(resultsDir, `host-node${line}.json`);
    fs.rmSync(hostOut, { force: true });
    const hostStatus = runLogged(`${name}: host suite`, nodeBin, jestArgs(dir, 'jest.config.js', hostOut, jestExtra), {
      cwd: dir,
    });
    results.push(countResults(`host ${name}`, hostOut, hostStatus));
    staged.push({ name, line, dir, nodeBin });
  }
  return { results, staged };
}

/**
 * The default configuration's core guest files on each staged line (from `hostLines`): `guest`
 * is that configuration with `prepare` (its per-boot set-up) and `timeout`.
 */
async function guestLines(staged, { countResults, jestExtra = [], guest }) {
  const results = [];
  for (const { name, line, dir, nodeBin } of staged) {
    results.push(await guestOnLine(name, line, dir, nodeBin, countResults, jestExtra, guest));
  }
  return results;
}

/** Both halves in turn (`npm test -- --node-lines`); `guest` undefined runs the host suites only. */
async function nodeLinesPhase({ root, resultsDir, countResults, jestExtra = [], guest, lines = extraLines() }) {
  const host = hostLines({ root, resultsDir, countResults, jestExtra, needTools: Boolean(guest), lines });
  if (!guest) return host.results;
  return [...host.results, ...(await guestLines(host.staged, { countResults, jestExtra, guest }))];
}

async function guestOnLine(name, line, dir, nodeBin, countResults, jestExtra, guest) {
  const { run, VmError } = require(path.join(dir, 'dist', 'lib', 'vm'));
  // Inside the staged tree: it is the guest's project share, the only host folder the guest
  // writes (resultsDir, in the main tree, is not visible there).
  const outDir = path.join(dir, '.vm-work', 'test-results');
  fs.mkdirSync(outDir, { recursive: true });
  const out = path.join(outDir, `guest-${guest.config.name}-node${line}.json`);
  fs.rmSync(out, { force: true });
  guest.prepare();
  say(`${name}: guest "${guest.config.name}", core files (${CORE_GUEST_FILES.join(', ')})…`);
  const t0 = Date.now();
  let status;
  try {
    const result = await run({
      ...guest.config.options,
      command: [nodeBin, ...jestArgs(dir, 'jest.guest.config.js', out, [...jestExtra, ...CORE_GUEST_FILES])],
      cwd: dir,
      env: { VFIO_TEST_CONFIG: guest.config.name, ...guest.config.env },
      timeoutSeconds: guest.timeout,
      log: (l) => process.stderr.write(`vfio-vm: ${l}\n`),
    });
    status = result.exitCode;
  } catch (e) {
    if (!(e instanceof VmError)) throw e;
    say(`${name}: the emulated host failed (${e.kind}): ${e.message}`);
    status = 125;
  }
  say(`${name}: guest "${guest.config.name}" in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  return countResults(`guest ${guest.config.name} ${name}`, out, status);
}

module.exports = { CORE_GUEST_FILES, extraLines, guestLines, hostLines, nodeLinesPhase };
