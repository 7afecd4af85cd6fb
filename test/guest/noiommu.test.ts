// No-IOMMU mode (the custom kernel booted without VT-d, vfio.enable_unsafe_noiommu_mode=1):
// refused without the unsafe opt-in; with it, the device says it is unsafe, its DMA uses
// physical addresses from IOMMU_IOAS_NOIOMMU_GET_PA, and the no-IOMMU group path opens the
// device without any DMA API.
import * as fs from 'fs';
import { Device, DmaBuffer, IommufdContext, NotSupportedError, PermissionError, Type1Context } from '../../lib';
import { eduDmaFromRam, eduDmaToRam } from './dma-edu';
import { describeIf, guestEnv, hasIommu, itIf, openDevice, wideEdu } from './env';
import { rejection, thrown } from '../support/errors';
import { must } from '../support/must';

const env = guestEnv();
const PAGE = 4096;
const noIommu = describeIf(!hasIommu(), 'devices are behind an IOMMU in this configuration');
/**
 * edu drives 28 address bits, which physical addresses in a 2 GiB guest exceed: this
 * configuration adds an edu with a 32-bit DMA mask (VFIO_VM_DEVICE_0) for the DMA test.
 */
const WIDE_EDU = wideEdu();

function pattern(n: number, seed: number): Uint8Array {
  return Uint8Array.from({ length: n }, (_, i) => (i * 29 + seed) & 0xff);
}

noIommu('no-IOMMU mode', () => {
  it('sysfs shows a no-IOMMU group and cdev', () => {
    const dir = `/sys/bus/pci/devices/${env.edu}`;
    expect(fs.readFileSync(`${dir}/iommu_group/name`, 'utf8').trim()).toBe('vfio-noiommu');
    expect(fs.readdirSync(`${dir}/vfio-dev`)[0]).toMatch(/^noiommu-vfio\d+$/);
  });

  it('refuses to open a device without unsafeNoIommu, whatever the backend, with the opt-in as hint', async () => {
    for (const backend of [undefined, 'auto', 'noiommu'] as const) {
      const e = await rejection(Device.open(env.edu, { backend }));
      expect(e).toBeInstanceOf(PermissionError);
      expect(e.code).toBe('EPERM');
      expect(e.message).toMatch(/no IOMMU protection/);
      expect(e.hint).toMatch(/unsafeNoIommu: true/);
    }
    for (const backend of ['type1', 'iommufd', 'iommufd-compat'] as const) {
      expect((await rejection(Device.open(env.edu, { backend, unsafeNoIommu: true }))).code).toBe('EOPNOTSUPP');
    }
  });

  it('with it: the device object says unsafe, the context is a no-IOMMU IOAS without hardware info', async () => {
    await using dev = await Device.open(env.edu, { unsafeNoIommu: true });
    expect([dev.backend, dev.unsafe, dev.iommu.kind]).toEqual(['noiommu', true, 'noiommu']);
    expect(dev.iommu).toBeInstanceOf(IommufdContext);
    const ctx = dev.iommu as IommufdContext;
    expect(dev.devid).toBeGreaterThan(0);
    const e = thrown(() => ctx.hwInfo(dev));
    expect(e).toBeInstanceOf(NotSupportedError);
    expect([e.code, e.op]).toEqual(['EOPNOTSUPP', 'IOMMU_GET_HW_INFO']);
    expect(dev.bar(0).map().read32(0)).toBe(0x010000ed);
    // The kernel marks itself tainted (TAINT_USER) once a no-IOMMU device is used.
    expect(Number(fs.readFileSync('/proc/sys/kernel/tainted', 'utf8')) & 64).toBe(64);
  });

  itIf(WIDE_EDU, 'no edu with a 32-bit DMA mask in this configuration')(
    'edu DMA round trip at the physical addresses of the mapped pages',
    async () => {
      await using dev = await openDevice(must(WIDE_EDU, 'WIDE_EDU'));
      const ctx = dev.iommu as IommufdContext;
      const bar0 = dev.bar(0).map();
      dev.config.busMaster = true;
      using src = DmaBuffer.allocate(2 * PAGE);
      using dst = DmaBuffer.allocate(PAGE);
      const ms = ctx.map(src);
      const md = ctx.map(dst);
      const pa = ctx.physicalAddress(ms.iova, BigInt(2 * PAGE));
      expect(pa.address % BigInt(PAGE)).toBe(0n);
      expect(pa.contiguous === BigInt(PAGE) || pa.contiguous === BigInt(2 * PAGE)).toBe(true);
      expect(pa.address).toBeLessThan(1n << 32n);
      const data = pattern(3000, 7);
      src.copyIn(PAGE + 100, data);
      const from = ctx.deviceAddress(ms, PAGE + 100, data.length);
      expect(from).toBe(ctx.physicalAddress(ms.iovaOf(PAGE)).address + 100n);
      await eduDmaFromRam(bar0, from, 0x10, data.length);
      await eduDmaToRam(bar0, 0x10, ctx.deviceAddress(md, 50, data.length), data.length);
      expect(dst.copyOut(50, data.length)).toEqual(data);
      expect(dst.read8(49)).toBe(0);
    },
  );

  it('a range that crosses into a non-adjacent page is refused by deviceAddress', async () => {
    await using dev = await openDevice(env.edu);
    const ctx = dev.iommu as IommufdContext;
    using buf = DmaBuffer.allocate(2 * PAGE);
    const m = ctx.map(buf);
    const pa = ctx.physicalAddress(m.iova, BigInt(2 * PAGE));
    const across = () => ctx.deviceAddress(m, PAGE - 8, 16);
    if (pa.contiguous >= BigInt(2 * PAGE)) {
      expect(across()).toBe(pa.address + BigInt(PAGE - 8));
    } else {
      const e = thrown(across);
      expect(e.code).toBe('ERANGE');
      expect(e.hint).toMatch(/split it per page/);
    }
    expect(thrown(() => ctx.physicalAddress(0x7000_0000n)).code).toBe('ENOENT');
  });

  it('the group path (/dev/vfio/noiommu-N): device access, no DMA API', async () => {
    const ctx = Type1Context.open({ noIommu: true });
    try {
      expect((await rejection(Device.open(env.edu, { iommu: ctx }))).code).toBe('EPERM');
      await using dev = await Device.open(env.edu, { iommu: ctx, unsafeNoIommu: true });
      expect([dev.backend, dev.unsafe, dev.iommu.kind, dev.devid]).toEqual(['noiommu', true, 'noiommu', undefined]);
      expect(dev.bar(0).map().read32(0)).toBe(0x010000ed);
      using buf = DmaBuffer.allocate(PAGE);
      const e = thrown(() => ctx.map(buf));
      expect(e).toBeInstanceOf(NotSupportedError);
      expect(e.hint).toMatch(/no-IOMMU cdev/);
    } finally {
      ctx.close();
    }
  });
});
