// Argument handling and exit statuses of `vfio`: usage errors exit 2 with the usage line, failed
// operations exit 1 with `error:` and `hint:`, help exits 0. Run in-process (main() with a
// recording runtime) and once through the real bin, which is what users and scripts see.
import { spawn, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { parseBdfArg, parseOffsetArg, parseRegionArg, parseWidthArg } from '../../lib/cli/args';
import { buildProgram, main } from '../../lib/cli/program';
import { Runtime } from '../../lib/cli/report';
import { commandGroups } from '../../lib/text/usage';
import { SysfsTree } from './cli-fixture';

interface Run {
  code: number;
  out: string;
  err: string;
}

async function vfio(argv: string[], over: Partial<Runtime> = {}): Promise<Run> {
  let out = '';
  let err = '';
  const code = await main(argv, {
    out: (s) => {
      out += s;
    },
    err: (s) => {
      err += s;
    },
    color: false,
    errColor: false,
    uid: 0,
    ...over,
  });
  return { code, out, err };
}

describe('argument parsers', () => {
  it('normalise PCI addresses, regions, offsets and widths', () => {
    expect(parseBdfArg('00:03.0')).toBe('0000:00:03.0');
    expect(parseBdfArg('0000:AF:1F.7')).toBe('0000:af:1f.7');
    expect(['0', 'bar5', 'BAR2', 'rom', 'config', 'region9'].map(parseRegionArg)).toEqual([0, 5, 2, 6, 7, 9]);
    expect([parseOffsetArg('0x20'), parseOffsetArg('32'), parseOffsetArg('0x1_0000')]).toEqual([32n, 32n, 0x10000n]);
    expect(['8', 'w', '32', 'q'].map(parseWidthArg)).toEqual([1, 2, 4, 8]);
  });

  it.each([
    [parseBdfArg, '3.0'],
    [parseRegionArg, '6'],
    [parseRegionArg, 'bar6'],
    [parseOffsetArg, '-4'],
    [parseOffsetArg, '0x'],
    [parseOffsetArg, '0x10000000000000000'],
    [parseWidthArg, '4'],
    [parseWidthArg, '12'],
  ])('%p rejects %p', (parse, text) => {
    expect(() => (parse as (t: string) => unknown)(text)).toThrow(
      expect.objectContaining({ code: 'commander.invalidArgument' }),
    );
  });
});

describe('usage errors exit 2 with the usage line', () => {
  it.each([
    [['peek', '00:03.0', '7', '0'], /value '7' is invalid for argument 'bar'\. expected a BAR number 0-5/, 'peek'],
    [['peek', 'xyz', '0', '0'], /expected a PCI address like 0000:00:03\.0/, 'peek'],
    [['peek', '00:03.0', '0', '0', '12'], /expected a width in bits: 8, 16, 32 or 64/, 'peek'],
    [['poke', '00:03.0', '0', '0', '0x1ff', '8'], /value 0x1ff does not fit in 8 bits/, 'poke'],
    [['poke', '00:03.0', '0', '0'], /missing required argument 'value'/, 'poke'],
    [['info'], /missing required argument 'bdf'/, 'info'],
    [['info', '00:03.0', 'extra'], /too many arguments for 'info'/, 'info'],
    [['list', '--bogus'], /unknown option '--bogus'/, 'list'],
    [['cookies', '00:04.0', '--bar', '9'], /expected a BAR number 0-5/, 'cookies'],
    [
      ['info', '00:03.0', '--backend', 'vfio2'],
      /argument 'vfio2' is invalid\. Allowed choices are auto, type1, iommufd-compat, iommufd, noiommu/,
      'info',
    ],
  ])('vfio %j', async (argv, message, cmd) => {
    const r = await vfio(argv as string[]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(message);
    // One line: the mistake and where the command's help is, not the help itself.
    expect(r.err).toMatch(new RegExp(`^vfio: [^\n]+; see vfio ${cmd} --help\n$`));
    expect(r.out).toBe('');
  });

  it('an unknown option of vfio itself, and an unknown command: the same one line', async () => {
    expect(await vfio(['--x'])).toEqual({ code: 2, out: '', err: "vfio: unknown option '--x'; see vfio --help\n" });
    expect(await vfio(['frobnicate'])).toEqual({
      code: 2,
      out: '',
      err: "vfio: unknown command 'frobnicate'; see vfio --help\n",
    });
  });

  // Every command group of the program, found in it, so a new group is covered without a change here.
  const groups = commandGroups(buildProgram({ out: () => {}, err: () => {}, color: false, errColor: false, uid: 0 }));
  it('finds the command groups in the program (nvme at least)', () => {
    expect(groups.map((g) => g.path.join(' '))).toContain('nvme');
  });
  it.each(groups.map((g) => [g.path.join(' '), g.path, g.command.commands.map((c) => c.name())] as const))(
    'vfio %s without its subcommand: one line naming the subcommands and the help, exit 2',
    async (name, argv, subs) => {
      const r = await vfio([...argv]);
      expect(r).toEqual({
        code: 2,
        out: '',
        err: `vfio: missing subcommand (one of: ${subs.join(', ')}); see vfio ${name} --help\n`,
      });
    },
  );

  it('no arguments: a short usage (usage line, the commands, where help is), exit 2', async () => {
    for (const argv of [[], ['--no-color']]) {
      const none = await vfio(argv);
      expect(none.code).toBe(2);
      expect(none.out).toBe('');
      const lines = none.err.split('\n');
      expect(lines[0]).toBe('Usage: vfio [options] [command]');
      expect(lines[1]).toMatch(/^Commands: list, doctor, info, bind, unbind, /);
      expect(lines[2]).toBe('See vfio --help, or vfio COMMAND --help.');
      expect(lines.length).toBe(4);
    }
  });
});

describe('help', () => {
  it('exits 0 and lists every command', async () => {
    const r = await vfio(['--help']);
    expect(r.code).toBe(0);
    for (const c of ['list', 'info', 'bind', 'unbind', 'peek', 'poke', 'features', 'cookies'])
      expect(r.out).toMatch(new RegExp(`\\n  ${c} `));
    expect(r.out).toContain('Exit status: 0 ok, 1 the operation failed');
  });

  it('every subcommand has help with examples', async () => {
    const names = buildProgram({
      out: () => undefined,
      err: () => undefined,
      color: false,
      errColor: false,
      uid: 0,
    }).commands.map((c) => c.name());
    for (const name of names) {
      const r = await vfio(['help', name]);
      expect(r.code).toBe(0);
      expect(r.out).toContain(`Usage: vfio ${name}`);
      expect(r.out).toMatch(/Examples:\n {2}\$ (sudo )?vfio /);
    }
  });
});

describe('colour', () => {
  it('--no-color is accepted anywhere and turns colour off', async () => {
    const tree = new SysfsTree([{ bdf: '0000:02:00.0', driver: 'igb', group: 3 }]);
    try {
      const coloured = await vfio(['list'], { sysfs: tree.root, color: true });
      expect(coloured.out).toContain('\u001b[');
      for (const argv of [
        ['list', '--no-color'],
        ['--no-color', 'list'],
      ]) {
        const r = await vfio(argv, { sysfs: tree.root, color: true });
        expect(r.code).toBe(0);
        expect(r.out).not.toContain('\u001b[');
        expect(r.out).toMatch(/^BDF +IDS/);
      }
    } finally {
      tree.remove();
    }
  });
});

describe('failed operations exit 1 with error and hint', () => {
  let tree: SysfsTree;
  beforeAll(() => {
    tree = new SysfsTree([
      { bdf: '0000:02:00.0', vendor: 0x8086, device: 0x1533, class: 0x020000, driver: 'igb', group: 3 },
    ]);
  });
  afterAll(() => tree.remove());

  it('bind without root', async () => {
    const r = await vfio(['bind', '02:00.0'], { uid: 1000, sysfs: tree.root });
    expect(r.code).toBe(1);
    expect(r.err).toBe(
      `error: bind writes to ${tree.root}/bus/pci and needs root\nhint: sudo vfio bind 0000:02:00.0\n`,
    );
  });

  it('info on a device not bound to vfio-pci gives the binding hint before opening anything', async () => {
    for (const m of ['vfio', 'vfio_pci', 'vfio_iommu_type1']) fs.mkdirSync(tree.p(`module/${m}`), { recursive: true });
    fs.mkdirSync(path.join(tree.root, 'dev/vfio'), { recursive: true });
    fs.writeFileSync(path.join(tree.root, 'dev/vfio/vfio'), '');
    try {
      const r = await vfio(['info', '02:00.0'], { sysfs: tree.root, dev: path.join(tree.root, 'dev') });
      expect(r.code).toBe(1);
      expect(r.err).toMatch(/^error: Device\.open: 0000:02:00\.0 is not bound to a VFIO driver\n/);
      expect(r.err).toMatch(/\nhint: vfio bind 0000:02:00\.0\n$/);
      // Through npx, as a user with sudo: the hint is what that user types.
      const npx = await vfio(['info', '02:00.0'], {
        sysfs: tree.root,
        dev: path.join(tree.root, 'dev'),
        uid: 1000,
        invocation: { cli: 'npx vfio', root: false, sudo: true },
      });
      expect(npx.err).toMatch(/\nhint: sudo npx vfio bind 0000:02:00\.0\n$/);
    } finally {
      fs.rmSync(tree.p('module'), { recursive: true });
    }
  });

  it('info leads with the root cause: vfio-pci missing, then no IOMMU, rather than `vfio bind`', async () => {
    const r = await vfio(['info', '02:00.0'], { sysfs: tree.root });
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/^error: Device\.open: 0000:02:00\.0: vfio and vfio-pci modules: not loaded: vfio\b/);
    expect(r.err).not.toMatch(/vfio bind/);
    const bare = new SysfsTree([{ bdf: '0000:05:00.0', driver: 'e1000e' }]);
    for (const m of ['vfio', 'vfio_pci']) fs.mkdirSync(bare.p(`module/${m}`), { recursive: true });
    try {
      const noGroup = await vfio(['info', '05:00.0'], { sysfs: bare.root });
      expect(noGroup.err).toMatch(
        /^error: Device\.open: 0000:05:00\.0: IOMMU present: no IOMMU: no DMAR or IVRS ACPI table/,
      );
      expect(noGroup.err).not.toMatch(/vfio bind/);
    } finally {
      bare.remove();
    }
  });

  it('list --json on the same tree', async () => {
    const r = await vfio(['list', '--json'], { sysfs: tree.root });
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out)).toEqual([
      expect.objectContaining({
        bdf: '0000:02:00.0',
        id: '8086:1533',
        driver: 'igb',
        iommuGroup: 3,
        vfio: { usable: false, reasons: ['bound to igb'], hint: 'vfio bind 0000:02:00.0' },
      }),
    ]);
  });
});

