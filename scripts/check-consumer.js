// The package as a consumer project sees it, after check-pack.js installed the packed tarball
// into a fresh project: strict TypeScript (a CommonJS file and an ES module, with
// `@ts-expect-error` cases for a misspelled event name, a wrong listener signature and an
// internal member) compiles against the published declarations, and a CommonJS and an ES module
// script import the package (and its `vfio/vm` and `vfio/nvme` subpaths) and read constants
// without a device. The fixtures are test/consumer/*. Throws an Error naming the difference.
'use strict';
const { spawnSync } = require('child_process');
const fs = require('fs');
const path = require('path');

const root = path.resolve(__dirname, '..');
const fixtures = path.join(root, 'test', 'consumer');

/** What both runtime scripts must print: the published values, read without a device. */
const EXPECTED = { PCI_COMMAND: 4, VFIO_API_VERSION: 0, VfioError: 'function', dnr: true };

function run(file, args, cwd) {
  const r = spawnSync(file, args, { cwd, encoding: 'utf8' });
  return { status: r.status ?? r.signal, out: `${r.stdout ?? ''}${r.stderr ?? ''}`.trim() };
}

/**
 * Runs the consumer checks in `project` (where node_modules/vfio is installed); `say` reports
 * progress. Uses this repository's TypeScript and @types/node: the project itself installed
 * nothing but the tarball.
 */
function checkConsumer(project, say) {
  for (const f of fs.readdirSync(fixtures)) fs.copyFileSync(path.join(fixtures, f), path.join(project, f));
  fs.writeFileSync(
    path.join(project, 'tsconfig.json'),
    JSON.stringify(
      {
        compilerOptions: {
          target: 'ES2022',
          module: 'node16',
          moduleResolution: 'node16',
          lib: ['ES2022', 'ESNext.Disposable', 'ESNext.AsyncIterable'],
          strict: true,
          noEmit: true,
          skipLibCheck: false,
          typeRoots: [path.join(root, 'node_modules', '@types')],
          types: ['node'],
        },
        files: ['cjs.ts', 'esm.mts'],
      },
      null,
      2,
    ),
  );
  say('strict TypeScript (CommonJS and ES module, @ts-expect-error cases) against the installed types…');
  const tsc = run(process.execPath, [path.join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', '.'], project);
  if (tsc.status !== 0) throw new Error(`the consumer's TypeScript did not compile:\n${tsc.out}`);

  for (const script of ['run.cjs', 'run.mjs']) {
    const r = run(process.execPath, [script], project);
    if (r.status !== 0) throw new Error(`${script} failed (exit ${r.status}):\n${r.out}`);
    let got;
    try {
      got = JSON.parse(r.out);
    } catch {
      throw new Error(`${script} printed no JSON:\n${r.out}`);
    }
    const wrong = Object.entries(EXPECTED).filter(([k, v]) => got[k] !== v);
    if (wrong.length || !(got.devices > 0)) throw new Error(`${script} read ${JSON.stringify(got)}`);
    say(`${script}: ${r.out}`);
  }
}

module.exports = { checkConsumer };
