#!/usr/bin/env node
// The package as users get it: `npm pack` (its prepack script builds the prebuilt addon), then
// a fresh project installs the tarball with install scripts disabled and loads the addon from
// the prebuild; with the prebuild taken away, the first use throws a VfioError whose hint says
// how to build or approve the addon. In between, the project compiles strict TypeScript against
// the package and imports it from CommonJS and ES modules (check-consumer.js). Exits non-zero on
// any difference.
'use strict';
const { execFileSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { checkConsumer } = require('./check-consumer');

const root = path.resolve(__dirname, '..');
const npm = process.env.npm_execpath
  ? [process.execPath, process.env.npm_execpath]
  : [process.execPath, path.join(path.resolve(process.execPath, '../..'), 'lib/node_modules/npm/bin/npm-cli.js')];
const say = (line) => process.stderr.write(`[check-pack] ${line}\n`);
const run = (args, cwd) =>
  execFileSync(npm[0], [npm[1], ...args], { cwd, stdio: ['ignore', 'pipe', 'inherit'] }).toString();

function fail(message) {
  say(`FAILED: ${message}`);
  process.exit(1);
}

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'vfio-pack-'));
try {
  say('npm pack (prepack: TypeScript + prebuildify)…');
  // The lifecycle scripts (prepack's compile) write to the same stdout: the JSON is its last part.
  const out = run(['pack', '--json', '--pack-destination', work], root);
  const packed = JSON.parse(out.startsWith('[') ? out : out.slice(out.lastIndexOf('\n[\n') + 1));
  const files = packed[0].files.map((f) => f.path);
  const prebuild = files.find((f) => /^prebuilds\/linux-x64\/.*\.node$/.test(f));
  if (!prebuild) fail(`the tarball holds no prebuilds/linux-x64/*.node (files: ${files.length})`);
  if (files.some((f) => f.startsWith('build/'))) fail('the tarball holds build/ output');
  say(`${packed[0].filename}: ${files.length} files, ${prebuild}`);

  const project = path.join(work, 'project');
  fs.mkdirSync(project);
  fs.writeFileSync(
    path.join(project, 'package.json'),
    JSON.stringify({ name: 'uses-vfio', version: '1.0.0', private: true }),
  );
  say('npm install --ignore-scripts <tarball> in a fresh project…');
  run(
    ['install', '--ignore-scripts', '--no-audit', '--no-fund', '--offline', path.join(work, packed[0].filename)],
    project,
  );
  const installed = path.join(project, 'node_modules', 'vfio');
  if (fs.existsSync(path.join(installed, 'build'))) fail('an install with --ignore-scripts compiled something');
  for (const f of ['LICENSE', 'README.md', 'CHANGELOG.md']) {
    if (!fs.existsSync(path.join(installed, f))) fail(`the installed package has no ${f}`);
  }

  try {
    checkConsumer(project, say);
  } catch (e) {
    fail(e.message);
  }

  const probe = `
    const vfio = require('vfio');
    const { native } = require(${JSON.stringify(path.join(installed, 'dist/lib/addon/native.js'))});
    let out;
    try {
      const n = native();
      out = { loaded: true, pageSize: n.constants.PAGE_SIZE, exports: typeof vfio.Device };
    } catch (e) {
      out = { loaded: false, isVfioError: e instanceof vfio.VfioError, code: e.code, hint: e.hint };
    }
    process.stdout.write(JSON.stringify(out));`;
  const loaded = JSON.parse(execFileSync(process.execPath, ['-e', probe], { cwd: project }).toString());
  if (!loaded.loaded || loaded.pageSize !== 4096 || loaded.exports !== 'function')
    fail(`the prebuild did not load: ${JSON.stringify(loaded)}`);
  say(`the prebuild loads (PAGE_SIZE ${loaded.pageSize})`);

  fs.rmSync(path.join(installed, 'prebuilds'), { recursive: true, force: true });
  const missing = JSON.parse(execFileSync(process.execPath, ['-e', probe], { cwd: project }).toString());
  if (
    missing.loaded ||
    !missing.isVfioError ||
    missing.code !== 'ENOADDON' ||
    !/npm rebuild vfio/.test(missing.hint ?? '')
  ) {
    fail(`without the prebuild, the first use did not throw the VfioError with its hint: ${JSON.stringify(missing)}`);
  }
  say(`without it: VfioError ${missing.code}, hint: ${missing.hint}`);
  say('ok');
} finally {
  fs.rmSync(work, { recursive: true, force: true });
}
