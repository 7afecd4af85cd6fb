// The emulated host's pieces that need no guest: package resolution, bzImage parsing, the cpio
// writer, the command script, and how a run's end is diagnosed (device placement:
// vm-devices.test.ts).
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { parseStanzas } from '../../lib/vm/archive/apt';
import { S_IFCHR, S_IFDIR, S_IFLNK, S_IFREG, cpioArchive } from '../../lib/vm/core/cpio';
import { LineSplitter } from '../../lib/vm/core/lines';
import { compareReleases, genericImages, imagePackageFor, kernelDependencies } from '../../lib/vm/kernel/debian-kernel';
import { RunEnd, diagnose } from '../../lib/vm/qemu/diagnose';
import { VmError } from '../../lib/vm/core/errors';
import { commandScript, mountsFile } from '../../lib/vm/qemu/guest-spec';
import { bzImagePayload, bzImageRelease, hasPvhEntry } from '../../lib/vm/kernel/kernel-image';
import { defaultCacheDir, parseEnvAssignment } from '../../lib/vm/options';
import { findProjectDir, projectDirFor } from '../../lib/vm/core/project';

describe('Debian kernel resolution', () => {
  it('keeps generic amd64 images only, newest first by numeric release', () => {
    const names = [
      'linux-image-7.2.12+deb13-amd64',
      'linux-image-7.3.4+deb13-cloud-amd64',
      'linux-image-7.3.4+deb13-rt-amd64',
      'linux-image-7.3.4+deb13-amd64-unsigned',
      'linux-image-7.3.4+deb13-amd64-dbg',
      'linux-image-amd64',
      'linux-image-7.2.9+deb13-amd64',
      'linux-image-7.3.4+deb13-amd64',
      'linux-image-6.1.0-41-amd64',
    ];
    expect(genericImages(names)).toEqual([
      'linux-image-7.3.4+deb13-amd64',
      'linux-image-7.2.12+deb13-amd64',
      'linux-image-7.2.9+deb13-amd64',
      'linux-image-6.1.0-41-amd64',
    ]);
    expect(compareReleases('7.2.12+deb13', '7.2.9+deb13')).toBeGreaterThan(0);
  });

  it('names the image package for any way of writing a version', () => {
    for (const v of ['7.3.4+deb13', '7.3.4+deb13-amd64', 'linux-image-7.3.4+deb13-amd64']) {
      expect(imagePackageFor(v)).toBe('linux-image-7.3.4+deb13-amd64');
    }
  });

  it('takes the exact-version kernel packages from Depends, not the initramfs tools', () => {
    const [stanza] = parseStanzas(
      'Package: linux-image-7.3.4+deb13-amd64\nVersion: 7.3.4-1~bpo13+1\n' +
        'Depends: dracut | initramfs-tools (>= 0.120+deb8u2) | linux-initramfs-tool, linux-base-7.3.4+deb13-amd64 (= 7.3.4-1~bpo13+1),' +
        ' linux-binary-7.3.4+deb13-amd64 (= 7.3.4-1~bpo13+1), linux-modules-7.3.4+deb13-amd64 (= 7.3.4-1~bpo13+1)\n' +
        'Description: a\n continued\n',
    );
    expect(stanza.Version).toBe('7.3.4-1~bpo13+1');
    expect(stanza.Description).toBe('a\ncontinued');
    expect(kernelDependencies(stanza.Depends)).toEqual([
      'linux-base-7.3.4+deb13-amd64=7.3.4-1~bpo13+1',
      'linux-binary-7.3.4+deb13-amd64=7.3.4-1~bpo13+1',
      'linux-modules-7.3.4+deb13-amd64=7.3.4-1~bpo13+1',
    ]);
  });
});

/** A minimal bzImage: boot sector, "HdrS" header, release string, and a payload. */
function fakeBzImage(payload: Buffer, release: string): Buffer {
  const setupSects = 4;
  const img = Buffer.alloc((setupSects + 1) * 512 + 64 + payload.length);
  img[0x1f1] = setupSects;
  img.write('HdrS', 0x202, 'latin1');
  img.writeUInt16LE(0x300 - 0x200, 0x20e);
  img.write(`${release} (builder@host) #1 SMP\0`, 0x300, 'latin1');
  img.writeUInt32LE(64, 0x248);
  img.writeUInt32LE(payload.length, 0x24c);
  payload.copy(img, (setupSects + 1) * 512 + 64);
  return img;
}

