// `vfio-vm` behaves like `vfio` on the command line: usage errors exit 2 with the usage line and
// a pointer to --help (not the whole help), --version, and the borderless table without colour
// codes when the output is not a terminal.
import * as fs from 'fs';
import * as path from 'path';
import { main } from '../../lib/vm/cli/main';
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
    [
      ['run', '--bogus', '--', 'true'],
      /^error: unknown option '--bogus'\nUsage: vfio-vm run \[options\] <cmd\.\.\.>\n\(run 'vfio-vm run --help' for details\)\n$/,
    ],
    [
      ['kernel', 'build', '--nope'],
      /^error: unknown option '--nope'\nUsage: vfio-vm kernel build \[options\]\n\(run 'vfio-vm kernel build --help' for details\)\n$/,
    ],
    [['frobnicate'], /^error: unknown command 'frobnicate'\n\(run 'vfio-vm --help' for the list of commands\)\n$/],
  ])('%j: exit 2, the usage line and a pointer', async (args, expected) => {
    const r = await vm(...args);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(expected);
    expect(r.out).toBe('');
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
