#!/usr/bin/env node
// clang-format over every C and C++ source of native/ (Google style, native/.clang-format) and
// kernel/ (Linux kernel style, kernel/.clang-format): `--check` (the default) fails listing each
// file that is not formatted; `--fix` formats them in place. The binary comes with the
// clang-format devDependency, so every machine formats the same way. No file is skipped: the
// file list is every *.c, *.cc and *.h under the two folders.
'use strict';
const { spawnSync } = require('child_process');
const fs = require('fs');
const path = require('path');

const root = path.resolve(__dirname, '..');
const folders = ['native', 'kernel'];
const sources = /\.(c|cc|h)$/;

function walk(dir) {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return walk(p);
    return sources.test(e.name) ? [p] : [];
  });
}

function binary() {
  // The package's own lookup of the binary for this platform (node_modules/clang-format/index.js).
  const pkg = path.dirname(require.resolve('clang-format/package.json'));
  const bin = path.join(
    pkg,
    'bin',
    `${process.platform}_${process.arch === 'x64' ? 'x64' : process.arch}`,
    'clang-format',
  );
  if (!fs.existsSync(bin)) {
    console.error(`lint-native: no clang-format binary for ${process.platform}/${process.arch} in ${pkg}/bin`);
    process.exit(2);
  }
  return bin;
}

const fix = process.argv.includes('--fix');
const files = folders.flatMap((f) => walk(path.join(root, f))).sort();
const bin = binary();
const bad = [];
for (const file of files) {
  const args = fix ? ['-i', '--style=file', file] : ['--dry-run', '--Werror', '--style=file', file];
  const r = spawnSync(bin, args, { encoding: 'utf8' });
  if (r.status !== 0)
    bad.push({ file: path.relative(root, file), out: (r.stderr || r.stdout).split('\n').slice(0, 6).join('\n') });
}
if (bad.length) {
  for (const b of bad) console.error(`${b.file}:\n${b.out}`);
  console.error(
    `lint-native: ${bad.length} of ${files.length} file(s) ${fix ? 'could not be formatted' : 'are not clang-formatted'}; run \`npm run format:native\``,
  );
  process.exit(1);
}
console.log(`lint-native: ${files.length} file(s) ${fix ? 'formatted' : 'clang-formatted'}`);
