// `npm run demo` is the README's main job, so it is tested as a user runs it: scripts/demo.js
// builds what is missing, boots the emulated host once and runs the CLI and both examples in it.
// The name holds "vm-": CI's quick host pass (which skips booting tests) leaves it out.
import { spawn } from 'child_process';
import * as path from 'path';

const root = path.resolve(__dirname, '../..');

function runDemo(): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(root, 'scripts', 'demo.js')], {
      cwd: root,
      env: { ...process.env, NO_COLOR: '1' },
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      out += d.toString();
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, out }));
  });
}

describe('npm run demo', () => {
  let demo: { code: number | null; out: string };
  beforeAll(
    async () => {
      demo = await runDemo();
    },
    20 * 60 * 1000,
  );

  it('exits 0', () => {
    if (demo.code !== 0) throw new Error(`demo exited ${demo.code}:\n${demo.out}`);
  });

  it('shows every step under its header, with the command a user would type', () => {
    const headers = demo.out.split('\n').filter((l) => l.startsWith('==> '));
    expect(headers).toEqual(
      expect.arrayContaining([
        '==> Build',
        '==> Boot the emulated host and run the demo in it',
        '==> PCI devices, and which ones VFIO can use',
        '==> The edu device as VFIO describes it',
        '==> Example: a userspace driver for edu (MMIO, interrupt, DMA)',
        '==> Example: shared memory with the host through ivshmem',
        '==> Example: the NVMe driver writes and reads a namespace',
        "==> The NVMe controller through the CLI's driver",
        '==> Blocks the example wrote, as the CLI reads them',
      ]),
    );
    expect(demo.out).toContain('\n$ vfio list\n');
    expect(demo.out).toMatch(/\n\$ vfio info 0000:00:03\.0\n/);
  });

  it('vfio list shows the test devices as usable, vfio info describes edu', () => {
    expect(demo.out).toMatch(/\n0000:00:03\.0 +1234:11e8 +Unclassified device +vfio-pci +\d+ +yes\n/);
    expect(demo.out).toMatch(/\n0000:01:00\.0 +1b36:0010 +Non-Volatile memory controller +vfio-pci +\d+ +yes\n/);
    expect(demo.out).toMatch(/\n0000:00:03\.0 Unclassified device \[00ff\]: Device \[1234:11e8\] \(rev 10\)\n/);
    expect(demo.out).toMatch(/\n\t {2}0 +BAR0 +mem32 +1M +0x0 +rwm +0x0\+1M/);
    expect(demo.out).toContain('\t  [40] MSI: ');
  });

  it('both examples ran to their checks', () => {
    expect(demo.out).toContain('liveness check: wrote 0x12345678, read 0xedcba987 -> ok');
    expect(demo.out).toContain('factorial: 10! = 3628800 (interrupt status 0x1)');
    expect(demo.out).toMatch(
      /DMA round trip at IOVA 0x[0-9a-f]+: "hello from the host, through the IOMMU and back" -> ok/,
    );
    expect(demo.out).toMatch(/mmap cookie: route [\w-]+ \(/);
    // BAR2 is reserved WC before the open, which makes the stock kernel's mapping write-combining.
    expect(demo.out).toContain('\nmapping attribute: wc\n');
    expect(demo.out).toMatch(/host file \S+: "hello host, from pid \d+ at [^"]+" -> ok/);
    expect(demo.out).not.toContain('failed steps:');
  });

  it('the NVMe driver wrote and read blocks, and the CLI read the same bytes', () => {
    expect(demo.out).toMatch(/: QEMU NVMe Ctrl, serial vfiovm0, firmware \S+, NVMe \d+\.\d+\.\d+\n/);
    expect(demo.out).toContain('block 8: "hello from TypeScript, through an NVMe queue pair" -> ok');
    expect(demo.out).toMatch(
      /256 KiB at block 64 \(a PRP list of 63 entries\): ok; queue 1 on MSI-X vector 1: \d+ completions, \d+ interrupts/,
    );
    expect(demo.out).toMatch(
      /\$ vfio nvme identify 0000:01:00\.0\n0000:01:00\.0: NVMe [\d.]+, QEMU NVMe Ctrl \(serial vfiovm0/,
    );
    expect(demo.out).toMatch(
      /\n[0-9a-f]{8} {2}68 65 6c 6c 6f 20 66 72 {2}6f 6d 20 54 79 70 65 53 {2}\|hello from TypeS\|\n/,
    );
  });
});
