// How both command lines (`vfio`, `vfio-vm`) answer a usage error: one line on stderr naming the
// mistake and where the help is (`vfio: unknown option '--x'; see vfio list --help`), exit status
// 2, never the whole help; and with no command at all, a short usage. Commander prints its own
// "error: …" text; this turns it into that line for every command of a program. A command group
// run without its subcommand (`vfio nvme`) is a usage error too: commander would print the
// group's whole help, so the group answers with the same one line, naming its subcommands.
import type { Command, HelpContext } from 'commander';

/** The commands a user is shown (commander keeps `hidden` private). */
function visibleNames(cmd: Command): string[] {
  return cmd.commands.filter((c) => !(c as unknown as { _hidden?: boolean })._hidden).map((c) => c.name());
}

/** The groups of `root`: commands below it that have subcommands, with their command paths. */
export function commandGroups(root: Command): { path: string[]; command: Command }[] {
  const out: { path: string[]; command: Command }[] = [];
  const visit = (cmd: Command, at: string[]) => {
    for (const sub of cmd.commands) {
      const path = [...at, sub.name()];
      if (sub.commands.length > 0) out.push({ path, command: sub });
      visit(sub, path);
    }
  };
  visit(root, []);
  return out;
}

/**
 * Commander shows a group's whole help, as an error, when it is run without a subcommand (the
 * only time help is shown with `error: true`): the group reports that as a usage error instead.
 */
function missingSubcommandIsUsageError(group: Command): void {
  const help = group.help.bind(group);
  group.help = ((context?: HelpContext) => {
    if (!context?.error) return help(context);
    return group.error(`missing subcommand (one of: ${visibleNames(group).join(', ')})`, {
      exitCode: 2,
      code: 'commander.missingSubcommand',
    });
  }) as Command['help'];
}

/** commander's error text ("error: unknown option '--x'\n(Did you mean --y?)\n") as one line. */
export function usageLine(program: string, commandPath: string, text: string): string {
  const message = text
    .replace(/^error:\s*/, '')
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
    .join(' ');
  return `${program}: ${message}; see ${commandPath} --help\n`;
}

/**
 * Makes every command of `root` (subcommands included) report usage errors as one line through
 * `writeErr`, pointing at that command's help. Call once the commands are all added.
 */
export function oneLineUsageErrors(root: Command, writeErr: (s: string) => void): void {
  const program = root.name();
  const visit = (cmd: Command, commandPath: string) => {
    cmd.showHelpAfterError(false);
    cmd.configureOutput({ outputError: (s) => writeErr(usageLine(program, commandPath, s)) });
    if (cmd !== root && cmd.commands.length > 0) missingSubcommandIsUsageError(cmd);
    for (const sub of cmd.commands) visit(sub, `${commandPath} ${sub.name()}`);
  };
  visit(root, program);
}

/** The short usage printed when a program is run with no command: usage line, commands, pointer. */
export function shortUsage(root: Command): string {
  const names = visibleNames(root);
  return (
    `Usage: ${root.name()} ${root.usage()}\n` +
    `Commands: ${names.join(', ')}\n` +
    `See ${root.name()} --help, or ${root.name()} COMMAND --help.\n`
  );
}

/**
 * `vfio … | head`: once the reader is gone, the rest of the output is dropped and the command
 * ends normally, instead of crashing on EPIPE with a stack trace (for `vfio-vm run`, with QEMU
 * mid-run). Any other error on the stream is still thrown.
 */
export function dropOutputOnEpipe(stream: NodeJS.WriteStream): void {
  stream.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code !== 'EPIPE') throw e;
  });
}
