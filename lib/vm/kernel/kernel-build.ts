// The recipe of the custom guest kernel: Debian's linux-source tarball, `tinyconfig` plus the
// project's fragment, a check that Kconfig kept every symbol, the compile, and an install into
// the directory layout `--kernel PATH` reads (lib/vm/kernel/kernel-path.ts):
//   vmlinux                     ELF with a PVH entry (booted directly), bzImage beside it
//   config                      the final .config
//   lib/modules/<release>/      modules_install (mdev.ko, mtty.ko, modules.builtin, modules.dep)
//   lib/modules/<release>/build -> ../../../build
//   build/                      a tree for out-of-tree modules: `make -C build M=DIR modules`
//                               (the kernel's own install-extmod-build: what a linux-headers
//                               package holds, with Module.symvers and the built host tools)
//   include/                    the uapi headers of exactly this kernel (what headers_install
//                               writes, copied here without the rsync it needs)
// The source and object trees (about 2 GB) are deleted after a success. After a failure they
// are kept, and the next attempt resumes: the unpacked source is reused and make only redoes
// what is missing.
import * as fs from 'fs';
import * as path from 'path';
import { BuildSteps } from './build-steps';
import { VmError } from '../core/errors';
import { which } from '../core/exec';
import { configMismatches, describeMismatches } from '../core/kconfig';
import { KernelTools } from '../archive/kernel-tools';

/**
 * What the build needs from the host: a C compiler and make (Debian's build-essential has
 * both). Everything else (flex, bison, bc, libelf, openssl, xz) is provisioned: kernel-tools.ts.
 */
const HOST_PROGRAMS = ['gcc', 'make'];

/** The host programs the build needs and this host lacks. */
export function missingBuildDependencies(): string[] {
  return HOST_PROGRAMS.filter((p) => !which(p));
}

export function checkBuildDependencies(): void {
  const missing = missingBuildDependencies();
  if (missing.length) {
    throw new VmError('missing-tool',
      `building the custom kernel needs a C compiler and make (${missing.join(', ')} not found): `
      + 'install them with `apt-get install build-essential`');
  }
}

export interface KernelBuildInputs {
  /** The linux-source .deb (it holds usr/src/linux-source-X.Y.tar.xz). */
  sourceDeb: string;
  /** The config fragment merged onto tinyconfig. */
  fragment: string;
  /** Scratch space for the source and object trees (may hold those of a failed attempt). */
  workDir: string;
  /** Where the kernel directory is installed (replaced if it exists). */
  stageDir: string;
  /** Parallel compile jobs. */
  jobs: number;
  /** The provisioned flex, bison, bc, libelf, openssl (PATH, environment, host flags). */
  tools: KernelTools;
}

export interface KernelBuildResult {
  /** The kernel release (uname -r). */
  release: string;
  /** Files the compile reported (an estimate of the work for the next build's progress). */
  compiled: number;
}

/** Runs the whole recipe; every step's output goes to steps' log. */
export async function buildKernel(inputs: KernelBuildInputs, steps: BuildSteps): Promise<KernelBuildResult> {
  const src = await steps.phase('unpacking the source', () => unpackSource(inputs, steps));
  const out = path.join(inputs.workDir, 'out');
  fs.mkdirSync(out, { recursive: true });
  // Kbuild variables go on every make command line, so each step sees the same build.
  const env = { ...process.env, ...inputs.tools.env };
  const make = (args: string[], nice = false) => steps.run(
    { program: 'make', args: ['-C', src, `O=${out}`, 'ARCH=x86_64', ...inputs.tools.makeVariables, ...args], nice, env },
    nice ? 'compiling' : undefined);

  await steps.phase(`configuring (tinyconfig + ${path.basename(inputs.fragment)})`, async () => {
    await make(['tinyconfig']);
    await steps.run({ program: path.join(src, 'scripts', 'kconfig', 'merge_config.sh'), args: ['-m', '.config', inputs.fragment], cwd: out, env });
    await make(['olddefconfig']);
  });
  await steps.phase('checking the configuration', () => {
    const mismatches = configMismatches(fs.readFileSync(inputs.fragment, 'utf8'), fs.readFileSync(path.join(out, '.config'), 'utf8'));
    if (mismatches.length) {
      throw new VmError('kernel-build', `${mismatches.length} symbol(s) of ${inputs.fragment} did not get the value asked for `
        + '(a dependency is off, or the symbol was renamed):\n' + describeMismatches(mismatches));
    }
  });
  const { compiled } = await steps.phase(`compiling (make -j${inputs.jobs} bzImage modules)`,
    () => make([`-j${inputs.jobs}`, 'bzImage', 'modules'], true));
  const release = fs.readFileSync(path.join(out, 'include', 'config', 'kernel.release'), 'utf8').trim();
  await steps.phase('installing', () => install(inputs.stageDir, out, release, make));
  return { release, compiled };
}

