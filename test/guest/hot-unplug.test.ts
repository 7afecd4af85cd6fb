// Hot unplug of a device this process holds: the test asks the host to remove it (the request
// port of `vfio-vm run`, lib/vm/guest/unplug-request.ts), the host sends QEMU's device_del, the
// guest kernel removes the device, and vfio-pci, before letting the device go, asks its user to
// release it: the library's 'release-request'. What is checked: the holder gets the request
// while the device is still there, closes, QEMU then reports it deleted (DEVICE_DELETED), sysfs
// no longer has it, the process lives on and still drives VFIO, and its descriptors and pinned
// memory are back where they started. Without a close the kernel asks again (every 10 s) and the
// unplug waits. And a holder killed with the device open, mapped and DMA-mapped leaves nothing
// behind: the next open works. Removes nvme and ivshmem, so it runs in the `hotplug` configuration only
// (scripts/test/configs.js: both sit behind PCIe root ports there, where QEMU can unplug them).
import { spawn } from 'child_process';
import { once } from 'events';
import * as fs from 'fs';
import * as path from 'path';
import { Device, DmaBuffer } from '../../lib';
import { requestPortPath, requestUnplug } from '../../lib/vm/guest/unplug-request';
import { describeIf, guestEnv, openDevice } from './env';

const env = guestEnv();
const canUnplug = env.config === 'hotplug' && requestPortPath() !== undefined;
const describeUnplug = describeIf(canUnplug, 'removes devices: the hotplug configuration only');
const PAGE = 4096;

const openFds = () => fs.readdirSync('/proc/self/fd').length;
const present = (bdf: string) => fs.existsSync(`/sys/bus/pci/devices/${bdf}`);
/** A field of /proc/self/status in kB (VmPin: pages pinned for DMA; VmLck: locked). */
function statusKb(field: string): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(fs.readFileSync('/proc/self/status', 'utf8'));
  return m ? Number(m[1]) : 0;
}

describeUnplug('hot unplug', () => {
  beforeAll(async () => {
    // The first open sets up what the process keeps for every later one (the addon, the thread pool).
    (await openDevice(env.edu)).close();
  });

  it('a holder killed with the device open, BAR mapped and a buffer DMA-mapped: the next open works', async () => {
    const child = spawn(process.execPath, [path.join(__dirname, 'hold-child.js'), env.edu], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const exited = once(child, 'exit');
    const deadline = Date.now() + 120000;
    while (!out.includes('\n') && child.exitCode === null && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 50));
    expect(out).toMatch(/^held 10000ed [0-9a-f]+\n$/); // edu's ID register, read through the child's mapping
    // While the child holds it, the group is busy: a second open is refused.
    await expect(openDevice(env.edu)).rejects.toMatchObject({ code: 'EBUSY' });
    child.kill('SIGKILL');
    expect(await exited).toEqual([null, 'SIGKILL']);
    const dev = await openDevice(env.edu);
    try {
      const regs = dev.bar(0).map();
      regs.write32(0x04, 0x0badcafe);
      expect(regs.read32(0x04)).toBe(~0x0badcafe >>> 0);
    } finally {
      dev.close();
    }
  }, 180000);

  it('the holder of nvme (BAR mapped, buffer DMA-mapped) gets release-request, closes, and the unplug completes', async () => {
    const fds = openFds();
    const pinned = statusKb('VmPin') + statusKb('VmLck');
    expect(present(env.nvme)).toBe(true);
    const dev = await openDevice(env.nvme);
    dev.config.memorySpace = true;
    const bar = dev.bar(0).map();
    expect(bar.read32(0x08) >>> 16).toBe(1); // VS: NVMe 1.x, read through the mapping
    const buf = DmaBuffer.allocate(16 * PAGE);
    const dma = dev.iommu.map(buf);
    expect(statusKb('VmPin') + statusKb('VmLck')).toBeGreaterThan(pinned);
    expect(openFds()).toBeGreaterThan(fds);

    const seen: Array<{ count: number; present: boolean; deleted: boolean }> = [];
    let requested = false;
    let deleted = false;
    dev.on('release-request', (count) => {
      seen.push({ count, present: present(env.nvme), deleted });
      dma.unmap();
      buf.close();
      dev.close();
    });
    await requestUnplug('nvme', { timeoutSeconds: 90, onRequested: () => (requested = true) });
    deleted = true;

    expect(requested).toBe(true);
    expect(seen).toEqual([{ count: 1, present: true, deleted: false }]);
    expect(present(env.nvme)).toBe(false);
    expect(openFds()).toBe(fds);
    expect(statusKb('VmPin') + statusKb('VmLck')).toBe(pinned);
    // The process lives and VFIO still works: edu answers its liveness register.
    const edu = await openDevice(env.edu);
    try {
      const regs = edu.bar(0).map();
      regs.write32(0x04, 0x12345678);
      expect(regs.read32(0x04)).toBe(~0x12345678 >>> 0);
    } finally {
      edu.close();
    }
    expect(openFds()).toBe(fds);
  }, 180000);

  it('without a close the kernel asks again and the unplug waits; the close then lets it finish', async () => {
    const fds = openFds();
    expect(present(env.ivshmem)).toBe(true);
    const dev: Device = await openDevice(env.ivshmem);
    const seen: Array<{ count: number; at: number; present: boolean; deleted: boolean }> = [];
    let deleted = false;
    dev.on('release-request', (count) => {
      seen.push({ count, at: Date.now(), present: present(env.ivshmem), deleted });
      if (seen.length === 2) dev.close(); // ignore the first request
    });
    await requestUnplug('ivshmem', { timeoutSeconds: 120 });
    deleted = true;

    expect(seen.map((s) => [s.count, s.present, s.deleted])).toEqual([
      [1, true, false],
      [1, true, false],
    ]);
    // vfio waits 10 s between requests (vfio_unregister_group_dev).
    expect(seen[1].at - seen[0].at).toBeGreaterThanOrEqual(8000);
    expect(present(env.ivshmem)).toBe(false);
    expect(openFds()).toBe(fds);
  }, 240000);
});
