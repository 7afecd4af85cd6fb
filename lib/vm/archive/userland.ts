// The emulated host's own userland, from Debian's archive into the cache: the pinned QEMU with
// its firmware and the shared libraries it loads, busybox-static for the guest, and xz/zstd
// for kernel images and modules. Nothing is installed into the host and no root is needed.
//
//   <cache>/userland/<key>/root/      the packages unpacked (dpkg -x), pruned
//   <cache>/userland/<key>/manifest.json   versions and every file's size, written last
//
// Programs are started through the extracted loader (userland-tools.ts). Started that way,
// QEMU takes the loader's directory as its own, and looks for its firmware and modules in a
// `qemu-bundle` directory there before its compiled-in /usr paths: the link
// usr/lib/x86_64-linux-gnu/qemu-bundle/usr -> <root>/usr keeps it inside the entry (without
// it, QEMU silently loads the host's firmware, and aborts on the host's modules).
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { PrivateApt, extractDeb } from './apt';
import { refreshLists } from './apt-lists';
import { withLock } from '../core/cache-lock';
import { EntryState, commitEntry, manifestBytes, readEntry } from '../core/cache-entry';
import { downloadPackages } from './download';
import { elfNeeded } from '../core/elf';
import { VmError } from '../core/errors';
import { DEFAULT_LISTS_MAX_AGE_SECONDS } from '../core/defaults';
import { Pins, readPins, upstreamVersion } from '../core/pins';
import { Tool, runTool } from './userland-tools';

/** Bump when the entry's layout changes, so old entries are provisioned again. */
const FORMAT = 1;
const LIB_DIR = 'usr/lib/x86_64-linux-gnu';
const LOADER = `${LIB_DIR}/ld-linux-x86-64.so.2`;
/** Programs of the entry that run on the host; their loader closure decides which libraries stay. */
const PROGRAMS = { qemu: 'usr/bin/qemu-system-x86_64', xz: 'usr/bin/xz', zstd: 'usr/bin/zstd' } as const;
const BUSYBOX = 'usr/bin/busybox';
/** Packages kept whole besides the programs' libraries: QEMU's data and firmware. */
const DATA_PACKAGES = ['qemu-system-common', 'qemu-system-data', 'seabios', 'ipxe-qemu'];
/** Never needed headless: the 32-bit system emulator, documentation, manual pages. */
const PRUNE = ['usr/bin/qemu-system-i386', 'usr/share/doc', 'usr/share/man', 'usr/share/lintian', 'usr/share/bug'];

/** The manifest of a provisioned userland cache entry. */
export interface UserlandInfo {
  /** The cache entry's name: derived from the pinned package versions. */
  key: string;
  /** The pinned Debian version of qemu-system-x86. */
  qemuPackageVersion: string;
  /** What the provisioned QEMU reports (`--version`, first line). */
  qemuReports: string;
  /** Every package the entry holds, name → exact Debian version. */
  packages: Record<string, string>;
  /** When the entry was provisioned (ISO 8601). */
  provisionedAt: string;
}

/** The provisioned userland: QEMU, the decompressors and busybox, ready to run. */
export interface Userland {
  /** Its manifest. */
  info: UserlandInfo;
  /** The cache entry's directory. */
  dir: string;
  /** The unpacked packages (the entry's `root/`). */
  root: string;
  /** Bytes on disk of the unpacked tree. */
  bytes: number;
  /** qemu-system-x86_64. */
  qemu: Tool;
  /** xz, for the Debian archives. */
  xz: Tool;
  /** zstd, for the Debian archives. */
  zstd: Tool;
  /** The static busybox (runs anywhere as it is). */
  busybox: string;
  /** QEMU's firmware directory (qboot.rom, …). */
  firmwareDir: string;
}

export interface UserlandOptions {
  cacheDir: string;
  log?: (line: string) => void;
  listsMaxAgeSeconds?: number;
  pins?: Pins;
}

export function userlandKey(pins: Pins): string {
  const hash = crypto.createHash('sha256').update(JSON.stringify([FORMAT, pins.qemu, pins.userland])).digest('hex').slice(0, 12);
  return `qemu-${upstreamVersion(pins.qemu.version)}-${hash}`;
}

/** The Tool that starts an entry's program through the entry's own loader. */
export function loaderTool(root: string, program: string): Tool {
  return {
    name: path.basename(program),
    file: path.join(root, LOADER),
    prefix: ['--library-path', path.join(root, LIB_DIR), path.join(root, program)],
  };
}

