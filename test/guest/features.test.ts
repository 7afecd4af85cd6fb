// VFIO_DEVICE_FEATURE against the real kernel in the emulated host: the probe list against a C
// probe of every number, dma-buf export of ivshmem's BAR2, low power on edu, unknown numbers.
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { InvalidArgumentError, NotSupportedError, formatProbeReport, isFeatureError, probeReport } from '../../lib';
import { native } from '../../lib/addon/native';
import { packageRoot } from '../../lib/addon/paths';
import { describeIf, openDevice } from './env';
import { thrown } from '../support/errors';
import { sleep } from '../support/time';
import { must } from '../support/must';

const EDU = must(process.env.VFIO_VM_EDU, 'process.env.VFIO_VM_EDU');
const IVSHMEM = must(process.env.VFIO_VM_IVSHMEM, 'process.env.VFIO_VM_IVSHMEM');
const NVME = must(process.env.VFIO_VM_NVME, 'process.env.VFIO_VM_NVME');
const DEVICES: [string, string][] = [
  ['edu', EDU],
  ['ivshmem', IVSHMEM],
  ['nvme', NVME],
];
const ALL = Array.from({ length: 16 }, (_, i) => i);

const runtimeStatus = (bdf: string) =>
  fs.readFileSync(`/sys/bus/pci/devices/${bdf}/power/runtime_status`, 'utf8').trim();

/** Runtime suspend runs from a workqueue after the ioctl returns: wait for it. */
async function settles(bdf: string, status: string): Promise<string> {
  for (let i = 0; i < 100 && runtimeStatus(bdf) !== status; i++) await sleep(20);
  return runtimeStatus(bdf);
}
const fdTarget = (fd: number) => {
  try {
    return fs.readlinkSync(`/proc/self/fd/${fd}`);
  } catch {
    return undefined;
  }
};

// ---------------------------------------------------------------------------------------------

/** A probe answer as test/tools/vfio-probe prints it: 0, or the errno name. */
type CAnswer = 0 | string;
interface CProbe {
  features: { index: number; probe: CAnswer; probe_get: CAnswer; probe_set: CAnswer }[];
}

/** The C probe's answers for numbers 0..15 on one device, spelled as FeatureInfo.answers. */
function cProbe(bdf: string): Map<number, { probe: string; get: string; set: string }> {
  const out = execFileSync(path.join(packageRoot(), 'build', 'tools', 'vfio-probe'), [bdf], { encoding: 'utf8' });
  const name = (a: CAnswer) => (a === 0 ? 'OK' : a);
  return new Map(
    (JSON.parse(out) as CProbe).features.map((f) => [
      f.index,
      { probe: name(f.probe), get: name(f.probe_get), set: name(f.probe_set) },
    ]),
  );
}

/**
 * Whether this kernel offers dma-buf export (VFIO_DEVICE_FEATURE_DMA_BUF, 11) on ivshmem, as
 * the C probe's PROBE|GET answers it: what the export tests expect follows the kernel's answer.
 */
const DMA_BUF_OFFERED = must(cProbe(IVSHMEM).get(11), 'cProbe(IVSHMEM).get(11)').get === 'OK';
const DMA_BUF_ABSENT = 'the kernel answers ENOTTY to DMA_BUF (dma-buf export is Linux 6.19+)';

