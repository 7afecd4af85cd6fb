// The emulated host's own userland: apt output parsing, ELF reading, cache entries that detect
// damage, the KVM/TCG decision on fixtures and on this machine, and the provisioned QEMU itself
// (the pinned version, its firmware inside the entry, the KVM probe's firmware under TCG).
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { decideAccel, hostKvmFacts, KvmFacts, probeFirmware, staticDecision } from '../../lib/vm/qemu/accel';
import { PrivateApt, parsePolicy, parseSimulation } from '../../lib/vm/archive/apt';
import { refreshLists } from '../../lib/vm/archive/apt-lists';
import { downloadPackages } from '../../lib/vm/archive/download';
import { VmError } from '../../lib/vm/core/errors';
import { commitEntry, readEntry } from '../../lib/vm/core/cache-entry';
import { elfNeeded, modinfo } from '../../lib/vm/core/elf';
import { execRaw } from '../../lib/vm/core/exec';
import { DEFAULT_LISTS_MAX_AGE_SECONDS, defaultCacheDir } from '../../lib/vm/options';
import { readPins, upstreamVersion } from '../../lib/vm/core/pins';
import { provisionUserland, userlandKey } from '../../lib/vm/archive/userland';
import { toolArgv } from '../../lib/vm/archive/userland-tools';

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'vfio-userland-test-'));

describe('apt output', () => {
  it('reads the version table of apt-cache policy by suite', () => {
    const text = `qemu-system-x86:
  Installed: (none)
  Candidate: 1:10.0.13+ds-0+deb13u1
  Version table:
     1:11.1.3+ds-2~bpo13+1 100
        100 http://deb.debian.org/debian trixie-backports/main amd64 Packages
     1:10.0.13+ds-0+deb13u1 500
        500 http://deb.debian.org/debian trixie/main amd64 Packages
     1:7.2+dfsg-7+deb12u18 500
        500 http://deb.debian.org/debian bookworm/main amd64 Packages
`;
    expect(parsePolicy(text)).toEqual({
      'trixie-backports': ['1:11.1.3+ds-2~bpo13+1'],
      trixie: ['1:10.0.13+ds-0+deb13u1'],
      bookworm: ['1:7.2+dfsg-7+deb12u18'],
    });
  });

  it('reads exact versions from a simulated install, including the [old] form', () => {
    const text =
      'NOTE: simulation\nInst libc6 (2.41-12+deb13u5 Debian:13.8/stable [amd64]) []\n' +
      'Inst seabios [1.16] (1.17.0-1~bpo13+1 Debian Backports:stable-backports [all])\nConf libc6 (2.41)\n';
    expect(parseSimulation(text)).toEqual([
      { name: 'libc6', version: '2.41-12+deb13u5' },
      { name: 'seabios', version: '1.17.0-1~bpo13+1' },
    ]);
  });

  it('takes the upstream version out of a Debian one', () => {
    expect(upstreamVersion('1:11.1.3+ds-2~bpo13+1')).toBe('11.1.3');
    expect(upstreamVersion('2.41-12+deb13u5')).toBe('2.41');
  });
});

describe('ELF reading', () => {
  it('lists the libraries node itself needs, the C library among them', () => {
    const needed = elfNeeded(process.execPath);
    expect(needed).toContain('libc.so.6');
    // readelf (binutils, there with the C compiler) is the independent witness.
    const readelf = execFileSync('readelf', ['-d', process.execPath]).toString();
    const expected = [...readelf.matchAll(/\(NEEDED\)\s+Shared library: \[([^\]]+)\]/g)].map((m) => m[1]);
    expect(needed).toEqual(expected);
  });

  it('reads the depends= of a module-like object from its .modinfo section', () => {
    const dir = tmp();
    const src = path.join(dir, 'm.c');
    fs.writeFileSync(
      src,
      'const char a[] __attribute__((section(".modinfo"), used)) = "license=GPL\\0depends=vfio,irqbypass";\n',
    );
    execFileSync('gcc', ['-c', src, '-o', path.join(dir, 'm.o')]);
    const info = modinfo(fs.readFileSync(path.join(dir, 'm.o')));
    expect(info).toEqual([
      ['license', 'GPL'],
      ['depends', 'vfio,irqbypass'],
    ]);
    fs.rmSync(dir, { recursive: true, force: true });
  });
});

