// What the `vfio` subcommands share: opening a device the way every command does, the
// --backend/--unsafe-noiommu options, the <bdf> argument, usage errors as commander's, and the
// examples block of a command's help.
import * as path from 'path';
import { Argument, Command, Option } from 'commander';
import type { Device, DeviceOpenOptions } from '../device/device';
import type { BackendChoice } from '../iommu/context';
import { UsageError, parseBdfArg } from './args';
import { EXIT_USAGE, Runtime, invocationOf } from './report';

export function examples(lines: string[]): string {
  return `\nExamples:\n${lines.map((l) => `  $ ${l}`).join('\n')}\n`;
}

/** Opens the device as every command does: the runtime's roots, its invocation for hints. */
export async function openFor(bdf: string, rt: Runtime, o: DeviceOpenOptions = {}): Promise<Device> {
  const { Device } = await import('../device/device');
  const nodes = rt.dev ? { vfioDir: path.join(rt.dev, 'vfio'), iommufdPath: path.join(rt.dev, 'iommu') } : {};
  return Device.open(bdf, { ...o, ...nodes, ...(rt.sysfs ? { sysfs: rt.sysfs } : {}), invocation: invocationOf(rt) });
}

/** Opens the device, runs `f`, closes the device whatever happens. */
export async function withDevice<T>(
  bdf: string,
  rt: Runtime,
  f: (dev: Device) => T,
  o: DeviceOpenOptions = {},
): Promise<T> {
  const dev = await openFor(bdf, rt, o);
  try {
    return f(dev);
  } finally {
    dev.close();
  }
}

/** Turns an action's UsageError into commander's usage report (message, usage line, status 2). */
export function action<A extends unknown[]>(f: (...args: A) => Promise<void> | void): (...args: A) => Promise<void> {
  return async (...args: A) => {
    try {
      await f(...args);
    } catch (e) {
      if (!(e instanceof UsageError)) throw e;
      const cmd = args[args.length - 1] as Command;
      cmd.error(`error: ${e.message}`, { exitCode: EXIT_USAGE, code: 'vfio.usage' });
    }
  };
}

export const bdfArg = () => new Argument('<bdf>', 'PCI address, e.g. 0000:00:03.0 or 00:03.0').argParser(parseBdfArg);

export interface OpenFlags {
  backend: BackendChoice;
  unsafeNoiommu?: boolean;
}

/** --backend and --unsafe-noiommu, on every command that opens a device. */
export function openOptions(cmd: Command): Command {
  return cmd
    .addOption(
      new Option('--backend <name>', 'IOMMU backend (auto takes iommufd when the device has a cdev, else type1)')
        .choices(['auto', 'type1', 'iommufd-compat', 'iommufd', 'noiommu'])
        .default('auto'),
    )
    .option('--unsafe-noiommu', 'accept a device VFIO runs in no-IOMMU mode (it can DMA anywhere in memory)');
}

export function openFlags(o: OpenFlags): DeviceOpenOptions {
  return { backend: o.backend, unsafeNoIommu: !!o.unsafeNoiommu };
}
