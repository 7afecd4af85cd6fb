// The files `vfio bind` and `vfio unbind` write, resolved so that no argument can steer a write
// elsewhere: the PCI address must be one, the driver name a plain module name, the device's
// directory must resolve under <sysfs>/devices, and every write refuses to follow a symlink
// (a driver_override or state file replaced by a link writes nothing).
import * as fs from 'fs';
import * as path from 'path';
import { isBdf, normalizeBdf } from '../../decode/sysfs';
import { CliError } from '../report';

/** Module and driver names as the kernel gives them; a leading '-' would read as an option. */
const DRIVER_RE = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;

export function isDriverName(name: string): boolean {
  return DRIVER_RE.test(name);
}

/** The driver name, or a CliError saying what a driver name may hold. */
export function checkDriverName(name: unknown): string {
  if (typeof name !== 'string' || !isDriverName(name)) {
    throw new CliError(
      `${JSON.stringify(name)} is not a driver name`,
      'a driver name holds letters, digits, _ and - only, e.g. vfio-pci',
    );
  }
  return name;
}

/** The normalised 'dddd:bb:dd.f' form of a PCI address ('01:00.0' → '0000:01:00.0'), or a CliError. */
export function checkBdf(text: unknown): string {
  if (typeof text !== 'string' || !isBdf(text)) {
    throw new CliError(
      `${JSON.stringify(text)} is not a PCI address`,
      'give it as DDDD:BB:DD.F or BB:DD.F, as `vfio list` prints it',
    );
  }
  return normalizeBdf(text);
}

function realpath(p: string): string | undefined {
  try {
    return fs.realpathSync(p);
  } catch {
    return undefined;
  }
}

const within = (dir: string, p: string) => p.startsWith(dir + path.sep);

/**
 * The real directory of PCI device `bdf` (validated and normalised first): the bus link
 * resolved, which must land under <sysfs>/devices and be named after the device. Undefined when
 * the device does not exist.
 */
export function deviceDir(bdf: string, sysfsRoot: string): string | undefined {
  const name = checkBdf(bdf);
  const root = realpath(sysfsRoot) ?? sysfsRoot;
  const real = realpath(path.join(root, 'bus/pci/devices', name));
  if (real === undefined) return undefined;
  if (!within(path.join(root, 'devices'), real) || path.basename(real) !== name) {
    throw new CliError(
      `${name} resolves to ${real}, outside ${path.join(root, 'devices')}`,
      'this is not a PCI device directory sysfs made; nothing was written',
    );
  }
  return real;
}

/** <sysfs>/bus/pci/drivers/<driver>, when it exists as a real directory there. */
export function driverDir(driver: string, sysfsRoot: string): string | undefined {
  const name = checkDriverName(driver);
  const root = realpath(sysfsRoot) ?? sysfsRoot;
  const dir = path.join(root, 'bus/pci/drivers', name);
  const real = realpath(dir);
  if (real === undefined) return undefined;
  if (real !== dir)
    throw new CliError(`${dir} is a link to ${real}`, 'this is not a driver directory sysfs made; nothing was written');
  return real;
}

/**
 * Refuses, before anything is written, when one of the files is a symbolic link: sysfs attribute
 * and state files never are, so one means something was planted.
 */
export function refuseLinks(files: readonly string[]): void {
  for (const file of files) {
    let link = false;
    try {
      link = fs.lstatSync(file).isSymbolicLink();
    } catch {
      /* missing: the write reports it */
    }
    if (link)
      throw new CliError(
        `${file} is a symbolic link; refusing to write through it (nothing was written)`,
        'sysfs attribute and state files are never links: check what replaced it',
      );
  }
}

/** Writes `text` to an existing file, never through a symlink (O_NOFOLLOW) and never creating it. */
export function writeNoFollow(file: string, text: string): void {
  let fd: number;
  try {
    fd = fs.openSync(file, fs.constants.O_WRONLY | fs.constants.O_TRUNC | fs.constants.O_NOFOLLOW);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? 'error';
    // O_NOFOLLOW on a symlink fails with ELOOP.
    if (code === 'ELOOP')
      throw new CliError(
        `${file} is a symbolic link; refusing to write through it`,
        'sysfs attribute files are never links: check what replaced it',
      );
    throw new CliError(`opening ${file} failed: ${code}`, 'the kernel log (dmesg) usually says why');
  }
  try {
    fs.writeSync(fd, text);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? 'error';
    throw new CliError(
      `writing '${text.trim()}' to ${file} failed: ${code}`,
      'the kernel log (dmesg) usually says why',
    );
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * The state directory, created if missing (mode 0700); refused when it is a link or belongs to
 * another user, as a file planted there could then redirect the next write.
 */
function stateDirChecked(dir: string, uid: number): string {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const st = fs.lstatSync(dir);
  if (!st.isDirectory() || (uid >= 0 && st.uid !== uid)) {
    throw new CliError(`${dir} is not a directory of user ${uid}`, `remove ${dir}; \`vfio bind\` recreates it`);
  }
  return dir;
}

/** Writes a state file `name` (a validated BDF) in `dir`: created or replaced, never through a link. */
export function writeStateFile(dir: string, name: string, text: string, uid: number): void {
  const file = path.join(stateDirChecked(dir, uid), checkBdf(name));
  const flags = fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_TRUNC | fs.constants.O_NOFOLLOW;
  let fd: number;
  try {
    fd = fs.openSync(file, flags, 0o644);
  } catch (e) {
    throw new CliError(
      `cannot write ${file}: ${(e as NodeJS.ErrnoException).code ?? e}`,
      `remove ${file} if it is a link`,
    );
  }
  try {
    fs.writeSync(fd, text);
  } finally {
    fs.closeSync(fd);
  }
}

/** The text of state file `name` in `dir`, or undefined (missing, or a link: not ours). */
export function readStateFile(dir: string, name: string): string | undefined {
  try {
    const fd = fs.openSync(path.join(dir, checkBdf(name)), fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
    try {
      return fs.readFileSync(fd, 'utf8');
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    return undefined;
  }
}

export function removeStateFile(dir: string, name: string): void {
  // rm removes a link itself, never its target.
  fs.rmSync(path.join(dir, checkBdf(name)), { force: true });
}
