// Device resets in the emulated host: nvme advertises a function reset, edu none; what a reset
// does to registers, BAR mappings, DMA mappings and config space; hot-reset info.
import * as fs from 'fs';
import * as path from 'path';
import { DmaBuffer, NotSupportedError, ResetKind } from '../../lib';
import { guestEnv, hasIommu, itIf, openDevice } from './env';
import {
  CC_QUEUE_ENTRY_SIZES,
  CSTS_READY,
  NVME_CAP,
  NVME_CC,
  NVME_CSTS,
  QUEUE_BUFFER_SIZE,
  identifySerial,
  nvmeEnable,
  nvmeIdentify,
} from './reset-nvme';
import { rejection } from '../support/errors';
import { must } from '../support/must';

const env = guestEnv();
const EDU = env.edu;
const NVME = env.nvme;
// The nvme test proves DMA through an IOMMU mapping; no-IOMMU mode has none.
const withIommu = itIf(hasIommu(), 'no IOMMU in this configuration');

describe('reset()', () => {
  it('is refused with NotSupportedError on edu, which advertises no reset', async () => {
    await using dev = await openDevice(EDU);
    expect(dev.info.flags.reset).toBe(false);
    const e = await rejection(dev.reset());
    expect(e).toBeInstanceOf(NotSupportedError);
    expect(e.code).toBe('EOPNOTSUPP');
    expect(e.hint).toMatch(/hotReset/);
  });

  withIommu(
    'on nvme: registers return to their reset values; the same BAR mapping, DMA mapping and bus mastering keep working',
    async () => {
      await using dev = await openDevice(NVME);
      expect(dev.info.flags.reset).toBe(true);
      const bar0 = dev.bar(0).map({ offset: 0, length: 0x2000 }); // registers and doorbells
      dev.config.busMaster = true;
      using queues = DmaBuffer.allocate(QUEUE_BUFFER_SIZE);
      const m = dev.iommu.map(queues);
      // Before: the controller runs an admin command through the mapping.
      await nvmeEnable(bar0, m);
      const before = await nvmeIdentify(bar0, m);
      expect(before.status).toBe(0);
      expect(identifySerial(before.data)).toBe('vfiovm0');
      const events: ResetKind[] = [];
      dev.on('reset', (k: ResetKind) => events.push(k));

      await dev.reset();

      expect(events).toEqual(['function']);
      // Read through the mapping made before the reset (the kernel faulted it back in): the
      // controller is disabled, as a reset leaves it.
      expect(bar0.closed).toBe(false);
      expect(bar0.read32(NVME_CC)).toBe(0);
      expect(bar0.read32(NVME_CSTS) & CSTS_READY).toBe(0);
      expect(bar0.read64(NVME_CAP)).not.toBe(0n);
      // The PCI core restored config space around the reset, bus mastering included.
      expect(dev.config.busMaster).toBe(true);
      // The DMA mapping is still in the IOMMU: set up again over the same mapping, the controller
      // reads the command from it and writes the completion and the data into it.
      expect(m.closed).toBe(false);
      await nvmeEnable(bar0, m);
      const after = await nvmeIdentify(bar0, m);
      expect(after.status).toBe(0);
      expect(identifySerial(after.data)).toBe('vfiovm0');
      bar0.write32(NVME_CC, 0);
    },
  );

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

describe('hot reset', () => {
  it('on the root bus there is no slot or bus to reset: ENODEV with the reason', async () => {
    const onRoot = must(
      [EDU, NVME].find((bdf) => bdf.startsWith('0000:00:')),
      "[EDU, NVME].find((bdf) => bdf.startsWith('0000:00:'))",
    );
    await using dev = await openDevice(onRoot);
    const e = await rejection(() => dev.hotResetInfo());
    expect([e.code, e.op]).toEqual(['ENODEV', 'VFIO_DEVICE_GET_PCI_HOT_RESET_INFO']);
    expect(e.hint).toMatch(/root bus with no bridge/);
    expect((await rejection(dev.hotReset())).code).toBe('ENODEV');
  });

  const bridged = bridgedDevice();
  // Needs a device behind a PCIe root port in the run (see docs/dma.md).
  const behindBridge = itIf(bridged, 'no device behind a PCIe root port in this run');

  behindBridge(
    'behind a bridge: the info lists the device as ours (its group, or its iommufd device id), and hotReset() resets it',
    async () => {
      await using dev = await openDevice(must(bridged, 'bridged'));
      const info = dev.hotResetInfo();
      if (dev.devid === undefined) {
        // Opened through its group: the info names groups, and ours goes with the reset.
        expect(info.devIdForm).toBe(false);
        expect(info.devices).toContainEqual(expect.objectContaining({ bdf: dev.bdf, groupId: dev.group }));
      } else {
        // Opened through its cdev: the info names iommufd device ids, and we own ours.
        expect(info.devIdForm).toBe(true);
        expect(info.devices).toContainEqual(expect.objectContaining({ bdf: dev.bdf, devid: dev.devid, owned: true }));
        expect(info.allOwned).toBe(true);
      }
      const events: ResetKind[] = [];
      dev.on('reset', (k: ResetKind) => events.push(k));
      const isNvme = dev.config.vendorId === 0x1b36 && dev.config.deviceId === 0x0010;
      const bar0 = isNvme ? dev.bar(0).map({ offset: 0, length: 0x1000 }) : undefined;
      if (bar0) bar0.write32(NVME_CC, CC_QUEUE_ENTRY_SIZES);
      if (bar0) expect(bar0.read32(NVME_CC)).toBe(CC_QUEUE_ENTRY_SIZES);
      await dev.hotReset();
      expect(events).toEqual(['hot']);
      if (bar0) expect(bar0.read32(NVME_CC)).toBe(0);
    },
  );
});
