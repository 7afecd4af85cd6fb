#!/usr/bin/env node
// Builds the C test tools (test/tools/*.c) into build/tools/: statically linked when the C
// library allows it, so a tool runs unchanged in any guest; dynamically linked otherwise.
'use strict';
const { spawnSync } = require('child_process');
const fs = require('fs');
const path = require('path');

const root = path.resolve(__dirname, '..');
const out = path.join(root, 'build', 'tools');
const tools = ['vfio-probe'];
const flags = ['-std=gnu11', '-O2', '-Wall', '-Wextra', '-Werror', '-I', path.join(root, 'native')];

function gcc(args) {
  const r = spawnSync('gcc', args, { cwd: root, encoding: 'utf8' });
  if (r.error) {
    console.error(`[build-tools] gcc: ${r.error.message} (install it: apt-get install gcc)`);
    process.exit(1);
  }
  return r;
}

fs.mkdirSync(out, { recursive: true });
for (const tool of tools) {
  const src = path.join('test', 'tools', `${tool}.c`);
  const exe = path.join(out, tool);
  let r = gcc([...flags, '-static', src, '-o', exe]);
  let linkage = 'static';
  if (r.status !== 0 && /cannot find -lc|static/i.test(r.stderr)) {
    r = gcc([...flags, src, '-o', exe]); // no static libc here: a dynamic binary still runs on this host's /usr
    linkage = 'dynamic';
  }
  if (r.status !== 0) {
    process.stderr.write(r.stderr);
    console.error(`[build-tools] ${tool}: compilation failed`);
    process.exit(1);
  }
  console.error(`[build-tools] ${path.relative(root, exe)} (${linkage})`);
}

// Test-only Node-API modules (test/tools/*.c, loaded with require): built against the Node-API
// headers package, so one build loads in every Node.js line (Node-API is ABI-stable).
const addons = ['fork-helper'];
const napiInclude = path.join(path.dirname(require.resolve('node-api-headers/package.json')), 'include');
for (const addon of addons) {
  const src = path.join('test', 'tools', `${addon}.c`);
  const out = path.join(root, 'build', 'tools', `${addon}.node`);
  const r = gcc([...flags, '-Wno-unused-parameter', '-shared', '-fPIC', '-I', napiInclude, src, '-o', out]);
  if (r.status !== 0) {
    process.stderr.write(r.stderr);
    console.error(`[build-tools] ${addon}: compilation failed`);
    process.exit(1);
  }
  console.error(`[build-tools] ${path.relative(root, out)} (Node-API module)`);
}