function describe(dir: string, info: UserlandInfo, bytes: number): Userland {
  const root = path.join(dir, 'root');
  return {
    info, dir, root, bytes,
    qemu: loaderTool(root, PROGRAMS.qemu),
    xz: loaderTool(root, PROGRAMS.xz),
    zstd: loaderTool(root, PROGRAMS.zstd),
    busybox: path.join(root, BUSYBOX),
    firmwareDir: path.join(root, 'usr', 'share', 'qemu'),
  };
}

function load(dir: string): { state: EntryState<UserlandInfo>; userland?: Userland } {
  const state = readEntry<UserlandInfo>(dir);
  if (state.state !== 'ok') return { state };
  const manifest = JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8')) as { files: Record<string, number | string> };
  return { state, userland: describe(dir, state.info, manifestBytes(manifest.files)) };
}

/** The provisioned userland of the pins, provisioned (or repaired) first if needed. */
export async function provisionUserland(opts: UserlandOptions): Promise<Userland> {
  const log = opts.log ?? (() => undefined);
  const pins = opts.pins ?? readPins();
  const base = path.join(opts.cacheDir, 'userland');
  const dir = path.join(base, userlandKey(pins));
  const first = load(dir);
  if (first.userland) return first.userland;
  return withLock(base, async () => {
    const again = load(dir);
    if (again.userland) return again.userland;
    if (again.state.state === 'damaged') log(`the cached userland ${dir} is damaged (${again.state.reason}); provisioning it again`);
    const apt = new PrivateApt(opts.cacheDir);
    await refreshLists(apt, opts.listsMaxAgeSeconds ?? DEFAULT_LISTS_MAX_AGE_SECONDS, log);
    const info = await build(apt, pins, dir, log);
    const done = load(dir);
    if (!done.userland) throw new VmError('provision', `the userland entry ${dir} did not verify after provisioning`);
    log(`QEMU ${upstreamVersion(info.qemuPackageVersion)} (${info.qemuReports}) and busybox ready: ${Object.keys(info.packages).length} packages, ${(done.userland.bytes / 1e6).toFixed(0)} MB in ${dir}`);
    return done.userland;
  }, { onWait: (pid) => log(`waiting for process ${pid}, which is provisioning QEMU…`) });
}

