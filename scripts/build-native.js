#!/usr/bin/env node
// Builds the addon offline with either node-gyp (`gyp`) or cmake-js (`cmake`).
// Both need Node's own headers; a distribution Node keeps them under <prefix>/include/node,
// and without `nodedir` node-gyp would try to download them (and fail offline).
'use strict';
const { spawnSync } = require('child_process');
const fs = require('fs');
const path = require('path');

const which = process.argv[2] || 'gyp';
const root = path.resolve(__dirname, '..');
const prefix = path.resolve(process.execPath, '../..');
const env = { ...process.env };
if (!env.npm_config_nodedir && fs.existsSync(path.join(prefix, 'include/node/node_api.h'))) {
  env.npm_config_nodedir = prefix;
}

function run(cmd, args) {
  console.error(`[build-native] ${path.basename(cmd)} ${args.join(' ')}`);
  const r = spawnSync(cmd, args, { cwd: root, env, stdio: 'inherit' });
  if (r.error) throw r.error;
  if (r.status !== 0) process.exit(r.status ?? 1);
}

function nodeGyp() {
  // npm exports the path of its bundled node-gyp to scripts; outside npm, find it beside npm.
  const candidates = [
    env.npm_config_node_gyp,
    path.join(prefix, 'lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js'),
  ].filter(Boolean);
  const found = candidates.find((p) => fs.existsSync(p));
  if (!found) throw new Error('node-gyp not found: install npm (it bundles node-gyp)');
  return found;
}

if (which === 'gyp') {
  // Extra arguments pass through (the benchmarks build their C baselines with --directory).
  run(
    process.execPath,
    [nodeGyp(), 'rebuild', `--nodedir=${env.npm_config_nodedir ?? ''}`, ...process.argv.slice(3)].filter(
      (a) => a !== '--nodedir=',
    ),
  );
} else if (which === 'cmake') {
  run(process.execPath, [
    require.resolve('cmake-js/bin/cmake-js', { paths: [root] }),
    'rebuild',
    '--config',
    'Release',
  ]);
} else {
  console.error(`usage: build-native.js gyp|cmake`);
  process.exit(2);
}
