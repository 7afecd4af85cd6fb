// Kernel modules for the initramfs: finding them in a modules tree, ordering them by their
// dependencies (the module's own .modinfo "depends="), and decompressing them (busybox insmod
// reads only plain .ko files).
import * as fs from 'fs';
import * as path from 'path';
import * as zlib from 'zlib';
import { modinfo } from '../core/elf';
import { VmError } from '../core/errors';
import { Tool, runTool } from '../archive/userland-tools';

/**
 * Modules every guest needs, in load order: the virtio PCI transport and console first (built
 * in on newer Debian kernels, modules on 6.1, where 9pnet_virtio finds no channel for the
 * shares unless virtio_pci has bound the 9p devices before it loads), then 9p for the shares,
 * vfio-pci and the type1 IOMMU backend. Built-in ones are skipped.
 */
export const BASE_MODULES = ['virtio_pci', 'virtio_console', '9p', '9pnet_virtio', 'vfio_pci', 'vfio_iommu_type1'];

/** Module names are the same with '-' or '_' (the kernel normalises them to '_'). */
export const moduleName = (name: string) => name.replace(/-/g, '_');

const MODULE_FILE = /^(.*)\.ko(\.xz|\.zst|\.gz)?$/;

/** name → file of every module under modulesDir/kernel (and extra/, updates/). */
export function indexModules(modulesDir: string): Map<string, string> {
  const index = new Map<string, string>();
  const walk = (dir: string) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else {
        const m = MODULE_FILE.exec(e.name);
        if (m) index.set(moduleName(m[1]), p);
      }
    }
  };
  for (const sub of ['kernel', 'extra', 'updates']) {
    if (fs.existsSync(path.join(modulesDir, sub))) walk(path.join(modulesDir, sub));
  }
  return index;
}

/** Names listed in modules.builtin: present in the kernel image, nothing to load. */
export function builtinModules(modulesDir: string): Set<string> {
  const file = path.join(modulesDir, 'modules.builtin');
  if (!fs.existsSync(file)) return new Set();
  return new Set(fs.readFileSync(file, 'utf8').split('\n').filter(Boolean)
    .map((l) => moduleName(path.basename(l).replace(MODULE_FILE, '$1'))));
}

async function dependsOf(file: string, tools: DecompressTools): Promise<string[]> {
  const depends = modinfo(await moduleBytes(file, tools)).find(([k]) => k === 'depends')?.[1] ?? '';
  return depends.split(',').filter(Boolean).map(moduleName);
}

/** The decompressors of the provisioned userland (modules come as .ko.xz or .ko.zst). */
export interface DecompressTools {
  xz: Tool;
  zstd: Tool;
}

export interface ModuleToLoad {
  name: string;
  file: string;
}

/** Whether a requested module is a file (a .ko built outside the tree) rather than a name. */
export const isModuleFile = (spec: string) => spec.includes('/') || MODULE_FILE.test(spec);

/** What identifies a requested module for caching: a name, or a file with its size and mtime. */
export function moduleIdentity(spec: string): string {
  if (!isModuleFile(spec)) return spec;
  if (!fs.existsSync(spec)) throw new VmError('options', `module file ${spec} does not exist`);
  const st = fs.statSync(spec);
  return `${path.resolve(spec)}:${st.size}:${st.mtimeMs}`;
}

/**
 * The modules to insmod, dependencies first. Built-in modules are skipped; a module that is
 * neither built in nor in the tree is an error (its name says what the guest would miss).
 * A root may also be a .ko file (built against this kernel); its dependencies come from the tree.
 */
export async function loadOrder(modulesDir: string | undefined, roots: string[], tools: DecompressTools): Promise<ModuleToLoad[]> {
  const files = roots.filter(isModuleFile);
  if (!modulesDir && !files.length) return []; // a kernel without modules has everything built in
  const index = modulesDir ? indexModules(modulesDir) : new Map<string, string>();
  for (const f of files) {
    moduleIdentity(f); // fails clearly if the file is missing
    index.set(moduleName(path.basename(f).replace(MODULE_FILE, '$1')), path.resolve(f));
  }
  roots = roots.map((r) => (isModuleFile(r) ? path.basename(r).replace(MODULE_FILE, '$1') : r));
  const builtin = modulesDir ? builtinModules(modulesDir) : new Set<string>();
  const order: ModuleToLoad[] = [];
  const seen = new Set<string>();
  const visit = async (name: string, wantedBy: string[]) => {
    // Without a modules tree, whatever is not one of the given files is built in.
    if (seen.has(name) || builtin.has(name) || (!modulesDir && !index.has(name))) return;
    seen.add(name);
    const file = index.get(name);
    if (!file) {
      throw new VmError('provision', `kernel module ${name} not found in ${modulesDir}`
        + (wantedBy.length ? ` (needed by ${wantedBy.join(' → ')})` : ''));
    }
    for (const dep of await dependsOf(file, tools)) await visit(dep, [...wantedBy, name]);
    order.push({ name, file });
  };
  for (const root of roots) await visit(moduleName(root), []);
  return order;
}

/** The plain ELF bytes of a module file (.ko, .ko.xz, .ko.zst or .ko.gz). */
export async function moduleBytes(file: string, tools: DecompressTools): Promise<Buffer> {
  if (file.endsWith('.ko')) return fs.readFileSync(file);
  if (file.endsWith('.gz')) return zlib.gunzipSync(fs.readFileSync(file));
  return (await runTool(file.endsWith('.xz') ? tools.xz : tools.zstd, ['-dc', file])).stdout;
}
