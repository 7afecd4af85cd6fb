// A program of the provisioned userland, and how to start it. Debian's trixie binaries need a
// newer C library than many hosts have, so each one is started through the dynamic loader
// that came with it (`ld-linux-x86-64.so.2 --library-path LIBS PROGRAM ARGS`): the host's own
// loader, C library and ld.so.cache are never involved.
import { ExecOptions, ExecResult, exec } from '../core/exec';

/** A program of the provisioned userland (or of the host), and how to start it. */
export interface Tool {
  /** A display name ("qemu-system-x86_64", "xz"). */
  name: string;
  /** The file to execute: the extracted loader, or the program itself (host programs). */
  file: string;
  /** Arguments before the program's own (the loader's --library-path and the program path). */
  prefix: string[];
}

/** A host program used as it is (e.g. `--qemu PATH`). */
export const hostTool = (file: string, name = file): Tool => ({ name, file, prefix: [] });

/** The program's command line with these arguments. */
export const toolArgv = (tool: Tool, args: string[]): [string, string[]] => [tool.file, [...tool.prefix, ...args]];

/** Runs the tool to completion (see exec()). */
export function runTool(tool: Tool, args: string[], opts: ExecOptions = {}): Promise<ExecResult> {
  const [file, argv] = toolArgv(tool, args);
  return exec(file, argv, opts);
}