describe('the vfio bin', () => {
  const bin = path.resolve(__dirname, '../../dist/lib/cli/vfio.js');
  const run = (args: string[]) =>
    spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });

  beforeAll(() => {
    if (!fs.existsSync(bin)) throw new Error(`${bin} is missing: build with \`npx tsc -p tsconfig.json\` first`);
  });

  it('starts with a node shebang', () => {
    expect(fs.readFileSync(bin, 'utf8').split('\n')[0]).toBe('#!/usr/bin/env node');
  });

  it('passes the exit status through: 2 for usage, 0 for --version', () => {
    const bad = run(['peek', '00:03.0', 'bar9', '0']);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/^vfio: .*expected a BAR number 0-5.*; see vfio peek --help\n$/);
    const v = run(['--version']);
    expect(v.status).toBe(0);
    expect(v.stdout.trim()).toBe(
      JSON.parse(fs.readFileSync(path.resolve(__dirname, '../../package.json'), 'utf8')).version,
    );
  });
});

describe('NO_COLOR through the real bins', () => {
  // FORCE_COLOR turns colour on in a pipe; NO_COLOR wins over it (no-color.org), for both commands.
  const bins = {
    vfio: [path.resolve(__dirname, '../../dist/lib/cli/vfio.js'), 'list'],
    'vfio-vm': [path.resolve(__dirname, '../../dist/lib/vm/cli/main.js'), 'list-devices'],
  };
  const env = (extra: Record<string, string>) => {
    const e = { ...process.env, ...extra };
    if (!('NO_COLOR' in extra)) delete e.NO_COLOR;
    return e;
  };
  it.each(Object.entries(bins))('%s', (_name, [bin, command]) => {
    const forced = spawnSync(process.execPath, [bin, command], { encoding: 'utf8', env: env({ FORCE_COLOR: '1' }) });
    expect(forced.status).toBe(0);
    expect(forced.stdout).toContain('\u001b[');
    const plain = spawnSync(process.execPath, [bin, command], {
      encoding: 'utf8',
      env: env({ FORCE_COLOR: '1', NO_COLOR: '1' }),
    });
    expect(plain.status).toBe(0);
    expect(plain.stdout).not.toContain('\u001b[');
    expect(plain.stdout.replace(/\s+/g, ' ')).toBe(
      forced.stdout.replace(new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*m`, 'g'), '').replace(/\s+/g, ' '),
    );
    const version = spawnSync(process.execPath, [bin, '--version'], { encoding: 'utf8' });
    expect(version.status).toBe(0);
    expect(version.stdout.trim()).toBe(
      JSON.parse(fs.readFileSync(path.resolve(__dirname, '../../package.json'), 'utf8')).version,
    );
  });
});

describe('a reader that goes away (`vfio --help | head -0`)', () => {
  // The pipe's read end is closed before the command starts writing (Node takes far longer to
  // start than this takes), so its first write fails with EPIPE: that must end the command
  // quietly, with status 0, not with a stack trace.
  it.each([
    ['vfio', path.resolve(__dirname, '../../dist/lib/cli/vfio.js')],
    ['vfio-vm', path.resolve(__dirname, '../../dist/lib/vm/cli/main.js')],
  ])('%s --help', async (_name, bin) => {
    const child = spawn(process.execPath, [bin, '--help'], { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.destroy();
    let stderr = '';
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    const status = await new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    expect({ status, stderr }).toEqual({ status: 0, stderr: '' });
  });
});
