// KVM or TCG. A `/dev/kvm` that opens is not enough: some machines (themselves VMs) have a
// software-only KVM (kvm_pvm) on which a stock kernel crawls through the instruction emulator
// and then stops, and on which QEMU's `-cpu host` aborts. So `auto` takes KVM only when the
// CPU has VMX or SVM, kvm_intel or kvm_amd is loaded, /dev/kvm is usable, and a functional
// check passes: QEMU under KVM runs a tiny firmware that counts a register down from 20 million
// and exits through isa-debug-exit, which hardware virtualisation finishes in milliseconds.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { execRaw } from '../core/exec';
import { Tool, toolArgv } from '../archive/userland-tools';

/** How QEMU runs the guest: KVM (hardware virtualisation) or TCG (emulation). */
export type Accel = 'kvm' | 'tcg';
/** An accelerator, or `'auto'`: KVM when it works on this host, else TCG. */
export type AccelChoice = Accel | 'auto';
export const ACCEL_CHOICES: readonly AccelChoice[] = ['auto', 'kvm', 'tcg'];

/** The accelerator a run uses, and why. */
export interface AccelDecision {
  /** The accelerator. */
  accel: Accel;
  /** Why, in a few words ("no VMX/SVM in /proc/cpuinfo", "KVM check passed in 12 ms"). */
  reason: string;
}

/** What the probe looks at; a fixture in the tests, the machine's own files otherwise. */
export interface KvmFacts {
  /** /proc/cpuinfo's text. */
  cpuinfo: string;
  /** Names under /sys/module. */
  modules: string[];
  /** Whether /dev/kvm exists and is readable and writable by this process. */
  devKvmUsable: boolean;
}

export interface FunctionalCheck {
  ok: boolean;
  ms: number;
  detail: string;
}

/** The functional check's deadline: hardware KVM needs a few ms, QEMU's start included well under this. */
export const KVM_CHECK_DEADLINE_MS = 800;

/** The CPU virtualisation flag and the kvm module that goes with it, if the CPU has one. */
export function cpuVirtualisation(cpuinfo: string): { flag: 'vmx' | 'svm'; module: string } | undefined {
  const flags = new Set((/^flags\s*:\s*(.*)$/m.exec(cpuinfo)?.[1] ?? '').split(/\s+/));
  if (flags.has('vmx')) return { flag: 'vmx', module: 'kvm_intel' };
  if (flags.has('svm')) return { flag: 'svm', module: 'kvm_amd' };
  return undefined;
}

/** The decision before the functional check: TCG with a reason, or "check" when KVM may work. */
export function staticDecision(facts: KvmFacts): AccelDecision | 'check' {
  const virt = cpuVirtualisation(facts.cpuinfo);
  if (!virt) {
    const other = facts.modules.filter((m) => /^kvm_/.test(m));
    return { accel: 'tcg', reason: `no VMX/SVM in /proc/cpuinfo${other.length ? ` (${other.join(', ')} is not hardware KVM)` : ''}` };
  }
  if (!facts.modules.includes(virt.module)) return { accel: 'tcg', reason: `the CPU has ${virt.flag} but ${virt.module} is not loaded` };
  if (!facts.devKvmUsable) return { accel: 'tcg', reason: '/dev/kvm is missing or not readable and writable by this user' };
  return 'check';
}

/** The whole decision for `choice`, running the functional check only when the facts allow KVM. */
export async function decideAccel(choice: AccelChoice, facts: KvmFacts, check: () => Promise<FunctionalCheck>): Promise<AccelDecision> {
  if (choice === 'tcg') return { accel: 'tcg', reason: 'asked for (--accel tcg)' };
  if (choice === 'kvm') return { accel: 'kvm', reason: 'asked for (--accel kvm)' };
  const first = staticDecision(facts);
  if (first !== 'check') return first;
  const r = await check();
  return r.ok
    ? { accel: 'kvm', reason: `KVM check passed in ${r.ms} ms` }
    : { accel: 'tcg', reason: `KVM check failed (${r.detail})` };
}

/** What a boot under KVM showed: the input of the decision to rerun it under TCG. */
export interface KvmBootSeen {
  /** The accelerator the boot ran under. */
  accel: Accel;
  /** The run's choice was `auto` (an explicit `--accel kvm` is never second-guessed). */
  auto: boolean;
  /** The guest wrote at least one console line. */
  consoleOutput: boolean;
  /** The silence deadline passed with no console output, and the run stopped QEMU for it. */
  stoppedSilent: boolean;
  /** How QEMU ended. */
  exit: { code: number | null; signal: string | null; aborted: boolean; timedOut: boolean };
}

