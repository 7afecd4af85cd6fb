// One run of the emulated host: provision, build the initramfs, describe the guest, boot it,
// stream the command's output, and turn the way it ended into an exit status or a VmError.
import * as path from 'path';
import { RunConsoles } from './consoles';
import { GuestDevice, guestDevices } from './devices';
import { diagnose } from './diagnose';
import { VmError } from './errors';
import { applyDeviceDrivers, checkNoIommuSupport, guestAppend } from './guest-extras';
import { GUEST_WORK_DIR, Share, WORK_TAG, readGuestStatus, writeGuestSpec } from './guest-spec';
import { initramfs } from './initramfs';
import { KernelInfo } from './kernel';
import { BASE_MODULES } from './modules';
import {
  DEFAULT_MEMORY, DEFAULT_SMP, DEFAULT_TIMEOUT_SECONDS, RunOptions, defaultCacheDir,
} from './options';
import { projectDirFor } from './project';
import { provision } from './provision';
import { backendArgs } from './backends';
import { QemuPlan, qemuArgs } from './qemu';
import { QemuExit, runQemu } from './qemu-process';
import { withSampleDriver } from './sample-driver';
import { WorkDir, consoleLogPath, createWorkDir, nvmeImage, removeWorkDir } from './workdir';

export interface RunResult {
  /** The command's exit status (a signal-killed command reports 128+N, as sh does). */
  exitCode: number;
  kernel: KernelInfo;
  devices: Array<Pick<GuestDevice, 'name' | 'env' | 'bdf' | 'driver'>>;
  /** The ivshmem backing file; still there after the run only with keepIvshmem. */
  ivshmemFile?: string;
  /** The kernel console of this run (run mode). */
  consoleLog?: string;
  timings: {
    /** QEMU start to the command's start. */
    bootMs?: number;
    /** The command alone, as timed by the host between the init's markers. */
    commandMs?: number;
    /** The whole call, provisioning included. */
    totalMs: number;
  };
}

/** The command's environment: fixed variables, one per device, then the caller's. */
export function commandEnv(opts: RunOptions, projectDir: string, kernel: KernelInfo, devices: GuestDevice[], ivshmemFile?: string): Record<string, string> {
  const env: Record<string, string> = {
    PATH: `${path.join(projectDir, 'node_modules', '.bin')}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin`,
    HOME: '/root',
    NO_COLOR: '1',
    VFIO_VM: '1',
    VFIO_VM_KERNEL: kernel.kernelVersion,
    VFIO_VM_DEVICES: devices.map((d) => d.bdf).join(' '),
  };
  if (opts.interactive) env.TERM = process.env.TERM ?? 'vt100';
  for (const d of devices) env[d.env] = d.bdf;
  if (ivshmemFile) env.VFIO_VM_IVSHMEM_FILE = ivshmemFile;
  return { ...env, ...opts.env };
}

function shares(projectDir: string, work: WorkDir, withIvshmem: boolean): Share[] {
  const list: Share[] = [
    { tag: WORK_TAG, hostPath: work.share, guestPath: GUEST_WORK_DIR, readonly: false, cache: 'none' },
    // Host /usr read-only: the host's node and any host-built binary or addon run unchanged.
    { tag: 'usr', hostPath: '/usr', guestPath: '/usr', readonly: true, cache: 'loose' },
    // Cached like /usr: node resolving modules stats many files, and each uncached lookup is a
    // round trip through the emulated CPU (a jest start took 2-3 times as long with cache=mmap).
    // The host does not change the tree during a run; the guest's writes reach it at the latest
    // with the init's sync before power-off.
    { tag: 'project', hostPath: projectDir, guestPath: projectDir, readonly: false, cache: 'loose' },
  ];
  if (withIvshmem) {
    // No caching: the guest must see what QEMU's mapping of the file holds right now.
    list.push({ tag: 'ivshmem', hostPath: work.ivshmemDir, guestPath: work.ivshmemDir, readonly: true, cache: 'none' });
  }
  return list;
}

