// One run of the emulated host: provision, build the initramfs, describe the guest, boot it,
// stream the command's output, and turn the way it ended into an exit status or a VmError.
import * as fs from 'fs';
import * as path from 'path';
import { AccelDecision, decideAccel, hostKvmFacts, kvmFunctionalCheck, tcgRerunReason, watchesForSilence } from './qemu/accel';
import { RunConsoles } from './qemu/consoles';
import { DeviceLayout, GuestDevice, guestDevices, rootPorts } from './qemu/devices';
import { diagnose } from './qemu/diagnose';
import { VmError } from './core/errors';
import { applyDeviceDrivers, checkNoIommuSupport, guestAppend } from './guest/guest-extras';
import { GUEST_WORK_DIR, Share, WORK_TAG, readGuestStatus, writeGuestSpec } from './qemu/guest-spec';
import { initramfs } from './guest/initramfs';
import { KernelInfo } from './core/kernel';
import { BASE_MODULES } from './kernel/modules';
import {
  DEFAULT_MEMORY, DEFAULT_SMP, DEFAULT_TIMEOUT_SECONDS, RunOptions, defaultCacheDir,
} from './options';
import { projectDirFor } from './core/project';
import { provisionHost } from './provision';
import { backendArgs } from './qemu/backends';
import { HOST_FIRMWARE_DIR, QemuPlan, qemuArgs } from './qemu/qemu';
import { QemuExit, runQemu } from './qemu/qemu-process';
import { startMonitor } from './monitor';
import { withSampleDriver } from './sample-driver';
import { externalModel, serveModel } from './model';
import { SHARED_GROUP_ENV, sharedGroupQemuArgs } from './qemu/shared-group';
import { Userland } from './archive/userland';
import { Tool, hostTool, runTool } from './archive/userland-tools';
import { WorkDir, consoleLogPath, createWorkDir, nvmeImage, removeWorkDir } from './core/workdir';