/** Resolves, downloads, unpacks, prunes and checks the entry; returns what it holds. */
async function build(apt: PrivateApt, pins: Pins, dir: string, log: (l: string) => void): Promise<UserlandInfo> {
  const step = `QEMU ${upstreamVersion(pins.qemu.version)}`;
  await checkPinAvailable(apt, pins);
  const closure = await apt.closure([`${pins.qemu.package}=${pins.qemu.version}`, ...pins.userland.packages], pins.qemu.suite)
    .catch((e: Error) => { throw new VmError('provision', `${step}: apt cannot resolve its packages: ${e.message}`); });
  const tmp = `${dir}.tmp-${process.pid}`;
  fs.rmSync(tmp, { recursive: true, force: true });
  try {
    const debs = await downloadPackages(apt, step, closure, path.join(tmp, 'debs'), log);
    log(`${step}: unpacking ${debs.length} packages and keeping what QEMU, busybox, xz and zstd load…`);
    for (const d of debs) await extractStep(step, d.file, path.join(tmp, 'pkgs', d.name));
    const keep = keptPackages(path.join(tmp, 'pkgs'), pins);
    const root = path.join(tmp, 'root');
    for (const d of debs.filter((x) => keep.has(x.name))) await extractStep(step, d.file, root);
    fs.rmSync(path.join(tmp, 'pkgs'), { recursive: true, force: true });
    fs.rmSync(path.join(tmp, 'debs'), { recursive: true, force: true });
    for (const p of PRUNE) fs.rmSync(path.join(root, p), { recursive: true, force: true });
    const bundle = path.join(root, LIB_DIR, 'qemu-bundle');
    fs.mkdirSync(bundle, { recursive: true });
    fs.symlinkSync('../../../../usr', path.join(bundle, 'usr'));
    const qemuReports = await selfCheck(step, root);
    const info: UserlandInfo = {
      key: path.basename(dir),
      qemuPackageVersion: pins.qemu.version,
      qemuReports,
      packages: Object.fromEntries(closure.filter((p) => keep.has(p.name)).map((p) => [p.name, p.version])),
      provisionedAt: new Date().toISOString(),
    };
    commitEntry(tmp, dir, info);
    return info;
  } catch (e) {
    fs.rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
}

async function extractStep(step: string, deb: string, dest: string): Promise<void> {
  try {
    await extractDeb(deb, dest);
  } catch (e) {
    throw new VmError('provision', `${step}: unpacking ${path.basename(deb)} failed: ${(e as Error).message}`);
  }
}

/** The pinned QEMU must be in the lists: say which versions are, and where the pin lives. */
async function checkPinAvailable(apt: PrivateApt, pins: Pins): Promise<void> {
  const bySuite = await apt.versionsBySuite(pins.qemu.package);
  if (Object.values(bySuite).some((vs) => vs.includes(pins.qemu.version))) return;
  const offered = Object.entries(bySuite).map(([s, vs]) => `${vs.join(', ')} (${s})`).join('; ') || 'none';
  throw new VmError('provision', `${pins.qemu.package} ${pins.qemu.version}, pinned in vm/pins.json, is not in Debian's `
    + `archive any more; it offers ${offered}. Pin one of those in vm/pins.json (its "qemu" entry).`);
}

/**
 * The packages to keep: the pinned ones, QEMU's data and firmware, and the owners of every
 * library in the loader closure of the host-run programs (libc6 included: it brings the loader).
 */
export function keptPackages(pkgsDir: string, pins: Pins): Set<string> {
  const owners = new Map<string, string>(); // library file name → package
  const where = new Map<string, string>(); // library file name → path
  for (const pkg of fs.readdirSync(pkgsDir)) {
    for (const libDir of [LIB_DIR, 'lib/x86_64-linux-gnu', 'usr/lib64']) {
      const d = path.join(pkgsDir, pkg, libDir);
      if (!fs.existsSync(d)) continue;
      for (const f of fs.readdirSync(d)) {
        if (!owners.has(f) || fs.lstatSync(path.join(d, f)).isFile()) {
          owners.set(f, pkg);
          where.set(f, path.join(d, f));
        }
      }
    }
  }
  const keep = new Set<string>([pins.qemu.package, ...pins.userland.packages, ...DATA_PACKAGES]);
  const seen = new Set<string>();
  const queue = Object.values(PROGRAMS).map((prog) => {
    const pkg = [...keep].find((p) => fs.existsSync(path.join(pkgsDir, p, prog)));
    if (!pkg) throw new VmError('provision', `no provisioned package holds ${prog}`);
    return path.join(pkgsDir, pkg, prog);
  });
  queue.push(where.get('ld-linux-x86-64.so.2') ?? '');
  for (let file = queue.pop(); file !== undefined; file = queue.pop()) {
    if (!file || seen.has(file)) continue;
    seen.add(file);
    for (const soname of elfNeeded(resolveInside(pkgsDir, file))) {
      const owner = owners.get(soname);
      if (!owner) throw new VmError('provision', `${path.basename(file)} needs ${soname}, which no package of the closure provides`);
      keep.add(owner);
      queue.push(where.get(soname) ?? '');
    }
  }
  keep.add(owners.get('ld-linux-x86-64.so.2') ?? 'libc6');
  return keep;
}

/** Follows symlinks of an unpacked package inside it (an absolute target means the package's own root). */
function resolveInside(pkgsDir: string, file: string): string {
  const pkgRoot = path.join(pkgsDir, path.relative(pkgsDir, file).split(path.sep)[0]);
  let f = file;
  for (let i = 0; i < 16 && fs.lstatSync(f).isSymbolicLink(); i++) {
    const t = fs.readlinkSync(f);
    f = path.isAbsolute(t) ? path.join(pkgRoot, t) : path.join(path.dirname(f), t);
  }
  return f;
}

/** Runs the unpacked QEMU once: its version line, or an error naming what failed. */
async function selfCheck(step: string, root: string): Promise<string> {
  if (!fs.existsSync(path.join(root, LOADER))) throw new VmError('provision', `${step}: the unpacked tree has no ${LOADER}`);
  try {
    const out = (await runTool(loaderTool(root, PROGRAMS.qemu), ['--version'])).stdout.toString();
    return out.split('\n')[0].trim();
  } catch (e) {
    throw new VmError('provision', `${step}: the unpacked QEMU does not start: ${(e as Error).message}`);
  }
}
