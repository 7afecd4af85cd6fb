// The emulated host's pieces that need no guest: package resolution, bzImage parsing, the cpio
// writer, device placement, the command script, and how a run's end is diagnosed.
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { parseStanzas } from '../../lib/vm/archive/apt';
import { S_IFCHR, S_IFDIR, S_IFLNK, S_IFREG, cpioArchive } from '../../lib/vm/core/cpio';
import { compareReleases, genericImages, imagePackageFor, kernelDependencies } from '../../lib/vm/kernel/debian-kernel';
import { defaultDevices, guestDevices, parseAddr, rootPorts } from '../../lib/vm/qemu/devices';
import { sharedGroupQemuArgs } from '../../lib/vm/qemu/shared-group';
import { RunEnd, diagnose } from '../../lib/vm/qemu/diagnose';
import { VmError } from '../../lib/vm/core/errors';
import { commandScript, mountsFile } from '../../lib/vm/qemu/guest-spec';
import { bzImagePayload, bzImageRelease, hasPvhEntry } from '../../lib/vm/kernel/kernel-image';
import { defaultCacheDir, parseEnvAssignment } from '../../lib/vm/options';
import { findProjectDir, projectDirFor } from '../../lib/vm/core/project';

const res = { ivshmemFile: '/dev/shm/x/ivshmem', nvmeImage: '/c/nvme.img' };

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

