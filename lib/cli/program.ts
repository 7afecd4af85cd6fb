// The `vfio` command line: subcommands, their arguments and help, and the exit statuses (0 ok,
// 1 operation failed, 2 usage). Each action gathers data (sysfs, ioctls) through the modules
// beside this one and prints it through their pure formatters, or as JSON with --json.
// The modules that open devices (and the library behind them) load only in the actions that
// need them: node start-up is what a command costs, in the emulated host above all.
import { Argument, Command, CommanderError, InvalidArgumentError } from 'commander';
import { packageVersion } from '../addon/paths';
import {
  UsageError,
  checkFits,
  parseBdfArg,
  parseDriverArg,
  parseOffsetArg,
  parseRegionArg,
  parseValueArg,
  parseWidthArg,
} from './args';
import { bind, unbind } from './commands/bind';
import { colors, toJson } from './format';
import { formatList, gatherList } from './commands/list';
import { IdFilter, Selector, matchesIds, matchesSelector, parseIdFilter, parseSelector } from './commands/list-filter';
import { addNvmeCommands } from './commands/nvme';
import { addSriovCommand } from './commands/sriov';
import type { Width } from './commands/peek';
import { OpenFlags, action, bdfArg, examples, openFlags, openFor, openOptions, withDevice } from './command-kit';
import { EXIT_FAILED, EXIT_OK, EXIT_USAGE, ExitStatus, Runtime, invocationOf, reportFailure } from './report';
import { oneLineUsageErrors, shortUsage } from '../text/usage';

