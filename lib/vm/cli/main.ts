#!/usr/bin/env node
// vfio-vm: the emulated VFIO host on the command line. Exit status: the command's own, or
// 124 when the run timed out, 130 when it was interrupted, 125 when the host could not be set
// up or the guest failed (the message says which and quotes the kernel console).
import { Command, CommanderError, Option } from 'commander';
import pc from 'picocolors';
import { packageVersion } from '../../addon/paths';
import { table } from '../../text/table';
import { dropOutputOnEpipe, oneLineUsageErrors, shortUsage } from '../../text/usage';
import { ACCEL_CHOICES, AccelChoice } from '../qemu/accel';
import { kernelCommands } from './kernel';
import { kernelsCommand } from './kernels';
import { defaultDevices } from '../qemu/devices';
import { VmError } from '../core/errors';
import { parseDriverAssignment } from '../guest/guest-extras';
import { provisionKernelTools } from '../archive/kernel-tools';
import { CUSTOM_KERNEL, DEFAULT_MEMORY, DEFAULT_SMP, DEFAULT_TIMEOUT_SECONDS, RunOptions, defaultCacheDir, parseEnvAssignment } from '../options';
import { provisionHost } from '../provision';
import { run } from '../run';

export const EXIT_TIMEOUT = 124;
export const EXIT_HOST_FAILURE = 125;
/** Stopped by Ctrl-C or SIGTERM (128 + SIGINT, as shells report it). */
export const EXIT_CANCELLED = 130;
/** A usage error (unknown option, missing argument), as `vfio` reports it. */
export const EXIT_USAGE = 2;

const log = (line: string) => process.stderr.write(`vfio-vm: ${line}\n`);
const collect = (value: string, previous: string[]) => [...previous, value];

interface CommonFlags {
  kernel?: string;
  cacheDir?: string;
  verbose?: boolean;
}

interface GuestFlags extends CommonFlags {
  device: string[];
  defaultDevices: boolean;
  ivshmemRootPort?: boolean;
  igb?: boolean;
  sharedGroup?: boolean;
  append?: string;
  memory: string;
  smp: string;
  timeout: string;
  env: string[];
  keepIvshmem?: boolean;
  projectDir?: string;
  iommu: boolean;
  module: string[];
  driver: string[];
  sampleDriver?: string;
  model?: string;
  modelDma?: string;
  drive: string[];
  netdev: string[];
  qemuArg: string[];
  qemu?: string;
  accel: AccelChoice;
  qmp?: string;
}

function commonOptions(cmd: Command): Command {
  return cmd
    .option('--kernel <name|version|path|custom>', 'a pinned kernel\'s name (`vfio-vm kernels`; default: the pinned default), another Debian kernel release, a kernel file/dir, or "custom" (built from kernel/guest.config)')
    .option('--cache-dir <dir>', `cache directory (default: ${defaultCacheDir()})`)
    .option('--verbose', 'show the QEMU command line and the kernel console');
}

function guestOptions(cmd: Command): Command {
  return commonOptions(cmd)
    .option('--device <spec>', 'extra QEMU -device, bound to vfio-pci (repeatable)', collect, [])
    .option('--drive <spec>', 'QEMU -drive for a --device to name (if=none unless given), e.g. file=disk.img,id=d1,format=raw (repeatable)', collect, [])
    .option('--netdev <spec>', 'QEMU -netdev for a --device to name, e.g. user,id=n1 (repeatable)', collect, [])
    .option('--qemu-arg <arg>', 'any further QEMU argument, passed as is (repeatable; one word each)', collect, [])
    .option('--no-default-devices', 'leave out edu, ivshmem, nvme and pci-testdev')
    .option('--ivshmem-root-port', 'put ivshmem behind a PCIe root port of its own (0000:02:00.0), which gives it a bus reset')
    .option('--igb', 'add an SR-IOV igb (82576, up to 8 VFs) behind a root port of its own, BDF in VFIO_VM_IGB')
    .option('--shared-group', 'add a two-function device (edu + virtio-rng) sharing one IOMMU group behind a root port of its own, left unbound')
    .option('--append <args>', 'extra kernel command line (NAME.PARAM=V is passed to module NAME)')
    .option('--memory <size>', 'guest memory', DEFAULT_MEMORY)
    .option('--smp <n>', 'guest CPUs', String(DEFAULT_SMP))
    .option('--timeout <seconds>', 'stop the guest after this long', String(DEFAULT_TIMEOUT_SECONDS))
    .option('--env <K=V>', 'environment variable for the command (repeatable)', collect, [])
    .option('--project-dir <dir>', 'directory shared read-write (default: nearest package.json above the current directory)')
    .addOption(new Option('--keep-ivshmem', 'keep the ivshmem backing file after the run and print its path'))
    .option('--qmp <socket>', 'QEMU also serves a QMP monitor on this unix socket, for a host-side program (e.g. device_del to hot-unplug a device by its id, `vfio-vm list-devices`)')
    .option('--qemu <path>', 'run this host QEMU binary instead of the provisioned one (pinned in vm/pins.json)')
    .addOption(new Option('--accel <accel>', 'kvm, tcg, or auto: KVM when hardware virtualisation really works (a silent KVM guest is rerun under TCG)')
      .choices(ACCEL_CHOICES as string[]).default('auto'))
    .option('--no-iommu', 'no emulated IOMMU: vfio-pci in no-IOMMU mode (needs --kernel custom)')
    .option('--module <name|file.ko>', 'kernel module to load at boot, with its dependencies (repeatable)', collect, [])
    .option('--driver <dev=driver>', 'bind device (name or BDF) to this driver instead of vfio-pci (repeatable)', collect, [])
    .option('--model <file.js>', 'serve this device model over vfio-user as a vfio-user-pci device at 0000:00:07.0 (VFIO_VM_MODEL; docs/device-models.md)')
    .option('--model-dma <mapped|messages>', 'how the model reaches guest memory: guest RAM mapped (default) or DMA messages')
    .option('--sample-driver <device>', 'build the sample WC variant driver (kernel/vfio-pci-wc-sample) against the kernel, load it and bind DEVICE to it (needs --kernel custom)');
}