describe('bzImage and vmlinux', () => {
  it('reads the release and finds a zstd payload, cutting the appended size', () => {
    const zst = Buffer.concat([Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 1, 2, 3]), Buffer.from([0x10, 0x27, 0, 0])]);
    const img = fakeBzImage(zst, '7.3.4+deb13-amd64');
    expect(bzImageRelease(img)).toBe('7.3.4+deb13-amd64');
    const p = bzImagePayload(img);
    expect([p.codec, p.data.length, p.size]).toEqual(['zstd', 7, 10000]);
  });

  it('rejects a payload it cannot decompress', () => {
    expect(() => bzImagePayload(fakeBzImage(Buffer.from('plain text payload'), 'x'))).toThrow(
      expect.objectContaining({ kind: 'kernel-path' }),
    );
  });

  it('finds no PVH entry in an ELF without the Xen note', () => {
    const f = path.join(os.tmpdir(), `vm-units-${process.pid}.elf`);
    const elf = Buffer.alloc(64);
    elf.writeUInt32BE(0x7f454c46, 0);
    elf[4] = 2;
    fs.writeFileSync(f, elf);
    try {
      expect(hasPvhEntry(f)).toBe(false);
    } finally {
      fs.rmSync(f);
    }
  });
});

describe('cpio (newc)', () => {
  it('writes an archive the cpio tool lists and extracts, device nodes included', () => {
    const archive = cpioArchive([
      { path: 'bin', mode: S_IFDIR | 0o755 },
      { path: 'bin/hello', mode: S_IFREG | 0o755, data: Buffer.from('#!/bin/sh\necho hi\n') },
      { path: 'bin/sh', mode: S_IFLNK | 0o777, data: Buffer.from('busybox') },
      { path: 'dev/console', mode: S_IFCHR | 0o600, rdevMajor: 5, rdevMinor: 1 },
    ]);
    expect(archive.length % 4).toBe(0);
    const names = spawnSync('cpio', ['-it', '--quiet'], { input: archive });
    if (names.error) return; // the cpio tool is optional on the host; the format is checked below
    expect(names.stdout.toString().trim().split('\n')).toEqual(['bin', 'bin/hello', 'bin/sh', 'dev/console']);
    const long = spawnSync('cpio', ['-itv', '--quiet'], { input: archive }).stdout.toString().trim().split('\n');
    expect(long[2]).toMatch(/^lrwxrwxrwx .* bin\/sh -> busybox$/);
    expect(long[3]).toMatch(/^crw------- .* 5,\s+1 .* dev\/console$/);
  });

  it('pads every header+name and every file body to 4 bytes and ends with the trailer', () => {
    const archive = cpioArchive([{ path: 'a', mode: S_IFREG | 0o644, data: Buffer.from('xyz') }]);
    const text = archive.toString('latin1');
    expect(text.startsWith('070701')).toBe(true);
    // 110-byte header + "a\0" = 112 (aligned), then "xyz" + 1 pad byte.
    expect(text.slice(110, 112)).toBe('a\0');
    expect(text.slice(112, 116)).toBe('xyz\0');
    expect(text.slice(116, 122)).toBe('070701');
    expect(text).toContain('TRAILER!!!');
  });
});

describe('line splitter', () => {
  it('gives the lines each chunk completes and holds back the unfinished tail', () => {
    const s = new LineSplitter();
    expect(s.push('{"a"')).toEqual([]);
    expect(s.pending).toBe('{"a"');
    expect(s.push(':1}\n{"b":2}\n\n{"c"')).toEqual(['{"a":1}', '{"b":2}', '']);
    expect(s.pending).toBe('{"c"');
    expect(s.push('}\n')).toEqual(['{"c"}']);
    expect(s.pending).toBe('');
  });
});

describe('guest spec', () => {
  it('writes a command script that runs exactly the argv with exactly the env', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vm-units-'));
    try {
      const script = commandScript(dir, { A: "it's" }, [
        '/bin/sh',
        '-c',
        'printf "%s|" "$0" "$1" "$A" "${SECRET-unset}" "$(pwd -P)"',
        'zero',
        "x y'z",
      ]);
      // The guest runs it with busybox's env; the host's GNU env has the same -i semantics.
      const r = spawnSync('sh', ['-c', script.replace('/bin/env', 'env')], {
        env: { SECRET: 'leak', PATH: '/usr/bin:/bin' },
      });
      expect([r.status, r.stdout.toString()]).toEqual([0, `zero|x y'z|it's|unset|${fs.realpathSync(dir)}|`]);
    } finally {
      fs.rmSync(dir, { recursive: true });
    }
  });

  it('lists mounts parents first', () => {
    const share = (tag: string, guestPath: string) => ({
      tag,
      hostPath: guestPath,
      guestPath,
      readonly: tag === 'usr',
      cache: 'none' as const,
    });
    expect(mountsFile([share('project', '/usr/src/p'), share('usr', '/usr')])).toBe(
      'usr /usr ro none\nproject /usr/src/p rw none\n',
    );
  });
});