describe('devices', () => {
  it('places the default devices at fixed BDFs with their variables', () => {
    expect(defaultDevices.map((d) => [d.name, d.bdf, d.env])).toEqual([
      ['edu', '0000:00:03.0', 'VFIO_VM_EDU'],
      ['ivshmem', '0000:00:04.0', 'VFIO_VM_IVSHMEM'],
      ['nvme', '0000:01:00.0', 'VFIO_VM_NVME'],
      ['pci-testdev', '0000:00:06.0', 'VFIO_VM_PCI_TESTDEV'],
    ]);
    const ivshmem = guestDevices([], true, res).find((d) => d.name === 'ivshmem')!;
    expect(ivshmem.qemuArgs.join(' ')).toContain('mem-path=/dev/shm/x/ivshmem,size=4M');
  });

  it('ivshmemRootPort: ivshmem behind a root port of its own on bus 2, the rest unchanged', () => {
    const plain = guestDevices(['edu'], true, res);
    const moved = guestDevices(['edu'], true, res, { ivshmemRootPort: true });
    const ivshmem = moved.find((d) => d.name === 'ivshmem')!;
    expect([ivshmem.bdf, ivshmem.env]).toEqual(['0000:02:00.0', 'VFIO_VM_IVSHMEM']);
    expect(ivshmem.qemuArgs.join(' ')).toMatch(
      /mem-path=\/dev\/shm\/x\/ivshmem,size=4M -device pcie-root-port,id=rp4,chassis=4,addr=0x4,x-speed=5 -device ivshmem-plain,id=ivshmem,memdev=ivshmem0,bus=rp4,addr=0x0$/,
    );
    const others = (ds: typeof plain) => ds.filter((d) => d.name !== 'ivshmem').map((d) => [d.name, d.bdf]);
    expect(others(moved)).toEqual(others(plain));
    expect(() => guestDevices(['edu,addr=0x4'], true, res, { ivshmemRootPort: true })).toThrow(/already taken/);
    // The igb comes last: bus 3 behind the other two ports, bus 2 without ivshmem's.
    expect(
      guestDevices([], true, res, { ivshmemRootPort: true, igb: true })
        .map((d) => d.bdf)
        .slice(-1),
    ).toEqual(['0000:03:00.0']);
    const igb = guestDevices([], true, res, { igb: true }).find((d) => d.name === 'igb')!;
    expect([igb.bdf, igb.env, igb.qemuArgs.join(' ')]).toEqual([
      '0000:02:00.0',
      'VFIO_VM_IGB',
      '-device pcie-root-port,id=rp2,chassis=2,addr=0x2,x-speed=5 -device igb,id=igb,bus=rp2,addr=0x0',
    ]);
    expect(() => guestDevices([], false, res, { ivshmemRootPort: true })).toThrow(/noDefaultDevices/);
  });

  describe('root ports: one allocator, highest slot first, so nvme keeps bus 1', () => {
    /** Every pcie-root-port of an argument list: [id, slot]. */
    const portsIn = (args: string[]) =>
      args
        .filter((a) => a.startsWith('pcie-root-port,'))
        .map((a) => {
          const m = /id=(rp[0-9a-f]+),chassis=(\d+),addr=0x([0-9a-f]+),x-speed=5$/.exec(a)!;
          expect(m[1]).toBe(`rp${m[3]}`);
          expect(Number(m[2])).toBe(parseInt(m[3], 16));
          return [m[1], parseInt(m[3], 16)] as const;
        });
    /** The whole -device list of a run with this layout: devices, then the shared group's pair. */
    const runArgs = (withDefaults: boolean, layout: Parameters<typeof rootPorts>[1], extra: string[] = []) => {
      const devs = guestDevices(extra, withDefaults, res, layout);
      const sg = rootPorts(withDefaults, layout).sharedGroup;
      return { devs, args: [...devs.flatMap((d) => d.qemuArgs), ...(sg ? sharedGroupQemuArgs(sg) : [])] };
    };
    const layouts = [
      {},
      { igb: true },
      { sharedGroup: true },
      { igb: true, sharedGroup: true },
      { ivshmemRootPort: true },
      { ivshmemRootPort: true, igb: true },
      { ivshmemRootPort: true, sharedGroup: true },
      { ivshmemRootPort: true, igb: true, sharedGroup: true },
    ];

    it.each(layouts)('%j: distinct slots, none a device uses, buses in descending slot order', (layout) => {
      const { devs, args } = runArgs(true, layout, ['qemu-xhci', 'edu']);
      const ports = portsIn(args);
      const slots = ports.map(([, slot]) => slot);
      expect(new Set(slots).size).toBe(slots.length);
      // Root-bus devices (default and extra) never share a slot with a port.
      for (const d of devs.filter((x) => x.bdf.startsWith('0000:00:')))
        expect(slots).not.toContain(parseInt(d.bdf.slice(8, 10), 16));
      // nvme's port is the highest slot and bus 1; every announced BDF behind a port is the bus
      // of its port's rank from the highest slot down (how the firmware numbers them).
      const byRank = [...slots].sort((a, b) => b - a);
      const busOf = (portId: string) => byRank.indexOf(ports.find(([id]) => id === portId)![1]) + 1;
      expect(devs.find((d) => d.name === 'nvme')!.bdf).toBe('0000:01:00.0');
      for (const d of devs.filter((x) => !x.bdf.startsWith('0000:00:'))) {
        const behind = d.qemuArgs.find((a) => /,bus=rp/.test(a) && !a.startsWith('pcie-root-port'))!;
        const portId = /bus=(rp[0-9a-f]+)/.exec(behind)![1];
        expect(d.bdf).toBe(`0000:${busOf(portId).toString(16).padStart(2, '0')}:00.0`);
      }
      const planned = rootPorts(true, layout);
      expect(Object.values(planned).map((p) => [p!.id, p!.slot, p!.bus])).toEqual(
        Object.values(planned).map((p) => [p!.id, p!.slot, busOf(p!.id)]),
      );
    });

    it('--igb with --shared-group: nvme 5 (bus 1), igb 2 (bus 2), the pair 1 (bus 3)', () => {
      const { devs, args } = runArgs(true, { igb: true, sharedGroup: true });
      expect(portsIn(args)).toEqual([
        ['rp5', 5],
        ['rp2', 2],
        ['rp1', 1],
      ]);
      expect(devs.find((d) => d.name === 'igb')!.bdf).toBe('0000:02:00.0');
      expect(args.join(' ')).toContain(
        '-device pcie-root-port,id=rp1,chassis=1,addr=0x1,x-speed=5 -device edu,bus=rp1,addr=0x0.0,multifunction=on -device virtio-rng-pci,bus=rp1,addr=0x0.1',
      );
      expect(rootPorts(true, { ivshmemRootPort: true, igb: true, sharedGroup: true })).toMatchObject({
        nvme: { slot: 5, bus: 1 },
        ivshmem: { slot: 4, bus: 2 },
        igb: { slot: 2, bus: 3 },
        sharedGroup: { slot: 1, bus: 4 },
      });
    });

    it('without the default devices the first port takes the highest slot and bus 1', () => {
      const { devs } = runArgs(false, { igb: true, sharedGroup: true });
      expect(devs.map((d) => [d.name, d.bdf])).toEqual([['igb', '0000:01:00.0']]);
      expect(rootPorts(false, { igb: true, sharedGroup: true })).toMatchObject({
        igb: { slot: 5, bus: 1 },
        sharedGroup: { slot: 4, bus: 2 },
      });
      // An extra device asking for a port's slot is refused.
      expect(() => guestDevices(['edu,addr=0x1'], true, res, { igb: true, sharedGroup: true })).toThrow(
        /already taken/,
      );
    });
  });

  it('gives extra devices free slots, or the addr they ask for, and numbered variables', () => {
    const devs = guestDevices(['qemu-xhci', 'pci-testdev,addr=0x9', 'edu'], true, res).slice(4);
    expect(devs.map((d) => [d.name, d.bdf, d.env, d.driver])).toEqual([
      ['qemu-xhci', '0000:00:08.0', 'VFIO_VM_DEVICE_0', 'vfio-pci'],
      ['pci-testdev', '0000:00:09.0', 'VFIO_VM_DEVICE_1', 'vfio-pci'],
      ['edu', '0000:00:0a.0', 'VFIO_VM_DEVICE_2', 'vfio-pci'],
    ]);
    expect(devs[0].qemuArgs).toEqual(['-device', 'qemu-xhci,id=device-0,addr=0x8']);
    expect(devs[1].qemuArgs).toEqual(['-device', 'pci-testdev,addr=0x9,id=device-1']);
    expect(devs.map((d) => d.id)).toEqual(['device-0', 'device-1', 'device-2']);
    // An id the spec gives is kept, and the defaults are named after themselves.
    expect(guestDevices(['edu,id=mine'], true, res).map((d) => d.id)).toEqual([
      'edu',
      'ivshmem',
      'nvme',
      'pci-testdev',
      'mine',
    ]);
  });

  it('without the defaults, extra devices start at the first extra slot', () => {
    expect(guestDevices(['edu'], false, res).map((d) => d.bdf)).toEqual(['0000:00:08.0']);
  });

  it('refuses taken or reserved addresses, other buses and malformed specs', () => {
    const kindOf = (f: () => unknown) => {
      try {
        f();
        return 'none';
      } catch (e) {
        return (e as VmError).kind;
      }
    };
    expect(kindOf(() => guestDevices(['edu,addr=0x3'], true, res))).toBe('options');
    expect(kindOf(() => guestDevices(['edu,addr=0x10'], true, res))).toBe('options');
    expect(kindOf(() => guestDevices(['edu,bus=pcie.1'], true, res))).toBe('options');
    expect(kindOf(() => guestDevices(['addr=0x8'], true, res))).toBe('options');
    expect(parseAddr('08.1')).toEqual([8, 1]);
    expect(parseAddr('0x1f')).toEqual([0x1f, 0]);
    expect(kindOf(() => parseAddr('0x20'))).toBe('options');
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