function positiveInt(name: string, text: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n <= 0) throw new VmError('options', `${name} expects a positive integer, got "${text}"`);
  return n;
}

function modelDma(text: string | undefined): RunOptions['modelDma'] {
  if (text === undefined || text === 'mapped' || text === 'messages') return text;
  throw new VmError('options', `--model-dma expects mapped or messages, got "${text}"`);
}

function runOptions(flags: GuestFlags, command: string[], signal: AbortSignal): RunOptions {
  return {
    command,
    kernel: flags.kernel,
    cacheDir: flags.cacheDir,
    verbose: flags.verbose,
    devices: flags.device,
    noDefaultDevices: !flags.defaultDevices,
    ivshmemRootPort: flags.ivshmemRootPort,
    igb: flags.igb,
    sharedGroup: flags.sharedGroup,
    append: flags.append,
    memory: flags.memory,
    smp: positiveInt('--smp', flags.smp),
    timeoutSeconds: positiveInt('--timeout', flags.timeout),
    env: Object.fromEntries(flags.env.map(parseEnvAssignment)),
    keepIvshmem: flags.keepIvshmem,
    projectDir: flags.projectDir,
    noIommu: !flags.iommu,
    modules: flags.module,
    deviceDrivers: Object.fromEntries(flags.driver.map(parseDriverAssignment)),
    sampleDriver: flags.sampleDriver,
    model: flags.model,
    modelDma: modelDma(flags.modelDma),
    drives: flags.drive,
    netdevs: flags.netdev,
    qemuArgs: flags.qemuArg,
    qemu: flags.qemu,
    accel: flags.accel,
    qmpSocket: flags.qmp,
    log,
    signal,
  };
}

/**
 * Ctrl-C or SIGTERM stops the guest cleanly (temp files removed) instead of orphaning it.
 * Returns the function that removes the handlers again.
 */
function abortOnSignals(ac: AbortController): () => void {
  const onSignal = () => ac.abort();
  const signals = ['SIGINT', 'SIGTERM'] as const;
  for (const sig of signals) process.on(sig, onSignal);
  return () => { for (const sig of signals) process.removeListener(sig, onSignal); };
}

async function runCommand(command: string[], flags: GuestFlags, interactive: boolean): Promise<number> {
  const ac = new AbortController();
  // An interactive shell gets Ctrl-C itself (the terminal is raw); a run stops on it.
  const release = interactive ? () => undefined : abortOnSignals(ac);
  const result = await run({ ...runOptions(flags, command, ac.signal), interactive }).finally(release);
  if (result.ivshmemFile) log(`ivshmem backing file kept: ${result.ivshmemFile}`);
  if (flags.verbose) {
    const t = result.timings;
    log(`boot ${t.bootMs ?? '?'} ms, command ${t.commandMs ?? '?'} ms, total ${t.totalMs} ms; console log: ${result.consoleLog ?? '-'}`);
  }
  return result.exitCode;
}

