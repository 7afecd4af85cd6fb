// The QEMU command line of the emulated host: a q35 machine under TCG or KVM with an emulated VT-d
// (interrupt remapping on, or vfio's type1 backend refuses to attach), the 9p shares, the
// consoles, and the devices.
import * as fs from 'fs';
import * as path from 'path';
import { Accel } from './accel';
import { GuestDevice, INFRA_FIRST_SLOT } from './devices';
import { Share } from './guest-spec';
import { REQUEST_PORT_NAME } from './guest-requests';
import { sharedRamArgs } from './model-device';
import { VmError } from '../core/errors';
import { KernelInfo } from '../core/kernel';

export const QEMU = 'qemu-system-x86_64';
/** A minimal firmware that boots a PVH kernel in a fraction of SeaBIOS's time. */
export const QBOOT = 'qboot.rom';
/** Where a distribution's QEMU keeps its firmware (for `--qemu PATH`). */
export const HOST_FIRMWARE_DIR = '/usr/share/qemu';

/**
 * Fixed kernel arguments: the console, no reboot loop on panic, the IOMMU in passthrough.
 * no_timer_check: the IO-APIC timer check counts ticks in a busy loop, and an emulated CPU on
 * a loaded host can miss its deadline and panic ("timer doesn't work through Interrupt-remapped
 * IO-APIC"); the emulated timer always works.
 * cryptomgr.notests: the crypto self-tests at boot and at the first module signature check
 * cost over a second of emulated CPU (about a third of the kernel's boot).
 * mitigations=off: the guest runs only the project's own code, and the speculative-execution
 * mitigations (retpolines, buffer clearing on every kernel exit) make each syscall dearer under
 * TCG: a guest eventfd wakeup went from 298 to 206 us, a benchmark run from 49 to 39 s. `--append mitigations=auto` turns them back on (the last occurrence wins).
 */
export const BASE_APPEND = 'console=ttyS0 panic=-1 loglevel=4 intel_iommu=on iommu=pt no_timer_check cryptomgr.notests mitigations=off rdinit=/init';

export interface Consoles {
  /**
   * Unix socket paths the host listens on (run mode): the serial console, the command's output,
   * QEMU's QMP monitor and the guest's request port (qemu/guest-requests.ts)…
   */
  sockets?: { console: string; stdout: string; stderr: string; qmp: string; requests: string };
  /** …or the serial console on QEMU's own stdio, with the monitor on Ctrl-A c (shell mode). */
  stdio?: boolean;
}

export interface QemuPlan {
  kernel: KernelInfo;
  initrd: string;
  append?: string;
  memory: string;
  smp: number;
  shares: Share[];
  devices: GuestDevice[];
  consoles: Consoles;
  /** Leave out the emulated VT-d (no-IOMMU mode). */
  noIommu?: boolean;
  /** Device back ends and pass-through arguments (backends.ts), after the devices. */
  extraArgs?: string[];
  accel: Accel;
  /** The firmware directory of the QEMU that runs (qboot.rom). */
  firmwareDir: string;
  /** A vfio-user device is attached: the emulated VT-d runs in caching mode (QEMU requires it). */
  vfioUser?: boolean;
  /** Guest RAM as a shareable memfd (model-device.ts). */
  sharedRam?: boolean;
  /** A further QMP socket QEMU serves for a host-side program (RunOptions.qmpSocket). */
  qmpSocket?: string;
}

const hexSlot = (n: number) => `0x${n.toString(16)}`;

/**
 * thread=single: all vCPUs take turns on one host thread. With one thread per vCPU, the kernel's
 * live code patching (int3-based text_poke) was seen to race with the other vCPU running stale
 * translated code ("Oops: int3" at boot); boot and test times are about the same either way.
 * pku=off: TCG flushes its whole software TLB on every write of the protection-key register.
 * With keys on, QEMU counted several flushes per switch back to a woken process (likely the
 * guest kernel restoring the key register), so such a process ran its first steps at a fraction
 * of its speed; real CPUs pay nothing comparable. The guest then has no protection keys, which
 * nothing here uses.
 */