describe('features() matches a C probe of every number', () => {
  it.each(DEVICES)('%s', async (_name, bdf) => {
    const c = cProbe(bdf); // before opening: the C probe needs the group to itself
    await using dev = await openDevice(bdf);
    const list = dev.features({ extraIndices: ALL });
    for (const i of ALL)
      expect([
        i,
        must(
          list.find((f) => f.index === i),
          'list.find((f) => f.index === i)',
        ).answers,
      ]).toEqual([i, c.get(i)]);
    const byName = Object.fromEntries(list.map((f) => [f.name, f]));
    expect(byName.DMA_BUF).toMatchObject(
      DMA_BUF_OFFERED
        ? { index: 11, supported: true, get: true, set: false }
        : { index: 11, supported: false, answers: { probe: 'ENOTTY', get: 'ENOTTY', set: 'ENOTTY' } },
    );
    expect(byName.LOW_POWER_ENTRY).toMatchObject({ index: 3, supported: true, get: false, set: true });
    expect(byName.LOW_POWER_EXIT).toMatchObject({ supported: true, set: true });
    expect(byName.BUS_MASTER).toMatchObject({
      supported: false,
      answers: { probe: 'ENOTTY', get: 'ENOTTY', set: 'ENOTTY' },
    });
    expect(byName.MIGRATION.answers.probe).toBe('ENOTTY');
    const report = probeReport(bdf, list);
    expect(report.answered).toEqual(
      ALL.filter((i) => {
        const a = must(c.get(i), `the C probe's answers for feature ${i}`);
        return [a.probe, a.get, a.set].some((x) => x !== 'ENOTTY');
      }),
    );
    expect(formatProbeReport(report)).toContain(`VFIO_DEVICE_FEATURE probes on ${bdf}`);
  });

  it('a table for a kernel numbered differently names what answered by it', async () => {
    await using dev = await openDevice(EDU, {
      featureNumbers: { LOW_POWER_EXIT: null, RESUME: 5, ZPCI_ERROR: null, DMA_BUF_MEMATTR: 13 },
    });
    const list = dev.features();
    expect(list.find((f) => f.index === 5)).toMatchObject({ name: 'RESUME', supported: true, set: true });
    expect(list.find((f) => f.index === 13)).toMatchObject({ name: 'DMA_BUF_MEMATTR', supported: false });
    dev.feature('LOW_POWER_ENTRY').enter();
    dev.feature('RESUME').set();
    expect(dev.bar(0).read32(0)).toBe(0x010000ed);
    await expect(openDevice(EDU, { featureNumbers: { X: 3 } })).rejects.toMatchObject({
      code: 'EINVAL',
      message: expect.stringMatching(/LOW_POWER_ENTRY and X/),
    });
  });
});

describe('unknown and unsupported features', () => {
  it('an unknown number is a not-supported error with op and number', async () => {
    await using dev = await openDevice(EDU);
    // A payload for a number the addon does not know is refused before the kernel sees it…
    for (const [index, call] of [
      [42, (i: number) => dev.feature(i).get(8)],
      [0x1234, (i: number) => dev.feature(i).set(new Uint8Array(4))],
    ] as const) {
      const refused = thrown(() => call(index));
      expect(refused).toBeInstanceOf(InvalidArgumentError);
      expect(refused.hint).toMatch(/unsafe: true/);
    }
    // …and, taken through the raw path on purpose, the kernel's answer comes back typed.
    for (const [index, call] of [
      [42, (i: number) => dev.feature(i).get(8, { unsafe: true })],
      [0x1234, (i: number) => dev.feature(i).set(new Uint8Array(4), { unsafe: true })],
    ] as const) {
      const err = thrown(() => call(index));
      expect(err).toBeInstanceOf(NotSupportedError);
      expect(err).toMatchObject({ code: 'ENOTTY', op: 'VFIO_DEVICE_FEATURE', device: EDU });
      expect(isFeatureError(err) && err.feature.index).toBe(index);
      expect(err.message).toContain(`feature ${index} (feature${index})`);
    }
    expect(dev.feature(42).probe()).toBe(false);
  });

  it('BUS_MASTER, MIGRATION and the VF token are not vfio-pci features of these devices', async () => {
    await using dev = await openDevice(EDU);
    const bm = thrown(() => dev.feature('BUS_MASTER').setMaster(true));
    expect(bm).toMatchObject({ code: 'ENOTTY', op: 'VFIO_DEVICE_FEATURE' });
    expect(bm.hint).toMatch(/dev\.config\.busMaster = true/);
    expect(thrown(() => dev.feature('MIGRATION').read())).toBeInstanceOf(NotSupportedError);
    expect(thrown(() => dev.feature('MIG_DEVICE_STATE').read())).toBeInstanceOf(NotSupportedError);
    expect(thrown(() => dev.feature('PCI_VF_TOKEN').setToken('00112233-4455-6677-8899-aabbccddeeff')).code).toBe(
      'ENOTTY',
    );
    // Our checks come first: a bad UUID never reaches the kernel.
    expect(thrown(() => dev.feature('PCI_VF_TOKEN').setToken('nope'))).toBeInstanceOf(InvalidArgumentError);
    // DMA_BUF offers GET only: a SET is the kernel's EINVAL (ENOTTY where it has no DMA_BUF).
    expect(thrown(() => dev.feature('DMA_BUF').set(new Uint8Array(16)))).toMatchObject(
      DMA_BUF_OFFERED
        ? { code: 'EINVAL', errno: os.constants.errno.EINVAL }
        : { code: 'ENOTTY', errno: os.constants.errno.ENOTTY },
    );
  });
});

