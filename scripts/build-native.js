#!/usr/bin/env node
// Builds the addon offline with node-gyp (`gyp`) or cmake-js (`cmake`), or the prebuilt addon
// that the package ships (`prebuild`: prebuilds/<platform>-<arch>/, made by prebuildify for the
// package's N-API version and loaded by node-gyp-build before any build/ output; `npm pack`
// runs it through the prepack script).
// All need Node's own headers; a distribution Node keeps them under <prefix>/include/node,
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

/**
 * prebuilds/linux-x64/vfio.napi.glibc.node (tagged with the C library: node-gyp-build on a musl
 * system then compiles instead of loading it). One N-API build serves every Node version with
 * that N-API level (package.json "binary.napi_versions", NAPI_VERSION in native/build.json).
 */
function prebuild() {
  const napi = require(path.join(root, 'package.json')).binary.napi_versions;
  const defined = require(path.join(root, 'native', 'build.json')).defines.find((d) => d.startsWith('NAPI_VERSION='));
  if (defined !== `NAPI_VERSION=${napi[0]}`) {
    console.error(
      `[build-native] package.json binary.napi_versions (${napi}) and native/build.json (${defined}) disagree`,
    );
    process.exit(1);
  }
  fs.rmSync(path.join(root, 'prebuilds'), { recursive: true, force: true });
  Object.assign(process.env, env);
  console.error(`[build-native] prebuildify --napi --tag-libc --strip (N-API ${napi[0]})`);
  const prebuildify = require(require.resolve('prebuildify', { paths: [root] }));
  prebuildify({ cwd: root, napi: true, tagLibc: true, strip: true, nodeGyp: nodeGyp() }, (err) => {
    if (err) {
      console.error(`[build-native] prebuildify failed: ${err.message}`);
      process.exit(1);
    }
    const dir = path.join(root, 'prebuilds', `${process.platform}-${process.arch}`);
    for (const f of fs.readdirSync(dir)) console.error(`[build-native] ${path.relative(root, path.join(dir, f))}`);
  });
}

if (which === 'gyp') {
  // Extra arguments pass through (the benchmarks build their C baselines with --directory).
  run(
    process.execPath,
    [nodeGyp(), 'rebuild', `--nodedir=${env.npm_config_nodedir ?? ''}`, ...process.argv.slice(3)].filter(
      (a) => a !== '--nodedir=',
    ),
  );
} else if (which === 'prebuild') {
  prebuild();
} else if (which === 'cmake') {
  run(process.execPath, [
    require.resolve('cmake-js/bin/cmake-js', { paths: [root] }),
    'rebuild',
    '--config',
    'Release',
  ]);
} else {
  console.error(`usage: build-native.js gyp|cmake|prebuild`);
  process.exit(2);
}
