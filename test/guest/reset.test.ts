// Device resets in the emulated host: nvme advertises a function reset, edu none; what a reset
// does to registers, BAR mappings, DMA mappings and config space; hot-reset info.
import * as fs from 'fs';
import * as path from 'path';
import { Device, DmaBuffer, NotSupportedError, ResetKind, VfioError } from '../../lib';
import { VFIO_DMA_MAP_FLAG_READ } from '../../lib/abi';
import { native } from '../../lib/native';
import { guestEnv, openDevice } from './env';

const env = guestEnv();
const EDU = env.edu;
const NVME = env.nvme;
// Devices open through a type1 container here; no-IOMMU mode has none.
const withIommu = env.config === 'noiommu' ? describe.skip : describe;
// NVMe controller registers (NVM Express base spec, section 3.1).
const NVME_CAP = 0x00;
const NVME_CC = 0x14;
const NVME_CSTS = 0x1c;
const NVME_AQA = 0x24;
const NVME_ASQ = 0x28;
const NVME_ACQ = 0x30;
const CC_ENABLE = 1;
const CC_QUEUE_ENTRY_SIZES = (6 << 16) | (4 << 20); // 64-byte submission, 16-byte completion entries
const CSTS_READY = 1;

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

async function rejection(p: Promise<unknown> | (() => unknown)): Promise<VfioError> {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (e) {
    return e as VfioError;
  }
  throw new Error('expected an error');
}

withIommu('reset()', () => {
  it('is refused with NotSupportedError on edu, which advertises no reset', async () => {
    await using dev = await openDevice(EDU);
    expect(dev.info.flags.reset).toBe(false);
    const e = await rejection(dev.reset());
    expect(e).toBeInstanceOf(NotSupportedError);
    expect(e.code).toBe('EOPNOTSUPP');
    expect(e.hint).toMatch(/hotReset/);
  });

  it('on nvme: the enabled controller comes back disabled; the same BAR mapping, DMA mapping and bus mastering survive', async () => {
    await using dev = await openDevice(NVME);
    expect(dev.info.flags.reset).toBe(true);
    const bar0 = dev.bar(0).map({ offset: 0, length: 0x1000 });
    dev.config.busMaster = true;
    // Admin queues in DMA memory: enabling the controller needs them.
    using queues = DmaBuffer.allocate(2 * 4096);
    const m = dev.iommu.map(queues);
    bar0.write32(NVME_AQA, 0x000f000f);
    bar0.write64(NVME_ASQ, m.iovaOf(0));
    bar0.write64(NVME_ACQ, m.iovaOf(4096));
    bar0.write32(NVME_CC, CC_QUEUE_ENTRY_SIZES | CC_ENABLE);
    for (let i = 0; i < 200 && (bar0.read32(NVME_CSTS) & CSTS_READY) === 0; i++) await sleep(5);
    expect(bar0.read32(NVME_CSTS) & CSTS_READY).toBe(CSTS_READY);
    const events: ResetKind[] = [];
    dev.on('reset', (k: ResetKind) => events.push(k));

    await dev.reset();

    expect(events).toEqual(['function']);
    // Read through the mapping made before the reset: the kernel faulted it back in, and the
    // controller shows its reset values.
    expect(bar0.closed).toBe(false);
    expect(bar0.read32(NVME_CC)).toBe(0);
    expect(bar0.read32(NVME_CSTS) & CSTS_READY).toBe(0);
    expect(bar0.read64(NVME_CAP)).not.toBe(0n);
    // The PCI core restored config space around the reset.
    expect(dev.config.busMaster).toBe(true);
    // The IOMMU still holds the DMA mapping: the kernel refuses a second one at its IOVA.
    expect(m.closed).toBe(false);
    const n = native();
    expect(n.VFIO_IOMMU_MAP_DMA(dev.iommu.fd('test'), queues.memHandle('test'), 0n, 4096n, m.iova, VFIO_DMA_MAP_FLAG_READ)).toBe(-17 /* EEXIST */);
    // The controller can be set up and enabled again over the same mappings.
    bar0.write32(NVME_AQA, 0x000f000f);
    bar0.write64(NVME_ASQ, m.iovaOf(0));
    bar0.write64(NVME_ACQ, m.iovaOf(4096));
    bar0.write32(NVME_CC, CC_QUEUE_ENTRY_SIZES | CC_ENABLE);
    for (let i = 0; i < 200 && (bar0.read32(NVME_CSTS) & CSTS_READY) === 0; i++) await sleep(5);
    expect(bar0.read32(NVME_CSTS) & CSTS_READY).toBe(CSTS_READY);
    bar0.write32(NVME_CC, 0);
  });

  it('refuses on a closed device', async () => {
    const dev = await openDevice(NVME);
    dev.close();
    expect((await rejection(() => dev.reset())).code).toBe('ECLOSED');
  });
});

/** A device of this run behind a bridge (so a slot or bus reset reaches it), if there is one. */
function bridgedDevice(): string | undefined {
  return env.devices.find((bdf) => {
    const parent = path.basename(path.dirname(fs.realpathSync(`/sys/bus/pci/devices/${bdf}`)));
    return /^[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$/.test(parent);
  });
}

withIommu('hot reset', () => {
  it('on the root bus there is no slot or bus to reset: ENODEV with the reason', async () => {
    const onRoot = [EDU, NVME].find((bdf) => bdf.startsWith('0000:00:'))!;
    await using dev = await openDevice(onRoot);
    const e = await rejection(() => dev.hotResetInfo());
    expect([e.code, e.op]).toEqual(['ENODEV', 'VFIO_DEVICE_GET_PCI_HOT_RESET_INFO']);
    expect(e.hint).toMatch(/root bus with no bridge/);
    expect((await rejection(dev.hotReset())).code).toBe('ENODEV');
  });

  const bridged = bridgedDevice();
  // Needs a device behind a PCIe root port in the run (see docs/dma.md).
  const behindBridge = bridged ? it : it.skip;

  behindBridge('behind a bridge: the info lists the device with its own group, and hotReset() with our group fd resets it', async () => {
    await using dev = await openDevice(bridged!);
    const info = dev.hotResetInfo();
    expect(info.devIdForm).toBe(false);
    expect(info.devices).toContainEqual(expect.objectContaining({ bdf: dev.bdf, groupId: dev.group }));
    const events: ResetKind[] = [];
    dev.on('reset', (k: ResetKind) => events.push(k));
    const isNvme = dev.config.vendorId === 0x1b36 && dev.config.deviceId === 0x0010;
    const bar0 = isNvme ? dev.bar(0).map({ offset: 0, length: 0x1000 }) : undefined;
    if (bar0) bar0.write32(NVME_CC, CC_QUEUE_ENTRY_SIZES);
    if (bar0) expect(bar0.read32(NVME_CC)).toBe(CC_QUEUE_ENTRY_SIZES);
    await dev.hotReset();
    expect(events).toEqual(['hot']);
    if (bar0) expect(bar0.read32(NVME_CC)).toBe(0);
  });
});