/**
 * dpkg -x the .deb, then untar the tarball it carries; returns the source tree. A tree that an
 * earlier attempt unpacked from the same .deb is reused (tar restores the files' times, so
 * make keeps the objects built from them).
 */
async function unpackSource(inputs: KernelBuildInputs, steps: BuildSteps): Promise<string> {
  const marker = path.join(inputs.workDir, 'unpacked.json');
  const deb = path.basename(inputs.sourceDeb);
  try {
    const done = JSON.parse(fs.readFileSync(marker, 'utf8')) as { deb: string; tree: string };
    const tree = path.join(inputs.workDir, done.tree);
    if (done.deb === deb && fs.existsSync(path.join(tree, 'Makefile'))) {
      steps.note('kernel build: reusing the source unpacked by the previous attempt');
      return tree;
    }
  } catch { /* nothing unpacked yet */ }
  fs.rmSync(marker, { force: true });
  const debRoot = path.join(inputs.workDir, 'deb');
  await steps.run({ program: 'dpkg', args: ['-x', inputs.sourceDeb, debRoot] });
  const srcDir = path.join(debRoot, 'usr', 'src');
  const tarball = fs.readdirSync(srcDir).find((f) => /^linux-source-.*\.tar\.(xz|gz|bz2|zst)$/.test(f));
  if (!tarball) throw new VmError('kernel-build', `${inputs.sourceDeb} holds no linux-source tarball in usr/src`);
  // tar runs xz for the .tar.xz: the provisioned one, through PATH.
  await steps.run({ program: 'tar', args: ['-xf', path.join(srcDir, tarball), '-C', inputs.workDir], env: { ...process.env, ...inputs.tools.env } });
  fs.rmSync(debRoot, { recursive: true, force: true });
  const tree = tarball.replace(/\.tar\.\w+$/, '');
  if (!fs.existsSync(path.join(inputs.workDir, tree, 'Makefile'))) throw new VmError('kernel-build', `${tarball} did not unpack to ${tree}/`);
  fs.writeFileSync(marker, JSON.stringify({ deb, tree }) + '\n');
  return path.join(inputs.workDir, tree);
}

type Make = (args: string[]) => Promise<unknown>;

async function install(stage: string, out: string, release: string, make: Make): Promise<void> {
  fs.rmSync(stage, { recursive: true, force: true });
  fs.mkdirSync(stage, { recursive: true });
  fs.copyFileSync(path.join(out, 'vmlinux'), path.join(stage, 'vmlinux'));
  fs.copyFileSync(path.join(out, 'arch', 'x86', 'boot', 'bzImage'), path.join(stage, 'bzImage'));
  fs.copyFileSync(path.join(out, '.config'), path.join(stage, 'config'));
  await make(['modules_install', `INSTALL_MOD_PATH=${stage}`]);
  // headers_install is `make headers` plus an rsync of the .h files; rsync is one more host
  // package to ask for, so the copy is done here.
  await make(['headers']);
  fs.cpSync(path.join(out, 'usr', 'include'), path.join(stage, 'include'), {
    recursive: true,
    filter: (src) => fs.statSync(src).isDirectory() || src.endsWith('.h'),
  });
  const buildTree = path.join(stage, 'build');
  // The kernel's own recipe for a linux-headers tree; run-command gives it srctree, CC and MAKE.
  await make(['run-command', `KBUILD_RUN_COMMAND=$(srctree)/scripts/package/install-extmod-build ${buildTree}`]);
  // Not copied by install-extmod-build, but what people (and some module Makefiles) look at.
  fs.copyFileSync(path.join(out, '.config'), path.join(buildTree, '.config'));
  // Relative, so the cache directory can move (CI restores it elsewhere).
  const modulesDir = path.join(stage, 'lib', 'modules', release);
  for (const name of ['build', 'source']) fs.rmSync(path.join(modulesDir, name), { force: true });
  fs.symlinkSync(path.relative(modulesDir, buildTree), path.join(modulesDir, 'build'));
}