export function buildProgram(rt: Runtime): Command {
  const c = colors(rt.color);
  const program = new Command('vfio');
  program
    .description('Inspect PCI devices and drive them through VFIO: list, describe, bind, peek and poke.')
    .version(packageVersion(), '-V, --version')
    .configureOutput({ writeOut: (s) => rt.out(s), writeErr: (s) => rt.err(s), outputError: (s, write) => write(s) })
    .exitOverride()
    .addHelpText(
      'after',
      '\nExit status: 0 ok, 1 the operation failed (with a hint when the fix is known), 2 usage error.\n' +
        examples([
          'vfio doctor 0000:01:00.0',
          'vfio list',
          'vfio info 00:03.0',
          'sudo vfio bind 0000:01:00.0',
          'vfio peek 00:03.0 0 0x0',
          'vfio info 00:03.0 --json | jq .regions',
        ]),
    );
  const inv = invocationOf(rt);

  program
    .command('list')
    .description('PCI devices with ids, class, driver, IOMMU group, and whether VFIO can use them (and why not)')
    .option(
      '-s <[[domain:]bus:]slot[.func]>',
      'only the devices at this address, as lspci -s (01:00, 00:03.0, *:*.1)',
      parseSelector,
    )
    .option(
      '-d <[vendor]:[device][:class]>',
      'only the devices with these ids, as lspci -d (8086:, 1af4:1110)',
      parseIdFilter,
    )
    .option('-k', 'also the driver_override column (the DRIVER column is always there)')
    .option('-n', 'numbers instead of names; -nn: both, as lspci does', (_v: string, n: number) => n + 1, 0)
    .option('--json', 'print JSON')
    .addHelpText(
      'after',
      examples([
        'vfio list',
        'vfio list -d 8086: -nn',
        'vfio list -s 01:00 -k',
        "vfio list --json | jq '.[] | select(.vfio.usable) | .bdf'",
      ]),
    )
    .action(
      action((opts: { json?: boolean; s?: Selector; d?: IdFilter; k?: boolean; n: number }) => {
        const entries = gatherList({ ...(rt.sysfs ? { sysfs: rt.sysfs } : {}), invocation: inv }).filter(
          (e) => (!opts.s || matchesSelector(e.bdf, opts.s)) && (!opts.d || matchesIds(e, opts.d)),
        );
        rt.out(
          opts.json
            ? toJson(entries) + '\n'
            : formatList(entries, c, { numeric: opts.n, kernel: !!opts.k, invocation: inv }),
        );
      }),
    );

  openOptions(program.command('doctor'))
    .description(
      'check the host and each device given, in order, from the IOMMU to a working open; each check with the fix',
    )
    .argument('[bdf...]', 'PCI addresses to check (default: the host only)')
    .option('--json', 'print JSON: { ready, checks: [{ id, title, status, detail, fix, device }] }')
    .addHelpText(
      'after',
      '\nExit status 0 when every check passes (warnings allowed), 1 otherwise. Devices whose checks\n' +
        "pass are opened through VFIO (which may reset them) and their prefetchable BARs' write-combining\n" +
        'routes reported. docs/cli.md shows each failure and its fix.\n' +
        examples([
          'vfio doctor',
          'vfio doctor 0000:01:00.0 01:00.1',
          'vfio doctor 00:04.0 --json | jq \'.checks[] | select(.status == "fail")\'',
        ]),
    )
    .action(
      action(async (bdfs: string[], opts: OpenFlags & { json?: boolean }) => {
        const list = bdfs.map((b) => {
          try {
            return parseBdfArg(b);
          } catch (e) {
            throw new UsageError(`'${b}' is not a PCI address like 0000:00:03.0 or 00:03.0`);
          }
        });
        const { runDoctor, formatDoctor } = await import('./commands/doctor');
        const roots = { sysfs: rt.sysfs, proc: rt.proc, dev: rt.dev };
        const r = await runDoctor(list, {
          ...roots,
          invocation: inv,
          open: (bdf) => openFor(bdf, rt, openFlags(opts)),
        });
        rt.out(opts.json ? toJson(r) + '\n' : formatDoctor(r, c));
        if (!r.ready) throw new ExitStatus(EXIT_FAILED);
      }),
    );

  openOptions(program.command('info'))
    .description(
      'device flags, regions (caps, mappable areas), IRQs, features and config capabilities (like lspci -vv)',
    )
    .addArgument(bdfArg())
    .option('--json', 'print JSON')
    .addHelpText(
      'after',
      '\nThe device must be bound to vfio-pci (see `vfio bind`).\n' +
        examples(['vfio info 00:03.0', "vfio info 0000:00:03.0 --json | jq '.regions[] | {name, size}'"]),
    )
    .action(
      action(async (bdf: string, opts: OpenFlags & { json?: boolean }) => {
        const { gatherInfo } = await import('./commands/info');
        const data = await withDevice(
          bdf,
          rt,
          (dev) => gatherInfo(dev, rt.sysfs ? { sysfs: rt.sysfs } : {}),
          openFlags(opts),
        );
        rt.out(opts.json ? toJson(data) + '\n' : (await import('./commands/info-format')).formatInfo(data, c));
      }),
    );

  program
    .command('bind')
    .description('hand a device to vfio-pci (driver_override, unbind, probe); needs root')
    .addArgument(bdfArg())
    .option(
      '--driver <name>',
      'bind to this VFIO driver instead of vfio-pci (e.g. a variant driver)',
      parseDriverArg,
      'vfio-pci',
    )
    .option('--dry-run', 'check everything and print the writes, write nothing (no root needed)')
    .option('--force', 'take the device even when the host uses it (mounted, swap, interface up or routed, boot VGA)')
    .option('--persist', 'also write a udev rule that binds it again at every boot (`vfio unbind` removes it)')
    .addHelpText(
      'after',
      '\nRefuses when another device of the same IOMMU group is bound to a non-VFIO driver, and\n' +
        'lists those devices: VFIO takes a group as a whole. Refuses, unless --force, when the host uses\n' +
        'the device or its group: a mounted file system or active swap on it, a network interface on it\n' +
        'that is up or carries a route, the boot VGA device. Writes nothing until every check passed.\n' +
        '`vfio unbind` gives the device back.\n' +
        examples([
          'sudo vfio bind 0000:01:00.0',
          'vfio bind 01:00.0 --dry-run',
          'sudo vfio bind 01:00.0 --persist',
          'sudo vfio bind 01:00.0 --driver mlx5_vfio_pci',
        ]),
    )
    .action(
      action((bdf: string, opts: { driver: string; dryRun?: boolean; force?: boolean; persist?: boolean }) => {
        const env = { uid: rt.uid, sysfs: rt.sysfs, proc: rt.proc, invocation: inv };
        rt.out(
          bind(bdf, env, opts.driver, { dryRun: opts.dryRun, force: opts.force, persist: opts.persist }).message + '\n',
        );
      }),
    );

  program
    .command('unbind')
    .description('give a device back to its own driver (clears driver_override and reprobes); needs root')
    .addArgument(bdfArg())
    .addHelpText(
      'after',
      '\nThe driver that had the device before `vfio bind` takes it back; a `vfio bind --persist`\n' +
        'rule for the device is removed.\n' +
        examples(['sudo vfio unbind 0000:01:00.0']),
    )
    .action(
      action((bdf: string) => {
        rt.out(unbind(bdf, { uid: rt.uid, sysfs: rt.sysfs, proc: rt.proc, invocation: inv }).message + '\n');
      }),
    );

  openOptions(program.command('peek'))
    .description('read one register: a single access of exactly WIDTH bits')
    .addArgument(bdfArg())
    .addArgument(new Argument('<bar>', 'BAR 0-5 (or bar0-bar5), rom, config, or regionN').argParser(parseRegionArg))
    .addArgument(new Argument('<offset>', 'byte offset in the region (0x… for hex)').argParser(parseOffsetArg))
    .addArgument(
      new Argument('[width]', 'access width in bits: 8, 16, 32, 64 (or b, w, l, q)')
        .argParser(parseWidthArg)
        .default(4, '32'),
    )
    .option('--mmap', 'access through a mapping of the page instead of pread')
    .option('--json', 'print JSON')
    .addHelpText(
      'after',
      examples([
        'vfio peek 00:03.0 0 0x0          # edu: identification register',
        'vfio peek 00:03.0 bar0 0x80 64     # edu: DMA source address (a 64-bit register)',
        'vfio peek 00:03.0 config 0x0 16',
      ]),
    )
    .action(
      action(
        async (
          bdf: string,
          bar: number,
          offset: bigint,
          width: Width,
          opts: OpenFlags & { mmap?: boolean; json?: boolean },
        ) => {
          const { peek, formatValue } = await import('./commands/peek');
          const a = await withDevice(bdf, rt, (dev) => peek(dev, bar, offset, width, !!opts.mmap), openFlags(opts));
          rt.out(opts.json ? toJson(a) + '\n' : formatValue(a.value, width) + '\n');
        },
      ),
    );

  openOptions(program.command('poke'))
    .description('write one register: a single access of exactly WIDTH bits')
    .addArgument(bdfArg())
    .addArgument(new Argument('<bar>', 'BAR 0-5 (or bar0-bar5), rom, config, or regionN').argParser(parseRegionArg))
    .addArgument(new Argument('<offset>', 'byte offset in the region (0x… for hex)').argParser(parseOffsetArg))
    .addArgument(new Argument('<value>', 'value to write (0x… for hex)').argParser(parseValueArg))
    .addArgument(
      new Argument('[width]', 'access width in bits: 8, 16, 32, 64 (or b, w, l, q)')
        .argParser(parseWidthArg)
        .default(4, '32'),
    )
    .option('--mmap', 'access through a mapping of the page instead of pwrite')
    .addHelpText(
      'after',
      examples([
        'vfio poke 00:03.0 0 0x4 0x12345678   # edu: liveness register (reads back inverted)',
        'vfio poke 00:03.0 bar0 0x20 0x80 32',
      ]),
    )
    .action(
      action(
        async (
          bdf: string,
          bar: number,
          offset: bigint,
          value: bigint,
          width: Width,
          opts: OpenFlags & { mmap?: boolean },
        ) => {
          checkFits(value, width);
          const { poke, formatPoke } = await import('./commands/peek');
          const a = await withDevice(
            bdf,
            rt,
            (dev) => poke(dev, bar, offset, width, value, !!opts.mmap),
            openFlags(opts),
          );
          rt.out(formatPoke(a));
        },
      ),
    );

  openOptions(program.command('features'))
    .description('VFIO_DEVICE_FEATURE probes: which features the driver offers, with GET and SET')
    .addArgument(bdfArg())
    .option('--all', 'also probe every number from 0 to 31, not only the named ones')
    .option('--json', 'print JSON')
    .addHelpText('after', examples(['vfio features 01:00.0', 'vfio features 01:00.0 --all --json']))
    .action(
      action(async (bdf: string, opts: OpenFlags & { all?: boolean; json?: boolean }) => {
        const { gatherFeatures, formatFeatureList } = await import('./commands/features');
        const list = await withDevice(bdf, rt, (dev) => gatherFeatures(dev, !!opts.all), openFlags(opts));
        rt.out(opts.json ? toJson(list) + '\n' : formatFeatureList(bdf, list, c));
      }),
    );

  openOptions(program.command('cookies'))
    .description('routes to a write-combining mapping (mmap cookie) for each BAR, and what each gives')
    .addArgument(bdfArg())
    .option('--bar <n>', 'only this BAR (0-5)', (v) => {
      if (!/^[0-5]$/.test(v)) throw new InvalidArgumentError('expected a BAR number 0-5');
      return Number(v);
    })
    .option(
      '--reserve-wc',
      'reserve the prefetchable BARs write-combining before opening the device, as Device.open({ writeCombine }) does',
    )
    .option(
      '--sample-driver',
      "also look for the sample driver's WC regions and cookie feature (sample values, docs/sample-driver.md)",
    )
    .option('--json', 'print JSON')
    .addHelpText(
      'after',
      '\nWithout --reserve-wc the report is what a plain Device.open() gives; with it, what a driver\n' +
        'that reserves WC first gets (needs root: the reservation maps sysfs resourceN_wc).\n' +
        examples(['vfio cookies 00:04.0', 'sudo vfio cookies 00:04.0 --bar 2 --reserve-wc --json']),
    )
    .action(
      action(
        async (
          bdf: string,
          opts: OpenFlags & { bar?: number; reserveWc?: boolean; sampleDriver?: boolean; json?: boolean },
        ) => {
          const { gatherCookies, formatCookies, prefetchableBars } = await import('./commands/cookies');
          const writeCombine = opts.reserveWc
            ? prefetchableBars(bdf, rt.sysfs ? { sysfs: rt.sysfs } : {}, opts.bar)
            : [];
          const memattrTables = opts.sampleDriver
            ? (await import('../cookie/sample-driver')).sampleDriverTables()
            : undefined;
          const bars = await withDevice(bdf, rt, (dev) => gatherCookies(dev, opts.bar), {
            ...openFlags(opts),
            writeCombine,
            memattrTables,
          });
          rt.out(opts.json ? toJson(bars) + '\n' : formatCookies(bdf, bars, c));
        },
      ),
    );

  addNvmeCommands(program, rt, bdfArg, { options: openOptions, flags: (o) => openFlags(o as OpenFlags) });
  addSriovCommand(program, rt, c);

  program.option('--no-color', 'no colour (NO_COLOR in the environment does the same)');
  for (const cmd of program.commands) cmd.option('--no-color', 'no colour (NO_COLOR in the environment does the same)');
  oneLineUsageErrors(program, (s) => rt.err(s));
  return program;
}

/** Exit status for what commander threw: help and version are fine, everything else is usage. */
export function commanderExit(e: CommanderError): number {
  if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version') return EXIT_OK;
  if (e.code === 'commander.help' && e.exitCode === 0) return EXIT_OK;
  return EXIT_USAGE;
}

/** Runs the CLI on `argv` (without node and the script); resolves to the exit status. */
export async function main(argv: string[], rt: Runtime): Promise<number> {
  // Read before parsing: colour is decided when the program is built.
  const plain = argv.includes('--no-color');
  const program = buildProgram(plain ? { ...rt, color: false, errColor: false } : rt);
  if (!argv.some((a) => a !== '--no-color')) {
    rt.err(shortUsage(program));
    return EXIT_USAGE;
  }
  try {
    await program.parseAsync(argv, { from: 'user' });
    return EXIT_OK;
  } catch (e) {
    if (e instanceof CommanderError) return commanderExit(e);
    if (e instanceof ExitStatus) return e.status;
    reportFailure(e, rt);
    return EXIT_FAILED;
  }
}