describeIf(!DMA_BUF_OFFERED, 'this kernel offers DMA_BUF')('DMA_BUF export on a kernel without it', () => {
  it("is the kernel's ENOTTY, typed, with the version that brings it as the hint", async () => {
    await using dev = await openDevice(IVSHMEM);
    const err = thrown(() => dev.bar(2).exportDmaBuf());
    expect(err).toBeInstanceOf(NotSupportedError);
    expect(err).toMatchObject({ code: 'ENOTTY', op: 'VFIO_DEVICE_FEATURE' });
    expect(err.hint).toMatch(/6\.19/);
  });
});

describeIf(DMA_BUF_OFFERED, DMA_BUF_ABSENT)('DMA_BUF export', () => {
  it('ivshmem BAR2 becomes a dma-buf of the right size', async () => {
    await using dev = await openDevice(IVSHMEM);
    using whole = dev.bar(2).exportDmaBuf();
    expect(whole.size).toBe(4n << 20n);
    expect(fdTarget(whole.fd)).toMatch(/dmabuf/);
    expect(whole.fdinfo()).toMatchObject({ size: 4n << 20n, expName: 'vfio_pci_core' });
    using parts = dev.bar(2).exportDmaBuf([
      { offset: 0x1000, length: 0x2000 },
      { offset: 0x200000, length: 0x1000 },
    ]);
    expect(parts.fdinfo().size).toBe(0x3000n);
    expect(parts.ranges).toEqual([
      { offset: 0x1000n, length: 0x2000n },
      { offset: 0x200000n, length: 0x1000n },
    ]);
    expect(parts.fd).not.toBe(whole.fd);
  });

  it("past the BAR, an absent BAR, config space: the kernel's errno, typed, with the rule", async () => {
    await using dev = await openDevice(IVSHMEM);
    const dmabufFds = () => fs.readdirSync('/proc/self/fd').filter((f) => /dmabuf/.test(fdTarget(Number(f)) ?? ''));
    const before = dmabufFds();
    const past = thrown(() => dev.bar(2).exportDmaBuf([{ offset: 4 << 20, length: 0x1000 }]));
    expect(past).toBeInstanceOf(InvalidArgumentError);
    expect(past).toMatchObject({ code: 'EINVAL', errno: os.constants.errno.EINVAL, op: 'VFIO_DEVICE_FEATURE' });
    expect(past.hint).toMatch(/runs past the end of BAR2 \(0x400000 bytes\)/);
    const straddle = thrown(() => dev.bar(2).exportDmaBuf([{ offset: (4 << 20) - 0x1000, length: 0x2000 }]));
    expect(straddle.code).toBe('EINVAL');
    // BAR0 is 256 bytes of registers: a page of it is already past its end.
    const small = thrown(() => dev.bar(0).exportDmaBuf([{ offset: 0, length: 0x1000 }]));
    expect([small.code, small.hint]).toEqual([
      'EINVAL',
      'range [0x0, +0x1000) runs past the end of BAR0 (0x100 bytes)',
    ]);
    // ivshmem-plain has no BAR1.
    expect(dev.bar(1).size).toBe(0n);
    const absent = thrown(() => dev.bar(1).exportDmaBuf([{ offset: 0, length: 0x1000 }]));
    expect(absent).toMatchObject({ code: 'ENODEV', op: 'VFIO_DEVICE_FEATURE' });
    expect(absent.hint).toBe('BAR1 is not implemented by this device (its size is 0)');
    // Config space is never mmappable and not a BAR: ENODEV.
    const config = thrown(() => dev.region(7).exportDmaBuf([{ offset: 0, length: 0x1000 }]));
    expect(config).toMatchObject({ code: 'ENODEV', op: 'VFIO_DEVICE_FEATURE' });
    expect(config.hint).toMatch(/CONFIG is not a BAR/);
    // Nothing leaked: no new dma-buf fd after the failures.
    expect(dmabufFds()).toEqual(before);
  });

  it('closing the device closes its dma-bufs', async () => {
    const dev = await openDevice(IVSHMEM);
    const buf = dev.bar(2).exportDmaBuf([{ offset: 0, length: 0x10000 }]);
    const fd = buf.fd;
    expect(fdTarget(fd)).toMatch(/dmabuf/);
    dev.close();
    expect(buf.closed).toBe(true);
    expect(fdTarget(fd) ?? '').not.toMatch(/dmabuf/);
    expect(() => buf.fd).toThrow(/is closed/);
    expect(() => dev.bar(2).exportDmaBuf()).toThrow(/is closed/);
  });

  it('a dma-buf closed early is forgotten by its device', async () => {
    await using dev = await openDevice(IVSHMEM);
    const buf = dev.bar(2).exportDmaBuf([{ offset: 0, length: 0x1000 }]);
    const fd = buf.fd;
    buf.close();
    expect(fdTarget(fd) ?? '').not.toMatch(/dmabuf/);
    // A new fd may reuse the number; closing the device must not close it again.
    const other = native().eventfd(0, native().constants.EFD_CLOEXEC);
    dev.close();
    expect(fdTarget(other)).toMatch(/eventfd/);
    native().close(other);
  });
});