/** What a {@link run} reports: the command's status, what ran, and how long it took. */
export interface RunResult {
  /** The command's exit status (a signal-killed command reports 128+N, as sh does). */
  exitCode: number;
  /** The kernel the guest booted. */
  kernel: KernelInfo;
  /** The accelerator the guest ran under, and why (a KVM guest that stayed silent is rerun under TCG). */
  accel: AccelDecision;
  /** The QEMU that ran: its `--version` line and where it came from. */
  qemu: {
    /** Its `--version` line. */
    version: string;
    /** Whether it is the provisioned QEMU or one the caller named (`--qemu PATH`). */
    source: 'provisioned' | 'host';
    /** Its executable. */
    path: string;
  };
  /** The guest's VFIO devices: names, QEMU ids, variables, addresses and drivers. */
  devices: Array<Pick<GuestDevice, 'name' | 'id' | 'env' | 'bdf' | 'driver'>>;
  /** The ivshmem backing file; still there after the run only with keepIvshmem. */
  ivshmemFile?: string;
  /** The kernel console of this run (run mode). */
  consoleLog?: string;
  /** Durations in milliseconds. */
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
  if (opts.model || opts.modelSocket) env.VFIO_VM_MODEL_DMA = opts.modelDma ?? 'mapped';
  if (opts.sharedGroup) env[SHARED_GROUP_ENV] = '1';
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
  if (opts.model && opts.modelSocket) throw new VmError('options', 'model and modelSocket cannot be combined: choose one');
  const { kernel, userland } = await provisionHost({ ...opts, cacheDir, log });
  opts = await withSampleDriver(opts, kernel, cacheDir);
  if (opts.noIommu) checkNoIommuSupport(kernel);
  const initrd = await initramfs({
    kernel, modules: [...BASE_MODULES, ...(opts.modules ?? [])], cacheDir, busybox: userland.busybox, tools: userland,
  }, log);
  const qemu = await chooseQemu(opts.qemu, userland);
  const accel = await decideAccel(opts.accel ?? 'auto', hostKvmFacts(), () => kvmFunctionalCheck(qemu.tool));
  log(`${qemu.version} (${qemu.source === 'host' ? `--qemu ${qemu.path}` : 'provisioned'}), accelerator ${accel.accel}: ${accel.reason}`);
  const work = createWorkDir();
  // Also on an abrupt exit of this process (an uncaught exception elsewhere): no temp dirs left.
  const cleanUp = () => removeWorkDir(work, !!opts.keepIvshmem);
  process.once('exit', cleanUp);
  const model = opts.model ? serveModel(opts.model, cwd, work.dir, log)
    : opts.modelSocket ? externalModel(opts.modelSocket, cwd) : undefined;
  try {
    const layout: DeviceLayout = { ivshmemRootPort: opts.ivshmemRootPort, igb: opts.igb, sharedGroup: opts.sharedGroup };
    const sharedGroupPort = rootPorts(!opts.noDefaultDevices, layout).sharedGroup;
    const devices = applyDeviceDrivers([...guestDevices(opts.devices ?? [], !opts.noDefaultDevices,
      { ivshmemFile: work.ivshmemFile, nvmeImage: nvmeImage(cacheDir) }, layout),
    ...(model ? [model.device] : [])], opts.deviceDrivers ?? {});
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
      memory: opts.memory ?? DEFAULT_MEMORY, smp: opts.smp ?? DEFAULT_SMP,
      extraArgs: [...(sharedGroupPort ? sharedGroupQemuArgs(sharedGroupPort) : []), ...backendArgs(opts, cwd)],
      consoles: opts.interactive ? { stdio: true } : { sockets: work.sockets },
      accel: accel.accel, firmwareDir: qemu.firmwareDir,
      vfioUser: !!model, sharedRam: !!model && opts.modelDma !== 'messages', qmpSocket: opts.qmpSocket,
    };
    const boots: BootContext = { qemu: qemu.tool, fallBackToTcg: (opts.accel ?? 'auto') === 'auto' };
    const outcome = opts.interactive ? await boot(plan, opts, work, boots) : await bootWithConsoles(plan, opts, work, cacheDir, boots);
    return {
      exitCode: outcome.exitCode,
      kernel,
      accel: outcome.accel ?? accel,
      qemu: { version: qemu.version, source: qemu.source, path: qemu.path },
      devices: devices.map(({ name, id, env, bdf, driver }) => ({ name, id, env, bdf, driver })),
      ivshmemFile: withIvshmem && opts.keepIvshmem ? work.ivshmemFile : undefined,
      consoleLog: outcome.consoleLog,
      timings: { ...outcome.timings, totalMs: Date.now() - started },
    };
  } finally {
    model?.close();
    process.removeListener('exit', cleanUp);
    cleanUp();
  }
}

interface Outcome {
  exitCode: number;
  consoleLog?: string;
  timings: { bootMs?: number; commandMs?: number };
  /** Set when the run changed accelerator on the way (a silent KVM guest rerun under TCG). */
  accel?: AccelDecision;
}

interface ChosenQemu {
  tool: Tool;
  version: string;
  source: 'provisioned' | 'host';
  path: string;
  firmwareDir: string;
}

/** The provisioned QEMU, or the host's when asked for with --qemu PATH. */
async function chooseQemu(hostPath: string | undefined, userland: Userland): Promise<ChosenQemu> {
  if (!hostPath) {
    return { tool: userland.qemu, version: userland.info.qemuReports, source: 'provisioned', path: userland.qemu.prefix[2], firmwareDir: userland.firmwareDir };
  }
  const file = path.resolve(hostPath);
  try {
    fs.accessSync(file, fs.constants.X_OK);
  } catch {
    throw new VmError('options', `--qemu ${hostPath}: not an executable file`);
  }
  const tool = hostTool(file, path.basename(file));
  const version = (await runTool(tool, ['--version'], { kind: 'qemu' })).stdout.toString().split('\n')[0].trim();
  return { tool, version, source: 'host', path: file, firmwareDir: HOST_FIRMWARE_DIR };
}