function machineArgs(plan: QemuPlan): string[] {
  // Under KVM the interrupt remapping of the emulated VT-d needs the IO-APIC in QEMU (split irqchip).
  const accel = plan.accel === 'kvm'
    ? ['-machine', 'q35,kernel-irqchip=split', '-accel', 'kvm', '-cpu', 'host']
    : ['-machine', 'q35', '-accel', 'tcg,thread=single', '-cpu', 'max,pku=off'];
  return [
    ...accel,
    '-smp', String(plan.smp), '-m', plan.memory,
    '-nodefaults', '-no-user-config', '-display', 'none', '-no-reboot', '-nic', 'none',
  ];
}

function bootArgs(plan: QemuPlan): string[] {
  const qboot = path.join(plan.firmwareDir, QBOOT);
  const firmware = plan.kernel.pvh && fs.existsSync(qboot) ? ['-bios', qboot] : [];
  const append = [BASE_APPEND, plan.append].filter(Boolean).join(' ');
  return [...firmware, '-kernel', plan.kernel.kernelImage, '-initrd', plan.initrd, '-append', append];
}

function consoleArgs(c: Consoles, slot: number): string[] {
  if (c.stdio) {
    return ['-chardev', 'stdio,id=con,mux=on,signal=off', '-serial', 'chardev:con', '-mon', 'chardev=con,mode=readline'];
  }
  const s = c.sockets;
  if (!s) throw new VmError('options', 'the console needs either stdio or the socket paths');
  // The host is the server: QEMU connects at start-up, so no byte is written before anyone reads.
  return [
    '-chardev', `socket,id=con,path=${s.console}`, '-serial', 'chardev:con',
    '-device', `virtio-serial-pci,addr=${hexSlot(slot)}`,
    '-chardev', `socket,id=out,path=${s.stdout}`, '-device', 'virtserialport,chardev=out,name=vfio-vm.stdout',
    '-chardev', `socket,id=err,path=${s.stderr}`, '-device', 'virtserialport,chardev=err,name=vfio-vm.stderr',
    '-chardev', `socket,id=req,path=${s.requests}`, '-device', `virtserialport,chardev=req,name=${REQUEST_PORT_NAME}`,
    '-chardev', `socket,id=qmp,path=${s.qmp}`, '-mon', 'chardev=qmp,mode=control',
  ];
}

/** QEMU listens there itself (the caller's program connects whenever it likes, one at a time). */
function qmpSocketArgs(socket: string | undefined): string[] {
  if (!socket) return [];
  return ['-chardev', `socket,id=qmpuser,path=${socket},server=on,wait=off`, '-mon', 'chardev=qmpuser,mode=control'];
}

function shareArgs(share: Share, index: number, slot: number): string[] {
  const ro = share.readonly ? ',readonly=on' : '';
  return [
    '-fsdev', `local,id=fs${index},path=${share.hostPath},security_model=none${ro}`,
    '-device', `virtio-9p-pci,fsdev=fs${index},mount_tag=${share.tag},addr=${hexSlot(slot)}`,
  ];
}

/** The full argument list (without the program name). */
export function qemuArgs(plan: QemuPlan): string[] {
  let slot = INFRA_FIRST_SLOT;
  return [
    ...machineArgs(plan),
    ...bootArgs(plan),
    // The vIOMMU must exist before any PCI device is created.
    ...(plan.noIommu ? [] : ['-device', `intel-iommu,intremap=on${plan.vfioUser ? ',caching-mode=on' : ''}`]),
    ...(plan.sharedRam ? sharedRamArgs(plan.memory) : []),
    ...plan.shares.flatMap((s, i) => shareArgs(s, i, slot++)),
    ...consoleArgs(plan.consoles, slot++),
    ...qmpSocketArgs(plan.qmpSocket),
    ...plan.devices.flatMap((d) => d.qemuArgs),
    ...(plan.extraArgs ?? []),
  ];
}
