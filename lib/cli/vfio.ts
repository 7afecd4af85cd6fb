#!/usr/bin/env node
// The `vfio` command (bin entry). Everything but the process itself lives in program.ts, so the
// whole CLI can also run in-process (tests do).
import pc from 'picocolors';
import { currentInvocation } from '../system/hints';
import { dropOutputOnEpipe } from '../text/usage';
import { main } from './program';

// Colour only on a terminal (or with FORCE_COLOR), never with NO_COLOR or --no-color: picocolors
// applies those conventions; the terminal test is made per stream.
const forced = 'FORCE_COLOR' in process.env;
const colorOn = (tty: boolean | undefined) => pc.isColorSupported && (!!tty || forced);

// npx (npm exec) sets npm_command=exec for the command it runs: hints then say `npx vfio …`,
// which is how the reader started it (docs/cli.md).
const cli = process.env.npm_command === 'exec' ? 'npx vfio' : 'vfio';

dropOutputOnEpipe(process.stdout);
main(process.argv.slice(2), {
  invocation: currentInvocation(cli),
  out: (s) => process.stdout.write(s),
  err: (s) => process.stderr.write(s),
  color: colorOn(process.stdout.isTTY),
  errColor: colorOn(process.stderr.isTTY),
  uid: process.getuid?.() ?? -1,
}).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    // main() reports every failure itself; reaching here is a bug worth a stack trace.
    console.error(e);
    process.exitCode = 1;
  },
);
