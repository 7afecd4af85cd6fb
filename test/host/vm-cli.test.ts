// `vfio-vm` behaves like `vfio` on the command line: usage errors exit 2 with the usage line and
// a pointer to --help (not the whole help), --version, and the borderless table without colour
// codes when the output is not a terminal.
import * as fs from 'fs';
import * as path from 'path';
import { main, program } from '../../lib/vm/cli/main';
import { commandGroups } from '../../lib/text/usage';
import { defaultDevices } from '../../lib/vm/qemu/devices';

async function vm(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const o = jest.spyOn(process.stdout, 'write').mockImplementation((s: string | Uint8Array) => {
    out.push(String(s));
    return true;
  });
  const e = jest.spyOn(process.stderr, 'write').mockImplementation((s: string | Uint8Array) => {
    err.push(String(s));
    return true;
  });
  try {
    process.exitCode = 0;
    await main(['node', 'vfio-vm', ...args]);
  } finally {
    o.mockRestore();
    e.mockRestore();
  }
  const code = Number(process.exitCode ?? 0);
  process.exitCode = 0;
  return { code, out: out.join(''), err: err.join('') };
}

describe('vfio-vm on the command line', () => {
  it.each([
    [['run', '--bogus', '--', 'true'], /^vfio-vm: unknown option '--bogus'; see vfio-vm run --help\n$/],
    [['kernel', 'build', '--nope'], /^vfio-vm: unknown option '--nope'; see vfio-vm kernel build --help\n$/],
    [['frobnicate'], /^vfio-vm: unknown command 'frobnicate'; see vfio-vm --help\n$/],
    [['--x'], /^vfio-vm: unknown option '--x'; see vfio-vm --help\n$/],
    [['run'], /^vfio-vm: missing required argument 'cmd'; see vfio-vm run --help\n$/],
  ])('%j: exit 2, one line with a pointer', async (args, expected) => {
    const r = await vm(...args);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(expected);
    expect(r.out).toBe('');
  });

  // Every command group of the program, found in it, so a new group is covered without a change here.
  const groups = commandGroups(program());
  it('finds the command groups in the program (kernel at least)', () => {
    expect(groups.map((g) => g.path.join(' '))).toContain('kernel');
  });
  it.each(groups.map((g) => [g.path.join(' '), g.path, g.command.commands.map((c) => c.name())] as const))(
    'vfio-vm %s without its subcommand: one line naming the subcommands and the help, exit 2',
    async (name, args, subs) => {
      const r = await vm(...args);
      expect(r).toEqual({
        code: 2,
        out: '',
        err: `vfio-vm: missing subcommand (one of: ${subs.join(', ')}); see vfio-vm ${name} --help\n`,
      });
    },
  );

  it('no arguments: a short usage, exit 2', async () => {
    const r = await vm();
    expect(r.code).toBe(2);
    expect(r.out).toBe('');
    expect(r.err).toMatch(
      /^Usage: vfio-vm \[options\] \[command\]\nCommands: run, shell, provision, kernel, kernels, list-devices\nSee vfio-vm --help, or vfio-vm COMMAND --help\.\n$/,
    );
  });

  it('--version prints the package version', async () => {
    const r = await vm('--version');
    expect(r.code).toBe(0);
    expect(r.out.trim()).toBe(
      JSON.parse(fs.readFileSync(path.resolve(__dirname, '../../package.json'), 'utf8')).version,
    );
  });

  it('list-devices: the borderless table, no colour codes in a pipe', async () => {
    const r = await vm('list-devices');
    expect(r.code).toBe(0);
    expect(r.out).not.toContain('\u001b[');
    const lines = r.out.split('\n');
    expect(lines[0]).toMatch(/^DEVICE +BDF +VARIABLE +PURPOSE$/);
    expect(lines[1]).toMatch(new RegExp(`^edu +${defaultDevices[0].bdf} +VFIO_VM_EDU +QEMU teaching device`));
    // Wrapped at 60 columns under PURPOSE, aligned with it.
    const purposeAt = lines[0].indexOf('PURPOSE');
    expect(lines.filter((l) => l.startsWith(' '.repeat(purposeAt)) && l.trim()).length).toBeGreaterThan(0);
    expect(Math.max(...lines.map((l) => l.length - purposeAt))).toBeLessThanOrEqual(60);
  });
});
