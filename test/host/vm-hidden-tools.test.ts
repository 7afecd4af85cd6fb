// The emulated host needs no system tools: in a mount namespace where every copy of
// qemu-system-x86_64, busybox, flex, bison and bc on PATH is covered by an empty, non-executable
// file, `vfio-vm run -- true` boots the smallest guest with the provisioned, pinned QEMU, and the
// kernel build's flex, bison and bc come from the cache. Needs root (for the namespace) and the
// built dist/; one boot.
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { provisionKernelTools } from '../../lib/vm/archive/kernel-tools';
import { defaultCacheDir } from '../../lib/vm/options';
import { readPins, upstreamVersion } from '../../lib/vm/core/pins';

const HIDDEN = ['qemu-system-x86_64', 'busybox', 'flex', 'bison', 'bc'];
const ROOT = path.resolve(__dirname, '../..');
const VFIO_VM = path.join(ROOT, 'dist/lib/vm/cli/main.js');

/** Every copy of `tool` on PATH, symbolic links resolved (what a bind mount must cover). */
function copiesOnPath(tool: string): string[] {
  const dirs = (process.env.PATH ?? '').split(':').filter(Boolean);
  const found = dirs.map((d) => path.join(d, tool)).filter((f) => fs.existsSync(f));
  return [...new Set([...found, ...found.map((f) => fs.realpathSync(f))])];
}

const canUnshare = process.getuid?.() === 0 && spawnSync('unshare', ['-m', 'true']).status === 0;

(canUnshare ? describe : describe.skip)('the emulated host without system tools (needs root for unshare -m)', () => {
  it('boots with the provisioned QEMU and finds the kernel build tools in the cache', async () => {
    if (!fs.existsSync(VFIO_VM)) throw new Error(`${VFIO_VM} is missing: build with \`npx tsc -p tsconfig.json\``);
    const cacheDir = defaultCacheDir();
    const tools = await provisionKernelTools({ cacheDir });
    const empty = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'vfio-hidden-')), 'not-a-program');
    fs.writeFileSync(empty, '');
    fs.chmodSync(empty, 0o644);
    const covered = HIDDEN.flatMap(copiesOnPath);
    const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
    const script = [
      'set -e',
      ...covered.map((f) => `mount --bind ${q(empty)} ${q(f)}`),
      // Hidden: none of them runs any more, from PATH or by its path.
      `for t in ${HIDDEN.join(' ')} ${covered.map(q).join(' ')}; do if "$t" --version >/dev/null 2>&1; then echo "still runs: $t" >&2; exit 97; fi; done`,
      // The kernel build's tools, as the build puts them first on PATH.
      `for t in flex bison bc; do PATH=${q(tools.binDir)}:"$PATH" "$t" --version | head -n 1 | sed "s/^/tool $t: /" >&2; done`,
      `exec ${q(process.execPath)} ${q(VFIO_VM)} run --verbose --no-default-devices --timeout 600 -- true`,
    ].join('\n');
    const r = spawnSync('unshare', ['-m', '--propagation', 'private', '--', 'sh', '-c', script], {
      cwd: ROOT,
      encoding: 'utf8',
      timeout: 900_000,
    });
    fs.rmSync(path.dirname(empty), { recursive: true, force: true });
    const err = r.stderr;
    expect({ status: r.status, stillRuns: /still runs: .*/.exec(err)?.[0] }).toEqual({
      status: 0,
      stillRuns: undefined,
    });
    // There was something to hide on this machine (else the test proves little).
    expect(covered.some((f) => /qemu-system-x86_64$/.test(f))).toBe(true);
    for (const t of ['flex', 'bison', 'bc']) expect(err).toMatch(new RegExp(`^tool ${t}: \\S`, 'm'));
    // The run says which QEMU it used: the pinned version, provisioned, started from the cache.
    const pinned = upstreamVersion(readPins().qemu.version);
    expect(err).toMatch(
      new RegExp(`^vfio-vm: QEMU emulator version ${pinned.replace(/\./g, '\\.')} .*\\(provisioned\\)`, 'm'),
    );
    const commandLine = err.split('\n').find((l) => /qemu-system-x86_64\S* .*-machine/.test(l));
    expect(commandLine).toBeDefined();
    expect(commandLine).toContain(cacheDir);
    expect(commandLine).not.toMatch(/(^|\s)\/usr\/bin\/qemu-system-x86_64\s/);
  }, 900_000);
});