describe('cache entries', () => {
  function entry(): { base: string; dest: string } {
    const base = tmp();
    const work = path.join(base, 'e.tmp');
    fs.mkdirSync(path.join(work, 'root', 'bin'), { recursive: true });
    fs.writeFileSync(path.join(work, 'root', 'bin', 'tool'), 'x'.repeat(1000));
    fs.symlinkSync('tool', path.join(work, 'root', 'bin', 'alias'));
    const dest = path.join(base, 'e');
    commitEntry(work, dest, { version: '1' });
    return { base, dest };
  }

  it('reads back a complete entry', () => {
    const { base, dest } = entry();
    expect(readEntry(dest)).toEqual({ state: 'ok', info: { version: '1' } });
    expect(fs.existsSync(path.join(base, 'e.tmp'))).toBe(false);
    fs.rmSync(base, { recursive: true, force: true });
  });

  it('finds a truncated file, a missing file, a changed link, and a missing manifest', () => {
    const cases: Array<[string, (root: string, dest: string) => void, RegExp]> = [
      ['truncated', (r) => fs.truncateSync(path.join(r, 'bin', 'tool'), 10), /bin\/tool is 10 bytes, expected 1000/],
      ['missing', (r) => fs.rmSync(path.join(r, 'bin', 'tool')), /bin\/tool is missing/],
      [
        'relinked',
        (r) => {
          fs.rmSync(path.join(r, 'bin', 'alias'));
          fs.symlinkSync('other', path.join(r, 'bin', 'alias'));
        },
        /bin\/alias is not the link/,
      ],
      ['no manifest', (_r, d) => fs.rmSync(path.join(d, 'manifest.json')), /manifest\.json is unreadable/],
    ];
    for (const [, damage, reason] of cases) {
      const { base, dest } = entry();
      damage(path.join(dest, 'root'), dest);
      const state = readEntry(dest);
      expect(state.state).toBe('damaged');
      expect(state.state === 'damaged' && state.reason).toMatch(reason);
      fs.rmSync(base, { recursive: true, force: true });
    }
  });
});

describe('KVM or TCG', () => {
  const intel = 'processor\t: 0\nflags\t\t: fpu vme de pse msr vmx ept\n';
  const amd = 'processor\t: 0\nflags\t\t: fpu svm npt\n';
  const pvm = 'processor\t: 0\nflags\t\t: fpu vme de pse msr hypervisor\n';
  const facts = (cpuinfo: string, modules: string[], devKvmUsable = true): KvmFacts => ({
    cpuinfo,
    modules,
    devKvmUsable,
  });
  const never = async () => {
    throw new Error('the functional check must not run');
  };
  const passes = async () => ({ ok: true, ms: 9, detail: 'ok' });

  it('takes TCG without VMX/SVM, whatever /dev/kvm and modules say (a software-only KVM)', async () => {
    const d = await decideAccel('auto', facts(pvm, ['kvm', 'kvm_pvm']), never);
    expect(d).toEqual({ accel: 'tcg', reason: 'no VMX/SVM in /proc/cpuinfo (kvm_pvm is not hardware KVM)' });
  });

  it('takes TCG when the vendor module is not loaded or /dev/kvm is not usable', async () => {
    expect(staticDecision(facts(intel, ['kvm']))).toEqual({
      accel: 'tcg',
      reason: 'the CPU has vmx but kvm_intel is not loaded',
    });
    expect(staticDecision(facts(amd, ['kvm', 'kvm_intel']))).toEqual({
      accel: 'tcg',
      reason: 'the CPU has svm but kvm_amd is not loaded',
    });
    expect((await decideAccel('auto', facts(amd, ['kvm_amd'], false), never)).accel).toBe('tcg');
  });

  it('runs the functional check only when everything else allows KVM, and follows it', async () => {
    expect(await decideAccel('auto', facts(intel, ['kvm', 'kvm_intel']), passes)).toEqual({
      accel: 'kvm',
      reason: 'KVM check passed in 9 ms',
    });
    const slow = async () => ({ ok: false, ms: 800, detail: 'no exit within 800 ms' });
    expect(await decideAccel('auto', facts(amd, ['kvm_amd']), slow)).toEqual({
      accel: 'tcg',
      reason: 'KVM check failed (no exit within 800 ms)',
    });
  });

  it('obeys --accel kvm and --accel tcg without probing', async () => {
    expect((await decideAccel('kvm', facts(pvm, []), never)).accel).toBe('kvm');
    expect((await decideAccel('tcg', facts(intel, ['kvm_intel']), never)).accel).toBe('tcg');
  });

  it('on this machine: TCG when the CPU has no VMX/SVM, decided in well under a second', async () => {
    const host = hostKvmFacts();
    const hasVirt = /^flags\s*:.*\b(vmx|svm)\b/m.test(host.cpuinfo);
    const t0 = Date.now();
    const d = await decideAccel('auto', host, never);
    expect(Date.now() - t0).toBeLessThan(1000);
    if (!hasVirt)
      expect(d).toEqual(expect.objectContaining({ accel: 'tcg', reason: expect.stringMatching(/^no VMX\/SVM/) }));
    else
      expect(staticDecision(host)).not.toEqual(expect.objectContaining({ reason: expect.stringMatching(/^no VMX/) }));
  });
});