async function provisionCommand(flags: CommonFlags & { json?: boolean }): Promise<number> {
  const { kernel, userland } = await provisionHost({ kernel: flags.kernel, cacheDir: flags.cacheDir, log });
  const qemu = {
    version: userland.info.qemuReports,
    packageVersion: userland.info.qemuPackageVersion,
    directory: userland.dir,
    bytes: userland.bytes,
    packages: userland.info.packages,
  };
  // The custom kernel's build tools, when that is the kernel: provisioned with it.
  const tools = flags.kernel === CUSTOM_KERNEL
    ? (await provisionKernelTools({ cacheDir: flags.cacheDir ?? defaultCacheDir(), log })).info : undefined;
  if (flags.json) process.stdout.write(JSON.stringify({ kernel, userland: qemu, kernelTools: tools }, null, 2) + '\n');
  else {
    for (const [k, v] of Object.entries(kernel)) {
      if (v !== undefined) process.stdout.write(`${k.padEnd(15)} ${v}\n`);
    }
    process.stdout.write(`${'qemu'.padEnd(15)} ${qemu.version}\n${'userland'.padEnd(15)} ${qemu.directory} `
      + `(${Object.keys(qemu.packages).length} packages, ${(qemu.bytes / 1e6).toFixed(0)} MB; versions: --json)\n`);
  }
  return 0;
}

function listDevices(): number {
  // The table style of `vfio`: borderless, bold heads only on a terminal (picocolors honours NO_COLOR).
  const c = pc.createColors(pc.isColorSupported && (!!process.stdout.isTTY || 'FORCE_COLOR' in process.env));
  const rows = defaultDevices.map((d) => [d.name, d.bdf, d.env, d.purpose]);
  process.stdout.write(table(['DEVICE', 'BDF', 'VARIABLE', 'PURPOSE'], rows, { head: (h) => c.bold(h), maxWidths: [undefined, undefined, undefined, 60] }) + '\n');
  process.stdout.write('Each device sits in its own IOMMU group and is bound to vfio-pci before the command starts.\n'
    + 'Extra --device specs get VFIO_VM_DEVICE_0, _1, … and slots 0x08–0x0f unless they give addr=.\n'
    + 'A device\'s QEMU id (device_del, unplug requests) is its name; extra devices are\n'
    + 'device-0, device-1, … unless they give id=.\n');
  return 0;
}

export function program(): Command {
  const prog = new Command('vfio-vm')
    .description('an emulated VFIO host: a QEMU guest with an IOMMU and VFIO devices, running a command')
    .version(packageVersion(), '-V, --version')
    .exitOverride();
  const finish = (p: Promise<number>) => p.then((code) => { process.exitCode = code; });
  guestOptions(prog.command('run').description('boot the guest and run CMD in the current directory')
    .argument('<cmd...>', 'the command and its arguments (after --)'))
    .action((cmd: string[], flags: GuestFlags) => finish(runCommand(cmd, flags, false)));
  guestOptions(prog.command('shell').description('boot the guest with an interactive shell on the serial console (Ctrl-A x quits QEMU)'))
    .action((flags: GuestFlags) => finish(runCommand([], flags, true)));
  commonOptions(prog.command('provision').description('download and cache QEMU, busybox, the guest kernel, its modules and uapi headers'))
    .option('--json', 'print the result as JSON')
    .action((flags: CommonFlags & { json?: boolean }) => finish(provisionCommand(flags)));
  kernelCommands(prog, `cache directory (default: ${defaultCacheDir()})`, log, finish);
  kernelsCommand(prog, `cache directory (default: ${defaultCacheDir()})`, log, finish);
  prog.command('list-devices').description('the default devices and what each is for')
    .action(() => finish(Promise.resolve(listDevices())));
  // A usage error is one line naming the mistake and the command's --help, as `vfio` does.
  oneLineUsageErrors(prog, (s) => process.stderr.write(s));
  return prog;
}

export async function main(argv: string[]): Promise<void> {
  dropOutputOnEpipe(process.stdout);
  const prog = program();
  if (argv.length <= 2) {
    process.stderr.write(shortUsage(prog));
    process.exitCode = EXIT_USAGE;
    return;
  }
  try {
    await prog.parseAsync(argv);
  } catch (e) {
    if (e instanceof CommanderError) {
      const fine = e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || (e.code === 'commander.help' && e.exitCode === 0);
      process.exitCode = fine ? 0 : EXIT_USAGE;
      return;
    }
    if (!(e instanceof VmError)) throw e;
    log(`error: ${e.message}`);
    process.exitCode = e.kind === 'timeout' ? EXIT_TIMEOUT : e.kind === 'cancelled' ? EXIT_CANCELLED : EXIT_HOST_FAILURE;
  }
}

if (require.main === module) void main(process.argv);
