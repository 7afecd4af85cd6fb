// How both command lines (`vfio`, `vfio-vm`) answer a usage error: one line on stderr naming the
// mistake and where the help is (`vfio: unknown option '--x'; see vfio list --help`), exit status
// 2, never the whole help; and with no command at all, a short usage. Commander prints its own
// "error: …" text; this turns it into that line for every command of a program.
import type { Command } from 'commander';

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
    for (const sub of cmd.commands) visit(sub, `${commandPath} ${sub.name()}`);
  };
  visit(root, program);
}

/** The short usage printed when a program is run with no command: usage line, commands, pointer. */
export function shortUsage(root: Command): string {
  const names = root.commands.filter((c) => !(c as unknown as { _hidden?: boolean })._hidden).map((c) => c.name());
  return (
    `Usage: ${root.name()} ${root.usage()}\n` +
    `Commands: ${names.join(', ')}\n` +
    `See ${root.name()} --help, or ${root.name()} COMMAND --help.\n`
  );
}
