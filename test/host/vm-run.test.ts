// The emulated host end to end: these tests boot the guest (three boots in all, a few seconds
// each) with the default cache, provisioning the kernel on first use.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { PassThrough } from 'stream';
import { defaultKernelPin, pinRelease, readKernelPins } from '../../lib/vm/core/kernel-pins';
import { main } from '../../lib/vm/cli/main';
import { VmError, provision, run } from '../../lib/vm';
import { readPins, upstreamVersion } from '../../lib/vm/core/pins';
import { must } from '../support/must';

function collector() {
  const stream = new PassThrough();
  let text = '';
  stream.on('data', (b: Buffer) => {
    text += b.toString();
  });
  return { stream, text: () => text };
}

async function vmError(p: Promise<unknown>): Promise<VmError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof VmError) return e;
    throw e;
  }
  throw new Error('the run succeeded');
}

const seq = (n: number) => Array.from({ length: n }, (_, i) => `${i + 1}\n`).join('');

describe('vfio-vm provision', () => {
  it('caches the pinned default kernel with its modules and matching uapi headers, and is fast when warm', async () => {
    const k = await provision();
    const pin = defaultKernelPin(readKernelPins());
    expect([k.kernelVersion, k.packageVersion]).toEqual([pinRelease(pin), pin.version]);
    const t0 = Date.now();
    const again = await provision();
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(again).toEqual(k);
    expect(k.source).toBe('debian');
    expect(k.kernelVersion).toMatch(/^\d+\.\d+(\.\d+)?\+deb\d+-amd64$/);
    expect(path.basename(must(k.modulesDir, 'k.modulesDir'))).toBe(k.kernelVersion);
    expect(k.pvh).toBe(true);
    const elf = Buffer.alloc(4);
    const fd = fs.openSync(k.kernelImage, 'r');
    fs.readSync(fd, elf, 0, 4, 0);
    fs.closeSync(fd);
    expect(elf.toString('latin1')).toBe('\x7fELF');
    // The include dir stands alone: vfio.h, iommufd.h and the arch headers they need.
    for (const h of ['linux/vfio.h', 'linux/iommufd.h', 'asm/ioctl.h', 'asm-generic/ioctl.h']) {
      expect([h, fs.existsSync(path.join(must(k.uapiInclude, 'k.uapiInclude'), h))]).toEqual([h, true]);
    }
    expect(fs.readFileSync(path.join(must(k.uapiInclude, 'k.uapiInclude'), 'linux/iommufd.h'), 'utf8')).toContain(
      'IOMMU_IOAS_ALLOC',
    );
  });
});