/** Boots the guest, runs opts.command in it, and resolves to its exit status. */
export async function run(opts: RunOptions): Promise<RunResult> {
  const started = Date.now();
  const cacheDir = opts.cacheDir ?? defaultCacheDir();
  const log = opts.log ?? (() => undefined);
  const cwd = path.resolve(opts.cwd ?? process.cwd());
  const projectDir = projectDirFor(cwd, opts.projectDir);
  if (!opts.interactive && opts.command.length === 0) throw new VmError('options', 'no command given');
  const kernel = await provision({ ...opts, cacheDir, log });
  opts = await withSampleDriver(opts, kernel, cacheDir);
  if (opts.noIommu) checkNoIommuSupport(kernel);
  const initrd = await initramfs({ kernel, modules: [...BASE_MODULES, ...(opts.modules ?? [])], cacheDir }, log);
  const work = createWorkDir();
  // Also on an abrupt exit of this process (an uncaught exception elsewhere): no temp dirs left.
  const cleanUp = () => removeWorkDir(work, !!opts.keepIvshmem);
  process.once('exit', cleanUp);
  try {
    const devices = applyDeviceDrivers(guestDevices(opts.devices ?? [], !opts.noDefaultDevices,
      { ivshmemFile: work.ivshmemFile, nvmeImage: nvmeImage(cacheDir) }), opts.deviceDrivers ?? {});
    const withIvshmem = devices.some((d) => d.env === 'VFIO_VM_IVSHMEM');
    const shareList = shares(projectDir, work, withIvshmem);
    writeGuestSpec(work.share, {
      mode: opts.interactive ? 'shell' : 'run',
      shares: shareList,
      devices,
      cwd,
      env: commandEnv(opts, projectDir, kernel, devices, withIvshmem ? work.ivshmemFile : undefined),
      command: opts.interactive ? ['/bin/sh'] : opts.command,
    });
    const plan: QemuPlan = {
      kernel, initrd, append: guestAppend(opts.append, !!opts.noIommu), noIommu: opts.noIommu, shares: shareList, devices,
      memory: opts.memory ?? DEFAULT_MEMORY, smp: opts.smp ?? DEFAULT_SMP, extraArgs: backendArgs(opts, cwd),
      consoles: opts.interactive ? { stdio: true } : { sockets: work.sockets },
    };
    const outcome = opts.interactive ? await boot(plan, opts, work) : await bootWithConsoles(plan, opts, work, cacheDir);
    return {
      exitCode: outcome.exitCode,
      kernel,
      devices: devices.map(({ name, env, bdf, driver }) => ({ name, env, bdf, driver })),
      ivshmemFile: withIvshmem && opts.keepIvshmem ? work.ivshmemFile : undefined,
      consoleLog: outcome.consoleLog,
      timings: { ...outcome.timings, totalMs: Date.now() - started },
    };
  } finally {
    process.removeListener('exit', cleanUp);
    cleanUp();
  }
}

interface Outcome {
  exitCode: number;
  consoleLog?: string;
  timings: { bootMs?: number; commandMs?: number };
}

const timeoutMs = (opts: RunOptions) => (opts.timeoutSeconds ?? DEFAULT_TIMEOUT_SECONDS) * 1000;

/** Interactive: the console is the terminal, so only the status file tells the result. */
async function boot(plan: QemuPlan, opts: RunOptions, work: WorkDir): Promise<Outcome> {
  const qemu = await runQemu({ args: qemuArgs(plan), interactive: true, timeoutMs: timeoutMs(opts), signal: opts.signal });
  const exitCode = diagnose({
    qemu, status: readGuestStatus(work.share), consoleTail: '', consoleLog: '(the terminal)',
    timeoutSeconds: opts.timeoutSeconds ?? DEFAULT_TIMEOUT_SECONDS,
  });
  return { exitCode, timings: {} };
}

/**
 * A panic before the init starts is never the command's doing; with the stock kernel it is an
 * emulation hiccup under host load, so such a boot is tried once more.
 */
const BOOT_ATTEMPTS = 2;

/** Run mode: consoles on sockets, markers timed, console log kept for diagnosis. */
async function bootWithConsoles(plan: QemuPlan, opts: RunOptions, work: WorkDir, cacheDir: string, attempt = 1): Promise<Outcome> {
  const consoleLog = consoleLogPath(cacheDir);
  const t0 = Date.now();
  const marks: { init?: number; start?: number; exit?: number; consoleStatus?: string; panicLine?: string } = {};
  const consoles = new RunConsoles(work.sockets, consoleLog,
    opts.stdout ?? process.stdout, opts.stderr ?? process.stderr, {
      onLine: (line) => {
        if (opts.verbose) opts.log?.(`[console] ${line}`);
        if (/Kernel panic/.test(line)) marks.panicLine ??= line;
        const m = /vfio-vm: (init|cmd start|cmd exit (\d+)|error .*)/.exec(line);
        if (!m) return;
        if (m[1] === 'init') marks.init = Date.now();
        else if (m[1] === 'cmd start') marks.start = Date.now();
        else if (m[2] !== undefined) { marks.exit = Date.now(); marks.consoleStatus = `exit ${m[2]}`; }
        else marks.consoleStatus = m[1];
      },
    });
  await consoles.listen();
  let qemu: QemuExit;
  try {
    qemu = await runQemu({
      args: qemuArgs(plan), interactive: false, timeoutMs: timeoutMs(opts), signal: opts.signal,
      verbose: opts.verbose ? opts.log : undefined,
    });
  } finally {
    await consoles.close();
  }
  if (marks.panicLine && marks.init === undefined && qemu.code === 0 && !qemu.timedOut && !qemu.aborted
      && attempt < BOOT_ATTEMPTS) {
    opts.log?.(`warning: the guest kernel panicked before its init (${marks.panicLine.trim()}; log: ${consoleLog}); booting again`);
    return bootWithConsoles(plan, opts, work, cacheDir, attempt + 1);
  }
  const exitCode = diagnose({
    qemu, status: readGuestStatus(work.share), consoleStatus: marks.consoleStatus, panicLine: marks.panicLine,
    consoleTail: consoles.tail(), consoleLog, timeoutSeconds: opts.timeoutSeconds ?? DEFAULT_TIMEOUT_SECONDS,
  });
  return {
    exitCode,
    consoleLog,
    timings: {
      bootMs: marks.start && marks.start - t0,
      commandMs: marks.start && marks.exit && marks.exit - marks.start,
    },
  };
}