// Runtime PM is what low power rides on (CONFIG_PM: both the Debian and the custom kernel have
// it); a kernel built without it has no power/ directory in sysfs, and these are skipped there.
const hasRuntimePm = fs.existsSync(`/sys/bus/pci/devices/${EDU}/power/runtime_status`);

describeIf(hasRuntimePm, 'the kernel has no runtime PM (no power/ in sysfs)')('low power on edu', () => {
  it('entry then exit: MMIO answers correctly afterwards', async () => {
    await using dev = await openDevice(EDU);
    const bar0 = dev.bar(0).map();
    expect(bar0.read32(0)).toBe(0x010000ed);
    dev.feature('LOW_POWER_ENTRY').enter();
    expect(await settles(EDU, 'suspended')).toBe('suspended');
    // The kernel remembers the entry: a second one is refused until exit.
    expect(thrown(() => dev.feature('LOW_POWER_ENTRY').enter())).toMatchObject({ code: 'EINVAL' });
    dev.feature('LOW_POWER_EXIT').exit();
    expect(runtimeStatus(EDU)).toBe('active');
    expect(dev.bar(0).read32(0)).toBe(0x010000ed);
    expect(bar0.read32(0)).toBe(0x010000ed);
    bar0.write32(4, 0x12345678);
    expect(bar0.read32(4)).toBe(~0x12345678 >>> 0);
    // Exit cleared the state: entry works again, and closing the device while in low power is fine.
    dev.feature('LOW_POWER_ENTRY').enter();
  });

  it('entry with wakeup: an ioctl wakes the device, the kernel signals the eventfd and leaves low power', async () => {
    await using dev = await openDevice(EDU);
    const { EFD_CLOEXEC, EFD_NONBLOCK } = native().constants;
    const efd = native().eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    try {
      dev.feature('LOW_POWER_ENTRY_WITH_WAKEUP').enter(efd);
      expect(await settles(EDU, 'suspended')).toBe('suspended');
      const counter = new Uint8Array(8);
      expect(native().read(efd, counter)).toBe(-os.constants.errno.EAGAIN);
      // Any device ioctl resumes the device (vfio wraps ioctls in runtime PM get/put).
      dev.feature('LOW_POWER_EXIT').ioctl({ probe: true, set: true });
      expect(native().read(efd, counter)).toBe(8);
      expect(new DataView(counter.buffer).getBigUint64(0, true)).toBe(1n);
      // The wake ended low power: a plain entry is accepted, not refused as a second one.
      dev.feature('LOW_POWER_ENTRY').enter();
      dev.feature('LOW_POWER_EXIT').exit();
      expect(dev.bar(0).read32(0)).toBe(0x010000ed);
    } finally {
      native().close(efd);
    }
  });
});
