// The guest's initramfs: the provisioned busybox-static, vm/init.sh as /init, and the kernel modules the
// guest must load, decompressed. Built once per set of inputs and cached:
//   <cache>/initramfs/<sha256 of the inputs>.cpio
//
// Layout inside:
//   /init                   vm/init.sh
//   /bin/busybox + links    every applet
//   /modules/*.ko           plain modules; /etc/vfio-vm/modules lists them in load order
//   /lib -> usr/lib, /lib64 -> usr/lib64   so host binaries run once host /usr is mounted
//   /dev/console            the kernel opens it for init's stdio before devtmpfs exists
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { CpioEntry, S_IFCHR, S_IFDIR, S_IFLNK, S_IFREG, cpioArchive } from '../core/cpio';
import { exec } from '../core/exec';
import { KernelInfo } from '../core/kernel';
import { DecompressTools, ModuleToLoad, loadOrder, moduleBytes, moduleIdentity } from '../kernel/modules';
import { packageRoot } from '../../addon/paths';

/** Bump when the layout changes, so old cached archives are not reused. */
const FORMAT = 1;

export interface InitramfsInputs {
  kernel: KernelInfo;
  /** Module names to load (with their dependencies). */
  modules: string[];
  cacheDir: string;
  /** The provisioned static busybox. */
  busybox: string;
  tools: DecompressTools;
}

export const initScriptPath = () => path.join(packageRoot(), 'vm', 'init.sh');

function cacheKey(inputs: InitramfsInputs, busybox: string): string {
  const st = fs.statSync(busybox);
  return crypto.createHash('sha256').update(JSON.stringify({
    FORMAT,
    init: fs.readFileSync(initScriptPath(), 'utf8'),
    busybox: [busybox, st.size, st.mtimeMs],
    kernel: [inputs.kernel.kernelVersion, inputs.kernel.modulesDir ?? null],
    modules: inputs.modules.map(moduleIdentity).sort(),
  })).digest('hex').slice(0, 24);
}

/** The cached initramfs for these inputs, built first if needed. */
export async function initramfs(inputs: InitramfsInputs, log: (l: string) => void = () => undefined): Promise<string> {
  const busybox = inputs.busybox;
  const file = path.join(inputs.cacheDir, 'initramfs', `${cacheKey(inputs, busybox)}.cpio`);
  if (fs.existsSync(file)) return file;
  log('building the initramfs…');
  const modules = await loadOrder(inputs.kernel.modulesDir, inputs.modules, inputs.tools);
  const archive = cpioArchive([...baseEntries(), ...await busyboxEntries(busybox), ...await moduleEntries(modules, inputs.tools)]);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.tmp-${process.pid}`;
  fs.writeFileSync(tmp, archive);
  fs.renameSync(tmp, file);
  return file;
}

const dir = (p: string): CpioEntry => ({ path: p, mode: S_IFDIR | 0o755 });
const link = (p: string, target: string): CpioEntry => ({ path: p, mode: S_IFLNK | 0o777, data: Buffer.from(target) });
const file = (p: string, data: Buffer | string, mode = 0o644): CpioEntry =>
  ({ path: p, mode: S_IFREG | mode, data: Buffer.from(data) });

function baseEntries(): CpioEntry[] {
  return [
    ...['bin', 'sbin', 'dev', 'etc', 'etc/vfio-vm', 'modules', 'proc', 'root', 'run', 'sys', 'tmp', 'usr']
      .map(dir),
    { path: 'dev/console', mode: S_IFCHR | 0o600, rdevMajor: 5, rdevMinor: 1 },
    link('lib', 'usr/lib'),
    link('lib64', 'usr/lib64'),
    file('init', fs.readFileSync(initScriptPath()), 0o755),
    // Programs that look up the current user (os.userInfo(), id) find root.
    file('etc/passwd', 'root:x:0:0:root:/root:/bin/sh\n'),
    file('etc/group', 'root:x:0:\n'),
  ];
}

async function busyboxEntries(busybox: string): Promise<CpioEntry[]> {
  const applets = (await exec(busybox, ['--list'])).stdout.toString().split('\n')
    .filter((a) => /^[\w.[-]+$/.test(a) && a !== 'busybox');
  return [
    file('bin/busybox', fs.readFileSync(busybox), 0o755),
    ...applets.map((a) => link(`bin/${a}`, 'busybox')),
  ];
}

async function moduleEntries(modules: ModuleToLoad[], tools: DecompressTools): Promise<CpioEntry[]> {
  const entries: CpioEntry[] = [];
  for (const m of modules) entries.push(file(`modules/${m.name}.ko`, await moduleBytes(m.file, tools)));
  const list = modules.map((m) => `${m.name} ${m.name}.ko\n`).join('');
  entries.push(file('etc/vfio-vm/modules', list));
  return entries;
}