describe('vfio-vm run', () => {
  it('streams stdout and stderr apart, binds an extra device in its own group, and returns a failing status', async () => {
    const out = collector();
    const err = collector();
    const script = [
      'echo to-stdout; echo to-stderr >&2; seq 1 20000',
      'echo "vfio: $(ls /dev/vfio | tr "\\n" " ")" >&2',
      'for d in $VFIO_VM_DEVICES; do',
      '  echo "dev $d $(basename $(readlink /sys/bus/pci/devices/$d/driver)) $(basename $(readlink /sys/bus/pci/devices/$d/iommu_group))" >&2',
      'done',
      'echo "extra $VFIO_VM_DEVICE_0" >&2',
      // The machine type QEMU gave the guest's firmware tables: the QEMU that really ran.
      'echo "machine $(cat /sys/class/dmi/id/product_version)" >&2',
      'exit 3',
    ].join('\n');
    const r = await run({
      command: ['sh', '-c', script],
      devices: ['pci-testdev,addr=0x9'],
      stdout: out.stream,
      stderr: err.stream,
      timeoutSeconds: 120,
    });
    expect(r.exitCode).toBe(3);
    // Byte-exact and nothing of stderr in it: 20,000 lines through the virtio port.
    expect(out.text()).toBe('to-stdout\n' + seq(20000));
    const lines = err.text().split('\n');
    expect(lines[0]).toBe('to-stderr');
    const devs = lines.filter((l) => l.startsWith('dev ')).map((l) => l.split(' '));
    expect(devs.map((d) => d[1])).toEqual([
      '0000:00:03.0',
      '0000:00:04.0',
      '0000:01:00.0',
      '0000:00:06.0',
      '0000:00:09.0',
    ]);
    expect(devs.map((d) => d[2])).toEqual(Array(5).fill('vfio-pci'));
    const groups = devs.map((d) => d[3]);
    expect(new Set(groups).size).toBe(5);
    const listed = must(
      lines.find((l) => l.startsWith('vfio: ')),
      "lines .find((l) => l.startsWith('vfio: '))",
    )
      .slice(6)
      .trim()
      .split(' ');
    expect(listed.sort()).toEqual([...groups, 'vfio'].sort());
    expect(lines).toContain('extra 0000:00:09.0');
    expect(r.devices[4]).toEqual({
      name: 'pci-testdev',
      id: 'device-0',
      env: 'VFIO_VM_DEVICE_0',
      bdf: '0000:00:09.0',
      driver: 'vfio-pci',
    });
    expect(r.ivshmemFile).toBeUndefined();
    expect(r.timings.bootMs).toBeGreaterThan(0);
    // The pinned QEMU ran (vm/pins.json), not whatever the host has: the guest sees its machine type.
    const pinned = upstreamVersion(readPins().qemu.version);
    expect(r.qemu.source).toBe('provisioned');
    expect(r.qemu.version).toContain(`QEMU emulator version ${pinned}`);
    expect(lines).toContain(`machine pc-q35-${pinned.split('.').slice(0, 2).join('.')}`);
    // This machine has no VMX/SVM (its /dev/kvm, if any, is software-only): TCG, and said why.
    if (!/^flags\s*:.*\b(vmx|svm)\b/m.test(fs.readFileSync('/proc/cpuinfo', 'utf8'))) {
      expect(r.accel).toEqual({ accel: 'tcg', reason: expect.stringMatching(/^no VMX\/SVM in \/proc\/cpuinfo/) });
    }
  });

  it('returns 0, passes --env, shares the working directory read-write, and can keep the ivshmem file', async () => {
    const cwd = fs.mkdtempSync(path.join(os.tmpdir(), 'vm-run-'));
    const out = collector();
    try {
      const r = await run({
        command: [
          'node',
          '-e',
          'require("fs").writeFileSync("from-guest.txt", process.env.GREETING); process.stdout.write(process.cwd())',
        ],
        cwd,
        env: { GREETING: 'hello from the guest' },
        keepIvshmem: true,
        stdout: out.stream,
        stderr: collector().stream,
        timeoutSeconds: 120,
      });
      expect(r.exitCode).toBe(0);
      expect(out.text()).toBe(cwd);
      expect(fs.readFileSync(path.join(cwd, 'from-guest.txt'), 'utf8')).toBe('hello from the guest');
      expect(fs.statSync(must(r.ivshmemFile, 'r.ivshmemFile')).size).toBe(4 << 20);
      fs.rmSync(path.dirname(must(r.ivshmemFile, 'r.ivshmemFile')), { recursive: true });
    } finally {
      fs.rmSync(cwd, { recursive: true, force: true });
    }
  });

  it('stops a run at its timeout and says so', async () => {
    const t0 = Date.now();
    const e = await vmError(
      run({ command: ['sleep', '600'], timeoutSeconds: 8, stdout: collector().stream, stderr: collector().stream }),
    );
    expect(e.kind).toBe('timeout');
    expect(e.message).toMatch(/^timed out after 8 s/);
    expect(Date.now() - t0).toBeLessThan(30_000);
  });

  it('rejects a bad --kernel path before booting anything', async () => {
    const t0 = Date.now();
    const e = await vmError(run({ command: ['true'], kernel: '/nonexistent/bzImage' }));
    expect([e.kind, e.message]).toEqual(['kernel-path', '--kernel /nonexistent/bzImage: no such file or directory']);
    expect(Date.now() - t0).toBeLessThan(2000);
  });

  it('CLI: a bad --kernel path exits 125 with the message', async () => {
    const written: string[] = [];
    const spy = jest.spyOn(process.stderr, 'write').mockImplementation((s: string | Uint8Array) => {
      written.push(String(s));
      return true;
    });
    try {
      await main(['node', 'vfio-vm', 'run', '--kernel', './no/such/kernel', '--', 'true']);
    } finally {
      spy.mockRestore();
    }
    expect(process.exitCode).toBe(125);
    process.exitCode = 0;
    expect(written.join('')).toBe('vfio-vm: error: --kernel ./no/such/kernel: no such file or directory\n');
  });
});
