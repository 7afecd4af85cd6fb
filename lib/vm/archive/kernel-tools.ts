// What building the custom kernel needs beyond a C compiler and make, from Debian's archive
// into the cache (vm/pins.json "kernelTools"): flex, bison, m4, bc and xz as programs, the
// libelf and openssl headers and libraries for the kernel's host programs (objtool,
// sign-file). They come from the oldest suite the project supports (bookworm): the host's
// compiler links the libraries, so they must not need a newer C library than the host's.
//
//   <cache>/kernel-tools/<key>/root/               the packages unpacked (dpkg -x)
//   <cache>/kernel-tools/<key>/root/vfio-vm-bin/   one wrapper per program, put first on PATH
//   <cache>/kernel-tools/<key>/manifest.json       versions and every file's size, written last
//
// The wrappers find the tree relative to themselves, so the cache can move.
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { PrivateApt, extractDeb } from './apt';
import { refreshLists } from './apt-lists';
import { withLock } from '../core/cache-lock';
import { commitEntry, readEntry } from '../core/cache-entry';
import { downloadPackages } from './download';
import { VmError } from '../core/errors';
import { DEFAULT_LISTS_MAX_AGE_SECONDS } from '../core/defaults';
import { Pins, readPins } from '../core/pins';

const FORMAT = 1;
const BIN = 'vfio-vm-bin';
const LIB_DIR = 'usr/lib/x86_64-linux-gnu';
/** The programs the kernel build runs, and where each package puts it. */
const PROGRAMS: Readonly<Record<string, string>> = {
  flex: 'usr/bin/flex', bison: 'usr/bin/bison', m4: 'usr/bin/m4', bc: 'usr/bin/bc', xz: 'usr/bin/xz',
};
/** Headers whose presence shows the -dev packages are complete. */
const HEADERS = ['usr/include/gelf.h', 'usr/include/openssl/opensslv.h'];

export interface KernelToolsInfo {
  key: string;
  suite: string;
  /** name → exact Debian version. */
  packages: Record<string, string>;
  provisionedAt: string;
}

export interface KernelTools {
  info: KernelToolsInfo;
  dir: string;
  /** Put first on PATH: flex, bison, m4, bc, xz. */
  binDir: string;
  /** Environment for make: PATH and what bison and flex look up (their m4, bison's data). */
  env: Record<string, string>;
  /** Kbuild variables for the host programs: the headers and libraries of the entry. */
  makeVariables: string[];
}

export function kernelToolsKey(pins: Pins): string {
  const hash = crypto.createHash('sha256').update(JSON.stringify([FORMAT, pins.kernelTools])).digest('hex').slice(0, 12);
  return `${pins.kernelTools.suite}-${hash}`;
}

function describe(dir: string, info: KernelToolsInfo, basePath: string): KernelTools {
  const root = path.join(dir, 'root');
  const binDir = path.join(root, BIN);
  const lib = path.join(root, LIB_DIR);
  return {
    info, dir, binDir,
    env: {
      PATH: `${binDir}:${basePath}`,
      M4: path.join(binDir, 'm4'),
      BISON_PKGDATADIR: path.join(root, 'usr', 'share', 'bison'),
    },
    makeVariables: [
      `HOSTCFLAGS=-I${path.join(root, 'usr', 'include')} -I${path.join(root, 'usr', 'include', 'x86_64-linux-gnu')}`,
      // rpath: objtool and sign-file run during the build and find the entry's libelf/libcrypto.
      `HOSTLDFLAGS=-L${lib} -Wl,-rpath,${lib}`,
    ],
  };
}

/** The provisioned build tools (provisioned or repaired first when needed). */
export async function provisionKernelTools(opts: { cacheDir: string; log?: (l: string) => void; listsMaxAgeSeconds?: number; pins?: Pins }): Promise<KernelTools> {
  const log = opts.log ?? (() => undefined);
  const pins = opts.pins ?? readPins();
  const base = path.join(opts.cacheDir, 'kernel-tools');
  const dir = path.join(base, kernelToolsKey(pins));
  const basePath = process.env.PATH ?? '/usr/bin:/bin';
  const read = () => {
    const s = readEntry<KernelToolsInfo>(dir);
    return s.state === 'ok' ? describe(dir, s.info, basePath) : s;
  };
  const first = read();
  if ('binDir' in first) return first;
  return withLock(base, async () => {
    const again = read();
    if ('binDir' in again) return again;
    if (again.state === 'damaged') log(`the cached kernel build tools ${dir} are damaged (${again.reason}); provisioning them again`);
    const apt = new PrivateApt(opts.cacheDir);
    await refreshLists(apt, opts.listsMaxAgeSeconds ?? DEFAULT_LISTS_MAX_AGE_SECONDS, log);
    await build(apt, pins, dir, log);
    const done = read();
    if (!('binDir' in done)) throw new VmError('provision', `the kernel build tools entry ${dir} did not verify after provisioning`);
    return done;
  }, { onWait: (pid) => log(`waiting for process ${pid}, which is provisioning the kernel build tools…`) });
}

async function build(apt: PrivateApt, pins: Pins, dir: string, log: (l: string) => void): Promise<void> {
  const { suite, packages } = pins.kernelTools;
  const step = `kernel build tools (${suite})`;
  const wanted = [];
  for (const name of packages) {
    const version = (await apt.versionsBySuite(name))[suite]?.[0];
    if (!version) throw new VmError('provision', `${step}: ${name} is not in ${suite}'s package lists`);
    wanted.push({ name, version });
  }
  const tmp = `${dir}.tmp-${process.pid}`;
  fs.rmSync(tmp, { recursive: true, force: true });
  try {
    const debs = await downloadPackages(apt, step, wanted, path.join(tmp, 'debs'), log);
    const root = path.join(tmp, 'root');
    for (const d of debs) {
      try {
        await extractDeb(d.file, root);
      } catch (e) {
        throw new VmError('provision', `${step}: unpacking ${path.basename(d.file)} failed: ${(e as Error).message}`);
      }
    }
    fs.rmSync(path.join(tmp, 'debs'), { recursive: true, force: true });
    for (const p of ['usr/share/doc', 'usr/share/man', 'usr/share/info']) fs.rmSync(path.join(root, p), { recursive: true, force: true });
    for (const f of [...Object.values(PROGRAMS), ...HEADERS]) {
      if (!fs.existsSync(path.join(root, f))) throw new VmError('provision', `${step}: the packages hold no ${f}`);
    }
    writeWrappers(root);
    const info: KernelToolsInfo = {
      key: path.basename(dir), suite,
      packages: Object.fromEntries(wanted.map((p) => [p.name, p.version])),
      provisionedAt: new Date().toISOString(),
    };
    commitEntry(tmp, dir, info);
    log(`${step}: ready (${wanted.length} packages) in ${dir}`);
  } catch (e) {
    fs.rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
}

/**
 * One sh wrapper per program: it runs the unpacked binary with the entry's libraries found
 * first (bc needs readline), the tree located from the wrapper's own path.
 */
function writeWrappers(root: string): void {
  const bin = path.join(root, BIN);
  fs.mkdirSync(bin, { recursive: true });
  for (const [name, rel] of Object.entries(PROGRAMS)) {
    fs.writeFileSync(path.join(bin, name), [
      '#!/bin/sh',
      'root="${0%/*}/.."',
      `LD_LIBRARY_PATH="$root/${LIB_DIR}\${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" exec "$root/${rel}" "$@"`,
      '',
    ].join('\n'), { mode: 0o755 });
  }
}
