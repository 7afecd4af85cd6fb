// The fixes we know for the failures VFIO users hit most (see the notes on other projects'
// issues: memlock, group viability, permissions, binding). Each returns text for VfioError.hint.
import * as fs from 'fs';
import * as path from 'path';
import * as sysfs from './sysfs';

/**
 * How a suggested command is written for the person reading it: the way they start `vfio`
 * ('vfio', or 'npx vfio' in a project that depends on the package) and how they get root
 * (already root: nothing; `sudo` when it is installed; else "as root:").
 */
export interface Invocation {
  /** How the reader starts the CLI: `'vfio'` or `'npx vfio'`. */
  readonly cli: string;
  /** The reader is root already: commands get no prefix. */
  readonly root: boolean;
  /** `sudo` is installed: root commands are prefixed with it (else "as root:"). */
  readonly sudo: boolean;
}

function onPath(program: string, pathVar: string | undefined): boolean {
  return (pathVar ?? '')
    .split(':')
    .filter(Boolean)
    .some((dir) => {
      try {
        fs.accessSync(path.join(dir, program), fs.constants.X_OK);
        return true;
      } catch {
        return false;
      }
    });
}

/**
 * The invocation of this process: `cli` is 'npx vfio' unless given (the library is used from a
 * project that depends on it, where that is how the command runs; the `vfio` bin passes its own).
 * `sudo` is looked up on PATH when a hint first asks for it: an invocation is taken on paths
 * that usually end without any hint (every Device.open), and the lookup stats each PATH entry.
 */
export function currentInvocation(cli = 'npx vfio'): Invocation {
  let sudo: boolean | undefined;
  return {
    cli,
    root: process.getuid?.() === 0,
    get sudo(): boolean {
      sudo ??= onPath('sudo', process.env.PATH);
      return sudo;
    },
  };
}

/** `args` as a `vfio` command line the reader can type. */
export function vfioCommand(inv: Invocation, args: string, asRoot = false): string {
  return rootCommand(inv, `${inv.cli} ${args}`, asRoot);
}

/** Any command line, prefixed for root when it needs root and the reader is not. */
export function rootCommand(inv: Invocation, command: string, asRoot = true): string {
  if (!asRoot || inv.root) return command;
  return inv.sudo ? `sudo ${command}` : `as root: ${command}`;
}

export function bindHint(bdf: string, driver: string | undefined, inv: Invocation = currentInvocation()): string {
  const now = driver ? `it is bound to ${driver}` : 'no driver is bound';
  return `${bdf} must be bound to vfio-pci (${now}): ${vfioCommand(inv, `bind ${bdf}`, true)}`;
}

export function groupNotViableHint(
  group: number,
  self: string,
  o: sysfs.SysfsOptions = {},
  inv: Invocation = currentInvocation(),
): string {
  const blocking = sysfs.blockingMembers(self, sysfs.groupMembers(group, o));
  const list = blocking.map((m) => `${m.bdf} (${m.driver})`).join(', ');
  const commands = blocking.map((m) => vfioCommand(inv, `bind ${m.bdf}`, true)).join(' && ');
  return (
    `every device in IOMMU group ${group} must be bound to vfio-pci or to no driver; ` +
    (list
      ? `bind these too: ${list}: ${commands}`
      : `${vfioCommand(inv, `doctor ${self}`)} lists the group's members and their drivers`)
  );
}

/** Giving the current user a VFIO node: for now (chown), and for good (a udev rule). */
export function nodeAccessHint(nodes: readonly string[], inv: Invocation = currentInvocation()): string {
  return (
    `run as root, or give your user ${nodes.join(' and ')}: ${rootCommand(inv, `chown $USER ${nodes.join(' ')}`)} (until the next bind or boot; ` +
    'a udev rule such as SUBSYSTEM=="vfio", GROUP="vfio", MODE="0660" with your user in group vfio makes it last)'
  );
}

export function groupOpenHint(
  code: string,
  group: number,
  bdf: string,
  inv: Invocation = currentInvocation(),
): string | undefined {
  switch (code) {
    case 'EACCES':
    case 'EPERM':
      return nodeAccessHint([`/dev/vfio/${group}`], inv);
    case 'EBUSY':
      return (
        `/dev/vfio/${group} is already open (by another process, or by this one: close the other Device first); ` +
        `\`fuser -v /dev/vfio/${group}\` shows who holds it`
      );
    case 'ENOENT':
      return `/dev/vfio/${group} does not exist: ${vfioCommand(inv, `doctor ${bdf}`)} says whether ${bdf} is bound to vfio-pci and the vfio module loaded`;
    default:
      return undefined;
  }
}

export function noIommuGroupHint(bdf: string, inv: Invocation = currentInvocation()): string {
  return (
    `${bdf} has no IOMMU group: the IOMMU is off or absent, and \`${vfioCommand(inv, `doctor ${bdf}`)}\` names the fix ` +
    "for this machine (firmware, kernel command line, a virtual IOMMU, or VFIO's unsafe no-IOMMU mode)"
  );
}

/** Writing `value` to a root-only file, as the reader types it (`sudo echo … >` would not work). */
export function writeAsRoot(inv: Invocation, file: string, value: string): string {
  if (inv.root) return `echo ${value} > ${file}`;
  return inv.sudo ? `echo ${value} | sudo tee ${file}` : `as root: echo ${value} > ${file}`;
}

/** Setting a module parameter the module reads at run time, through sysfs. */
export function moduleParamCommand(inv: Invocation, module: string, param: string, value: string): string {
  return writeAsRoot(inv, `/sys/module/${module}/parameters/${param}`, value);
}

export function memlockHint(current: bigint, needed: bigint, hard?: bigint): string {
  const kib = (n: bigint) => `${n / 1024n} KiB`;
  const k = (needed + 1023n) / 1024n;
  const now = `pinned DMA memory counts against RLIMIT_MEMLOCK (now ${kib(current)}, this mapping needs at least ${kib(needed)}); `;
  // Only root may raise a hard limit: above it `ulimit -l` fails, so name what does raise it.
  if (hard !== undefined && hard !== (1n << 64n) - 1n && needed > hard) {
    return (
      now +
      `that is above the hard limit (${kib(hard)}), which \`ulimit -l\` cannot pass without root: as root, ` +
      `prlimit --memlock=${k * 1024n}:${k * 1024n} --pid PID, LimitMEMLOCK= in a systemd unit or a "<user> - memlock unlimited" line ` +
      'in /etc/security/limits.d/ (for the next login); or run with CAP_IPC_LOCK'
    );
  }
  return (
    now +
    `raise it with \`ulimit -l ${k}\` in the shell that starts the program (prlimit --memlock for a running one), ` +
    'LimitMEMLOCK= in a systemd unit, or run with CAP_IPC_LOCK'
  );
}
