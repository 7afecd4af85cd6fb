// Runs inside the emulated host: the passes of one guest configuration, one jest process each,
// one after the other in the same boot (scripts/test.js writes the plan). Each pass gets its
// own environment (e.g. the IOMMU backend) and writes its counts (scripts/test/reporter.js);
// this adds each pass's exit status and time beside them. Exit status: 0 when every pass did.
'use strict';
const { spawnSync } = require('child_process');
const fs = require('fs');

const plan = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
let status = 0;
for (const pass of plan.passes) {
  process.stderr.write(`\n[guest] pass "${pass.name}" (${JSON.stringify(pass.env)})…\n`);
  const t0 = Date.now();
  const r = spawnSync(process.execPath, pass.args, { stdio: 'inherit', env: { ...process.env, ...pass.env } });
  const exit = r.error ? 127 : (r.status ?? 128);
  fs.writeFileSync(pass.statusFile, JSON.stringify({ exit, ms: Date.now() - t0 }) + '\n');
  if (exit !== 0 && status === 0) status = exit;
}
process.exit(status);