describe('downloads', () => {
  it('a mirror that does not answer: the error names the step and the files not fetched, and nothing is left', async () => {
    // Current lists first (the download is what must fail), then the same lists with every fetch
    // going through a proxy on the discard port: nothing answers.
    await refreshLists(new PrivateApt(defaultCacheDir()), DEFAULT_LISTS_MAX_AGE_SECONDS, () => undefined);
    const apt = new PrivateApt(defaultCacheDir(), ['-oAcquire::http::Proxy=http://127.0.0.1:9']);
    const version = (await apt.versionsBySuite('busybox-static')).trixie[0];
    const dir = path.join(tmp(), 'debs');
    let err: unknown;
    try {
      await downloadPackages(apt, 'busybox for the test', [{ name: 'busybox-static', version }], dir, () => undefined);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(VmError);
    expect((err as VmError).kind).toBe('provision');
    expect((err as VmError).message).toMatch(
      /^busybox for the test: download failed \(not fetched: busybox-static_\S+\.deb\)/,
    );
    expect((err as VmError).message).toMatch(/Offline\? A cache filled by an earlier run works without the network/);
    expect(fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => f.endsWith('.deb')) : []).toEqual([]);
    fs.rmSync(path.dirname(dir), { recursive: true, force: true });
  }, 300_000);
});

describe('the provisioned QEMU', () => {
  const cacheDir = defaultCacheDir();

  it('is the pinned version, run through its own loader, with its firmware inside the entry', async () => {
    const userland = await provisionUserland({ cacheDir });
    const pins = readPins();
    expect(userland.dir).toBe(path.join(cacheDir, 'userland', userlandKey(pins)));
    expect(userland.info.packages['qemu-system-x86']).toBe(pins.qemu.version);
    const [file, args] = toolArgv(userland.qemu, ['--version']);
    expect(file.startsWith(userland.root)).toBe(true);
    const version = execFileSync(file, args).toString();
    expect(version).toContain(`QEMU emulator version ${upstreamVersion(pins.qemu.version)}`);
    // -L help lists the data directories QEMU searches: all inside the entry, none of the host's.
    const [f2, a2] = toolArgv(userland.qemu, ['-L', 'help']);
    const dirs = execFileSync(f2, a2).toString().trim().split('\n');
    expect(dirs.length).toBeGreaterThan(0);
    for (const d of dirs) expect(fs.realpathSync(d).startsWith(userland.root)).toBe(true);
    expect(fs.existsSync(path.join(userland.firmwareDir, 'qboot.rom'))).toBe(true);
  }, 600_000);

  it('works from a filled cache without apt (offline)', async () => {
    const real = await provisionUserland({ cacheDir });
    const offline = tmp();
    fs.mkdirSync(path.join(offline, 'userland'));
    fs.symlinkSync(real.dir, path.join(offline, 'userland', path.basename(real.dir)));
    const savedPath = process.env.PATH;
    process.env.PATH = '/nonexistent'; // apt-get, dpkg: nowhere to be found
    try {
      const again = await provisionUserland({ cacheDir: offline });
      expect(again.info).toEqual(real.info);
    } finally {
      process.env.PATH = savedPath;
      fs.rmSync(offline, { recursive: true, force: true });
    }
  });

  it('runs the KVM probe firmware to its debug-exit (here under TCG): the loop and the exit port work', async () => {
    const userland = await provisionUserland({ cacheDir });
    const dir = tmp();
    const bios = path.join(dir, 'probe.bin');
    fs.writeFileSync(bios, probeFirmware());
    const [file, args] = toolArgv(userland.qemu, [
      '-machine',
      'q35',
      '-accel',
      'tcg',
      '-m',
      '16M',
      '-nodefaults',
      '-no-user-config',
      '-display',
      'none',
      '-bios',
      bios,
      '-device',
      'isa-debug-exit,iobase=0xf4,iosize=1',
    ]);
    const r = await execRaw(file, args);
    fs.rmSync(dir, { recursive: true, force: true });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(3); // (1 << 1) | 1: the firmware wrote 1 to the port after its loop
  }, 120_000);
});