describe('diagnosis of a run', () => {
  const end = (over: Partial<RunEnd>): RunEnd => ({
    qemu: { code: 0, signal: null, stderr: '', timedOut: false, aborted: false },
    consoleTail: '[    1.0] last line',
    consoleLog: '/c/logs/console.log',
    timeoutSeconds: 5,
    ...over,
  });
  const error = (e: RunEnd) => {
    try {
      diagnose(e);
    } catch (x) {
      return x as VmError;
    }
    throw new Error('no error');
  };

  it('returns the status the init wrote, else the one it announced', () => {
    expect(diagnose(end({ status: 'exit 3' }))).toBe(3);
    expect(diagnose(end({ consoleStatus: 'exit 0' }))).toBe(0);
  });

  it('names timeouts, QEMU failures, panics, init errors and silence, quoting the console', () => {
    const t = error(end({ qemu: { code: null, signal: 'SIGTERM', stderr: '', timedOut: true, aborted: false } }));
    expect([t.kind, t.message.split('\n')[0]]).toEqual(['timeout', 'timed out after 5 s: the guest was stopped']);
    expect(t.message).toContain('[    1.0] last line');
    const q = error(
      end({
        qemu: {
          code: 1,
          signal: null,
          stderr: "qemu: -device foo: 'foo' is not a valid device model name\n",
          timedOut: false,
          aborted: false,
        },
      }),
    );
    expect([q.kind, q.message.split('\n')[0]]).toEqual([
      'qemu',
      "QEMU failed (exit 1): qemu: -device foo: 'foo' is not a valid device model name",
    ]);
    const p = error(end({ panicLine: '[    2.0] Kernel panic - not syncing: VFS: Unable to mount root fs' }));
    expect([p.kind, p.message.split('\n')[0]]).toEqual([
      'panic',
      'the guest kernel panicked: Kernel panic - not syncing: VFS: Unable to mount root fs',
    ]);
    const g = error(end({ status: 'error bind 0000:00:08.0 vfio-pci probe failed (driver: )' }));
    expect([g.kind, g.message.split('\n')[0]]).toEqual([
      'guest',
      'guest setup failed (bind): 0000:00:08.0 vfio-pci probe failed (driver: )',
    ]);
    expect(error(end({})).kind).toBe('no-status');
  });
});

describe('options', () => {
  it('uses XDG_CACHE_HOME when absolute, else ~/.cache', () => {
    expect(defaultCacheDir({ XDG_CACHE_HOME: '/x/cache' })).toBe('/x/cache/vfio-vm');
    expect(defaultCacheDir({ XDG_CACHE_HOME: 'relative' })).toBe(path.join(os.homedir(), '.cache', 'vfio-vm'));
    expect(defaultCacheDir({})).toBe(path.join(os.homedir(), '.cache', 'vfio-vm'));
  });

  it('parses --env NAME=VALUE, keeping = in the value', () => {
    expect(parseEnvAssignment('A=b=c')).toEqual(['A', 'b=c']);
    expect(() => parseEnvAssignment('=x')).toThrow(VmError);
    expect(() => parseEnvAssignment('1A=x')).toThrow(VmError);
  });
});

describe('project directory', () => {
  it('is the nearest package.json above the working directory, else the directory itself', () => {
    const top = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'vm-units-')));
    try {
      fs.mkdirSync(path.join(top, 'proj', 'test', 'deep'), { recursive: true });
      fs.writeFileSync(path.join(top, 'proj', 'package.json'), '{}');
      expect(findProjectDir(path.join(top, 'proj', 'test', 'deep'))).toBe(path.join(top, 'proj'));
      expect(findProjectDir(path.join(top, 'proj'))).toBe(path.join(top, 'proj'));
      expect(findProjectDir(top)).toBe(top);
      expect(projectDirFor(path.join(top, 'proj', 'test'))).toBe(path.join(top, 'proj'));
    } finally {
      fs.rmSync(top, { recursive: true });
    }
  });

  it('must contain the working directory and cannot be /', () => {
    expect(() => projectDirFor('/srv/a', '/srv/b')).toThrow('outside the shared project directory /srv/b');
    expect(() => projectDirFor('/srv/ab', '/srv/a')).toThrow(VmError);
    expect(projectDirFor('/srv/a/b', '/srv/a')).toBe('/srv/a');
    expect(() => projectDirFor('/srv', '/')).toThrow('cannot be /');
  });
});
