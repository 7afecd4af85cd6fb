// `vfio bind --persist`: a udev rule per device, so the binding comes back after a reboot or a
// hot-plug the way driverctl's overrides do. On the device's "add" event it loads vfio-pci, sets
// driver_override, and (as the kernel's own driver may have taken the device first) unbinds it
// and reprobes. `vfio unbind` removes the rule; deleting the file by hand undoes it as well.
import * as fs from 'fs';
import * as path from 'path';
import { checkBdf, checkDriverName } from './bind-paths';
import { CliError } from '../report';
import { Invocation, vfioCommand } from '../../system/hints';

export const DEFAULT_UDEV_RULES_DIR = '/etc/udev/rules.d';

export function ruleFile(bdf: string, rulesDir = DEFAULT_UDEV_RULES_DIR): string {
  return path.join(rulesDir, `70-vfio-bind-${checkBdf(bdf).replace(/[:.]/g, '-')}.rules`);
}

/** The rule's text (both arguments validated: they end up in a shell command). */
export function ruleText(bdf: string, driver: string): string {
  const b = checkBdf(bdf);
  const d = checkDriverName(driver);
  return [
    `# Written by \`vfio bind --persist ${b}\`: binds ${b} to ${d} whenever it appears.`,
    `# \`vfio unbind ${b}\` removes this file; so does deleting it by hand.`,
    `ACTION=="add", SUBSYSTEM=="pci", KERNEL=="${b}", RUN+="/sbin/modprobe -q ${d}", ATTR{driver_override}="${d}", ` +
      `RUN+="/bin/sh -c 'echo ${b} > /sys/bus/pci/devices/${b}/driver/unbind; echo ${b} > /sys/bus/pci/drivers_probe'"`,
    '',
  ].join('\n');
}

/** Writes the rule (replacing an earlier one for the device, never through a link). */
export function writeRule(bdf: string, driver: string, rulesDir: string, inv: Invocation): string {
  if (!fs.existsSync(rulesDir)) {
    throw new CliError(
      `--persist needs udev, and ${rulesDir} does not exist`,
      `bind at each boot instead: a boot script (systemd unit, rc.local) running \`${vfioCommand({ ...inv, root: true }, `bind ${bdf}`)}\``,
    );
  }
  const file = ruleFile(bdf, rulesDir);
  let fd: number;
  try {
    fd = fs.openSync(
      file,
      fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_TRUNC | fs.constants.O_NOFOLLOW,
      0o644,
    );
  } catch (e) {
    throw new CliError(
      `cannot write ${file}: ${(e as NodeJS.ErrnoException).code ?? e}`,
      `remove ${file} if it is a link`,
    );
  }
  try {
    fs.writeSync(fd, ruleText(bdf, driver));
  } finally {
    fs.closeSync(fd);
  }
  return file;
}

/** Removes the device's rule; returns its path when there was one. */
export function removeRule(bdf: string, rulesDir = DEFAULT_UDEV_RULES_DIR): string | undefined {
  const file = ruleFile(bdf, rulesDir);
  try {
    fs.lstatSync(file);
  } catch {
    return undefined;
  }
  fs.rmSync(file, { force: true });
  return file;
}