interface BootContext {
  qemu: Tool;
  /** Whether a KVM guest with no console output is rerun under TCG (accel "auto"). */
  fallBackToTcg: boolean;
}

/**
 * A KVM guest whose kernel has written nothing by then is taken as stuck (a software-only KVM
 * runs the kernel through its instruction emulator): stopped and rerun under TCG.
 */
export const KVM_SILENCE_DEADLINE_MS = 20_000;

const timeoutMs = (opts: RunOptions) => (opts.timeoutSeconds ?? DEFAULT_TIMEOUT_SECONDS) * 1000;

/** Interactive: the console is the terminal, so only the status file tells the result. */
async function boot(plan: QemuPlan, opts: RunOptions, work: WorkDir, ctx: BootContext): Promise<Outcome> {
  const qemu = await runQemu({ qemu: ctx.qemu, args: qemuArgs(plan), interactive: true, timeoutMs: timeoutMs(opts), signal: opts.signal });
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
async function bootWithConsoles(plan: QemuPlan, opts: RunOptions, work: WorkDir, cacheDir: string, ctx: BootContext, attempt = 1): Promise<Outcome> {
  const consoleLog = consoleLogPath(cacheDir);
  const t0 = Date.now();
  const marks: { init?: number; start?: number; exit?: number; consoleStatus?: string; panicLine?: string; firstLine?: number } = {};
  // The run's own stop (a silent KVM guest), on top of the caller's signal.
  const stop = new AbortController();
  const stopWithCaller = () => stop.abort();
  opts.signal?.addEventListener('abort', stopWithCaller, { once: true });
  if (opts.signal?.aborted) stop.abort();
  let silent = false;
  const watchdog = watchesForSilence(plan.accel, ctx.fallBackToTcg) ? setTimeout(() => {
    if (marks.firstLine === undefined) { silent = true; stop.abort(); }
  }, KVM_SILENCE_DEADLINE_MS) : undefined;
  const consoles = new RunConsoles(work.sockets, consoleLog,
    opts.stdout ?? process.stdout, opts.stderr ?? process.stderr, {
      onLine: (line) => {
        marks.firstLine ??= Date.now();
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
  const monitor = await startMonitor(work, plan.devices, opts.onMonitor);
  let qemu: QemuExit;
  try {
    qemu = await runQemu({
      qemu: ctx.qemu, args: qemuArgs(plan), interactive: false, timeoutMs: timeoutMs(opts), signal: stop.signal,
      verbose: opts.verbose ? opts.log : undefined,
    });
  } finally {
    if (watchdog) clearTimeout(watchdog);
    opts.signal?.removeEventListener('abort', stopWithCaller);
    monitor.close();
    await consoles.close();
  }
  const why = tcgRerunReason({
    accel: plan.accel, auto: ctx.fallBackToTcg, consoleOutput: marks.firstLine !== undefined, stoppedSilent: silent, exit: qemu,
  }, KVM_SILENCE_DEADLINE_MS / 1000);
  if (why !== undefined) {
    opts.log?.(`warning: the guest under KVM gave ${why}; running it again under TCG (log: ${consoleLog})`);
    const rerun = await bootWithConsoles({ ...plan, accel: 'tcg' }, opts, work, cacheDir, ctx, attempt);
    return { ...rerun, accel: { accel: 'tcg', reason: `KVM guest gave ${why}` } };
  }
  if (marks.panicLine && marks.init === undefined && qemu.code === 0 && !qemu.timedOut && !qemu.aborted
      && attempt < BOOT_ATTEMPTS) {
    opts.log?.(`warning: the guest kernel panicked before its init (${marks.panicLine.trim()}; log: ${consoleLog}); booting again`);
    return bootWithConsoles(plan, opts, work, cacheDir, ctx, attempt + 1);
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