/** Whether a boot under `accel` is watched for silence (and so may be rerun under TCG). */
export const watchesForSilence = (accel: Accel, auto: boolean): boolean => accel === 'kvm' && auto;

/**
 * Why a KVM boot is to be rerun under TCG, or undefined when it is not: only under `auto`, only
 * when the guest said nothing, and then either the silence deadline stopped it or QEMU itself
 * failed (an abort on an MSR, an emulation failure) before any output. A run stopped by the
 * caller, one that hit the run's own time limit, or a guest that spoke is never rerun: its
 * outcome is the guest's.
 */
export function tcgRerunReason(seen: KvmBootSeen, silenceSeconds: number): string | undefined {
  if (!watchesForSilence(seen.accel, seen.auto) || seen.consoleOutput) return undefined;
  if (seen.stoppedSilent) return `no console output within ${silenceSeconds} s`;
  const { code, signal, aborted, timedOut } = seen.exit;
  if (aborted || timedOut || code === 0) return undefined;
  return `QEMU exited ${code ?? signal}`;
}

/** This machine's facts. */
export function hostKvmFacts(): KvmFacts {
  const read = (f: string) => { try { return fs.readFileSync(f, 'utf8'); } catch { return ''; } };
  let devKvmUsable = false;
  try {
    fs.accessSync('/dev/kvm', fs.constants.R_OK | fs.constants.W_OK);
    devKvmUsable = true;
  } catch { /* absent or not ours */ }
  let modules: string[] = [];
  try { modules = fs.readdirSync('/sys/module'); } catch { /* no sysfs */ }
  return { cpuinfo: read('/proc/cpuinfo'), modules, devKvmUsable };
}

/** isa-debug-exit: QEMU exits with (value << 1) | 1 when the guest writes value to this port. */
const DEBUG_EXIT_PORT = 0xf4;
const LOOP_COUNT = 20_000_000;

/**
 * A 64 KiB firmware image (QEMU wants BIOS sizes in 64 KiB steps) whose reset vector counts ECX
 * down to zero and writes 1 to the debug-exit port: QEMU then exits with status 3.
 */
export function probeFirmware(): Buffer {
  const image = Buffer.alloc(0x10000, 0xf4); // hlt everywhere else
  const code = Buffer.from([
    0x66, 0xb9, ...u32(LOOP_COUNT), // mov ecx, LOOP_COUNT
    0x66, 0x49, //                     dec ecx
    0x75, 0xfc, //                     jnz dec
    0xb0, 0x01, //                     mov al, 1
    0xe6, DEBUG_EXIT_PORT, //          out 0xf4, al
    0xf4, //                           hlt
  ]);
  code.copy(image, 0xfff0); // the reset vector, 16 bytes below 4 GiB
  return image;
}

function u32(n: number): number[] {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n);
  return [...b];
}

/** Runs the probe firmware under KVM with `-cpu host`, as a run would, within the deadline. */
export async function kvmFunctionalCheck(qemu: Tool, deadlineMs = KVM_CHECK_DEADLINE_MS): Promise<FunctionalCheck> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vfio-vm-kvm-'));
  const bios = path.join(dir, 'probe.bin');
  fs.writeFileSync(bios, probeFirmware());
  const [file, argv] = toolArgv(qemu, [
    '-machine', 'q35', '-accel', 'kvm', '-cpu', 'host', '-m', '16M', '-nodefaults', '-no-user-config',
    '-display', 'none', '-bios', bios, '-device', `isa-debug-exit,iobase=${DEBUG_EXIT_PORT},iosize=1`,
  ]);
  const started = Date.now();
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(), deadlineMs);
  try {
    const r = await execRaw(file, argv, { signal: ac.signal });
    const ms = Date.now() - started;
    if (ac.signal.aborted) return { ok: false, ms, detail: `no exit within ${deadlineMs} ms` };
    if (r.status === 3) return { ok: true, ms, detail: 'ok' };
    const why = r.stderr.trim().split('\n').pop() ?? '';
    return { ok: false, ms, detail: `QEMU exited ${r.status}${why ? `: ${why}` : ''}` };
  } finally {
    clearTimeout(timer);
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
