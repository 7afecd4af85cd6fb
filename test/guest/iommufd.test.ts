// The iommufd backends on the custom kernel: devices through their cdev bound to /dev/iommu and
// attached to an IOAS (edu DMA round trip, GET_HW_INFO of the emulated VT-d, two devices in one
// IOAS, a peer's BAR mapped from a dma-buf), iommufd's container compatibility, and what 'auto'
// picks on each kernel.
import * as fs from 'fs';
import { Device, DmaBuffer, IommufdContext, Mapping, NotSupportedError, Type1Context, VfioError } from '../../lib';
import { EDU_DMA_MASK_BITS, eduDmaFromRam, eduDmaToRam } from './dma-edu';
import { describeIf, guestEnv, hasIommu, itIf, openDevice, vtdIovaEnd } from './env';
import { rejection, thrown } from '../support/errors';
import { must } from '../support/must';

const env = guestEnv();
const PAGE = 4096;
const CUSTOM_KERNEL = env.kernel.endsWith('-vfio-vm');
const IOMMUFD = fs.existsSync('/dev/iommu') && hasIommu();
const withIommufd = describeIf(IOMMUFD, hasIommu() ? 'no /dev/iommu on this kernel' : 'no IOMMU in this configuration');
/** The second edu the custom configurations add (an extra device, VFIO_VM_DEVICE_0). */
const EDU2 = env.devices.find((d) => d !== env.edu && readId(d) === '0x1234:0x11e8');

function readId(bdf: string): string {
  const f = (n: string) => fs.readFileSync(`/sys/bus/pci/devices/${bdf}/${n}`, 'utf8').trim();
  return `${f('vendor')}:${f('device')}`;
}

function pattern(n: number, seed: number): Uint8Array {
  return Uint8Array.from({ length: n }, (_, i) => (i * 13 + seed) & 0xff);
}

function iommufd(dev: Device): IommufdContext {
  if (!(dev.iommu instanceof IommufdContext)) throw new Error(`${dev.bdf} is on ${dev.backend}, not iommufd`);
  return dev.iommu;
}

const vtdRanges = () => [
  { start: 0n, end: 0xfedfffffn },
  { start: 0xfef00000n, end: vtdIovaEnd() },
];

describeIf(hasIommu(), 'no IOMMU in this configuration')('backend auto', () => {
  it(`picks ${CUSTOM_KERNEL ? 'iommufd on the custom kernel' : 'type1 on the Debian kernel'}`, async () => {
    await using dev = await Device.open(env.edu);
    expect(dev.backend).toBe(CUSTOM_KERNEL ? 'iommufd' : 'type1');
    expect(dev.iommu.kind).toBe(CUSTOM_KERNEL ? 'iommufd' : 'type1');
    expect(dev.unsafe).toBe(false);
    expect(dev.devid === undefined).toBe(!CUSTOM_KERNEL);
  });

  itIf(!CUSTOM_KERNEL, 'the custom kernel has iommufd')(
    'the Debian kernel refuses iommufd with what it lacks',
    async () => {
      const e = await rejection(Device.open(env.edu, { backend: 'iommufd' }));
      expect(e).toBeInstanceOf(VfioError);
      expect(e.code).toBe('EOPNOTSUPP');
      expect(e.message).toMatch(/^Device.open: no \/dev\/iommu\n/);
      expect(e.hint).toMatch(/CONFIG_IOMMUFD and CONFIG_VFIO_DEVICE_CDEV/);
    },
  );
});

withIommufd('iommufd: a device through its cdev', () => {
  let dev: Device;
  let ctx: IommufdContext;
  let bar0: Mapping;
  beforeAll(async () => {
    dev = await openDevice(env.edu, { backend: 'iommufd' });
    ctx = iommufd(dev);
    bar0 = dev.bar(0).map();
    dev.config.busMaster = true;
  });
  afterAll(() => dev?.close());

  it('is bound (devid) and attached to the IOAS (a hwpt the kernel made for it); MMIO works', () => {
    expect(dev.backend).toBe('iommufd');
    expect(dev.devid).toBeGreaterThan(0);
    expect(ctx.devices).toEqual([{ name: env.edu, devid: dev.devid, ptId: expect.any(Number) }]);
    expect(ctx.devices[0].ptId).not.toBe(ctx.ioasId);
    expect(bar0.read32(0)).toBe(0x010000ed);
    bar0.write32(4, 0x12345678);
    expect(bar0.read32(4)).toBe(~0x12345678 >>> 0);
  });

  it('IOMMU_GET_HW_INFO reports the emulated Intel VT-d and its registers', () => {
    const hw = ctx.hwInfo(dev);
    expect(hw.type).toBe('intel-vtd');
    expect(hw.data).toHaveLength(24);
    // The address width the guest kernel's own VT-d driver reads from the same register (sysfs).
    const width = vtdIovaEnd().toString(2).length;
    expect(must(hw.vtd, 'hw.vtd').cap.mgaw).toBe(width);
    expect(must(hw.vtd, 'hw.vtd').cap.sagaw).toContain(width);
    expect(must(hw.vtd, 'hw.vtd').ecap.interruptRemapping).toBe(true);
    expect(must(hw.vtd, 'hw.vtd').ecap.queuedInvalidation).toBe(true);
    expect(hw.capabilities.dirtyTracking).toBe(false);
    // An id the context does not hold is refused before the kernel is asked.
    expect(thrown(() => ctx.hwInfo(must(dev.devid, 'dev.devid') + 100)).code).toBe('EINVAL');
  });

  it("the IOAS ranges are VT-d's (its address width, minus the MSI window), as type1 reports them", () => {
    expect(ctx.iovaRanges).toEqual(vtdRanges());
    expect(ctx.pageSizes & 0x1000n).toBe(0x1000n);
    expect(ctx.dmaAvailable).toBeUndefined();
  });

  it('edu DMA round trip through IOMMU_IOAS_MAP mappings; unmapped, the IOVA is freed for reuse', async () => {
    using src = DmaBuffer.allocate(2 * PAGE);
    using dst = DmaBuffer.allocate(2 * PAGE);
    const ms = ctx.map(src, { write: false, dmaMaskBits: EDU_DMA_MASK_BITS });
    const md = ctx.map(dst, { read: false, dmaMaskBits: EDU_DMA_MASK_BITS });
    expect(md.iova + BigInt(md.size)).toBeLessThanOrEqual(1n << 28n);
    const data = pattern(3000, 5);
    src.copyIn(PAGE - 1000, data);
    await eduDmaFromRam(bar0, ctx.deviceAddress(ms, PAGE - 1000, data.length), 0x100, data.length);
    await eduDmaToRam(bar0, 0x100, md.iovaOf(700), data.length);
    expect(dst.copyOut(700, data.length)).toEqual(data);
    expect(dst.read8(699)).toBe(0);
    const iova = md.iova;
    md.unmap();
    ms.unmap();
    expect(ctx.dmaMappings).toEqual([]);
    expect(ctx.map(dst).iova).toBe(ms.iova);
    expect(ctx.map(src).iova).toBe(iova);
    ctx.unmapAll();
  });

  it('a map at an IOVA inside the MSI window is refused by our allocator with the ranges', () => {
    using buf = DmaBuffer.allocate(PAGE);
    const e = thrown(() => ctx.map(buf, { iova: 0xfee00000n }));
    expect(e.code).toBe('ERANGE');
    expect(e.message).toContain(`[0x0-0xfedfffff] [0xfef00000-0x${vtdIovaEnd().toString(16)}]`);
  });

  it('the device refuses to join a type1 container while bound to the iommufd', async () => {
    const other = Type1Context.open();
    try {
      const e = await rejection(openDevice(env.edu, { iommu: other }));
      expect(e).toBeInstanceOf(VfioError);
      expect(e.code).toBe('EBUSY');
    } finally {
      other.close();
    }
  });
});

withIommufd('iommufd: sharing one IOAS', () => {
  itIf(EDU2, 'no second edu in this configuration')(
    'two edus in one context: one mapping, the first writes it, the second reads it back',
    async () => {
      const ctx = IommufdContext.open();
      try {
        await using a = await openDevice(env.edu, { iommu: ctx });
        await using b = await openDevice(must(EDU2, 'EDU2'), { iommu: ctx });
        expect(ctx.devices.map((d) => d.name).sort()).toEqual([env.edu, EDU2].sort());
        expect(a.iommu).toBe(b.iommu);
        const [barA, barB] = [a.bar(0).map(), b.bar(0).map()];
        a.config.busMaster = true;
        b.config.busMaster = true;
        using src = DmaBuffer.allocate(PAGE);
        using shared = DmaBuffer.allocate(PAGE);
        using out = DmaBuffer.allocate(PAGE);
        const [ms, mShared, mo] = [src, shared, out].map((x) => ctx.map(x, { dmaMaskBits: EDU_DMA_MASK_BITS }));
        const data = pattern(2000, 77);
        src.copyIn(0, data);
        await eduDmaFromRam(barA, ms.iova, 0, data.length);
        await eduDmaToRam(barA, 0, mShared.iova, data.length);
        await eduDmaFromRam(barB, mShared.iova, 0x200, data.length);
        await eduDmaToRam(barB, 0x200, mo.iova, data.length);
        expect(out.copyOut(0, data.length)).toEqual(data);
        // The first device leaving does not take the mappings with it (unlike type1's last group).
        a.close();
        expect(mo.closed).toBe(false);
        out.copyIn(0, new Uint8Array(data.length));
        await eduDmaToRam(barB, 0x200, mo.iova, data.length);
        expect(out.copyOut(0, data.length)).toEqual(data);
      } finally {
        ctx.close();
      }
      expect(ctx.closed).toBe(true);
    },
  );

  it('a device joining a context with live mappings keeps them valid', async () => {
    const ctx = IommufdContext.open();
    try {
      await using edu = await openDevice(env.edu, { iommu: ctx });
      using buf = DmaBuffer.allocate(PAGE);
      const m = ctx.map(buf, { dmaMaskBits: EDU_DMA_MASK_BITS });
      await using nvme = await openDevice(env.nvme, { iommu: ctx });
      expect(ctx.devices).toHaveLength(2);
      expect(nvme.devid).not.toBe(edu.devid);
      expect(ctx.dmaMappings).toEqual([m]);
      expect(ctx.iovaRanges).toEqual(vtdRanges());
    } finally {
      ctx.close();
    }
  });
});

withIommufd('iommufd: peer-to-peer DMA from a dma-buf', () => {
  it("ivshmem BAR2 mapped into edu's IOAS: edu reads and writes the peer's memory", async () => {
    const ctx = IommufdContext.open();
    try {
      await using edu = await openDevice(env.edu, { iommu: ctx });
      await using ivshmem = await openDevice(env.ivshmem, { iommu: ctx });
      const eduBar = edu.bar(0).map();
      const shm = ivshmem.bar(2).map();
      edu.config.busMaster = true;
      const data = pattern(1024, 3);
      shm.copyIn(0x3000, data);
      using dmabuf = ivshmem.bar(2).exportDmaBuf([{ offset: 0, length: 0x10000 }]);
      const peer = ctx.mapDmaBuf(dmabuf, { dmaMaskBits: EDU_DMA_MASK_BITS });
      expect(peer.size).toBe(0x10000n);
      expect(ctx.fileMappings).toEqual([peer]);
      using out = DmaBuffer.allocate(PAGE);
      const mo = ctx.map(out, { dmaMaskBits: EDU_DMA_MASK_BITS });
      await eduDmaFromRam(eduBar, peer.iovaOf(0x3000), 0, data.length);
      await eduDmaToRam(eduBar, 0, mo.iova, data.length);
      expect(out.copyOut(0, data.length)).toEqual(data);
      // And the other way: edu writes into the peer's BAR, which the host's backing file shows.
      const back = pattern(512, 9);
      out.copyIn(0x800, back);
      await eduDmaFromRam(eduBar, mo.iovaOf(0x800), 0x400, back.length);
      await eduDmaToRam(eduBar, 0x400, peer.iovaOf(0x5000), back.length);
      expect(shm.copyOut(0x5000, back.length)).toEqual(back);
      const file = fs.readFileSync(env.ivshmemFile).subarray(0x5000, 0x5000 + back.length);
      expect(new Uint8Array(file)).toEqual(back);
      // Closing the dma-buf unmaps it from the IOAS first.
      dmabuf.close();
      expect(peer.closed).toBe(true);
      expect(ctx.fileMappings).toEqual([]);
    } finally {
      ctx.close();
    }
  });

  it('a multi-range dma-buf is refused by iommufd with a typed error', async () => {
    const ctx = IommufdContext.open();
    try {
      await using ivshmem = await openDevice(env.ivshmem, { iommu: ctx });
      using dmabuf = ivshmem.bar(2).exportDmaBuf([
        { offset: 0, length: 0x1000 },
        { offset: 0x2000, length: 0x1000 },
      ]);
      const e = thrown(() => ctx.mapDmaBuf(dmabuf));
      expect(e.op).toBe('IOMMU_IOAS_MAP_FILE');
      expect(e.hint).toMatch(/single-range VFIO PCI dma-bufs/);
      expect(ctx.fileMappings).toEqual([]);
    } finally {
      ctx.close();
    }
  });

  it('type1 has no dma-buf mapping: NotSupportedError pointing at iommufd', async () => {
    await using dev = await openDevice(env.ivshmem, { backend: 'type1' });
    using dmabuf = dev.bar(2).exportDmaBuf([{ offset: 0, length: 0x1000 }]);
    const e = thrown(() => dev.iommu.mapDmaBuf(dmabuf));
    expect(e).toBeInstanceOf(NotSupportedError);
    expect(e.hint).toMatch(/iommufd backend/);
  });
});

withIommufd('iommufd container compatibility', () => {
  it('the type1 API on /dev/iommu: geometry and an edu DMA round trip', async () => {
    await using dev = await openDevice(env.edu, { backend: 'iommufd-compat' });
    expect([dev.backend, dev.iommu.kind, dev.devid]).toEqual(['iommufd-compat', 'type1', undefined]);
    const t1 = dev.iommu as Type1Context;
    expect(t1.iovaRanges).toEqual(vtdRanges());
    expect(
      t1
        .info()
        .caps.map((c) => c.type)
        .sort(),
    ).toEqual(['dma-avail', 'iova-range']);
    const bar0 = dev.bar(0).map();
    dev.config.busMaster = true;
    using src = DmaBuffer.allocate(PAGE);
    using dst = DmaBuffer.allocate(PAGE);
    const ms = t1.map(src, { dmaMaskBits: EDU_DMA_MASK_BITS });
    const md = t1.map(dst, { dmaMaskBits: EDU_DMA_MASK_BITS });
    const data = pattern(1500, 21);
    src.copyIn(0, data);
    await eduDmaFromRam(bar0, ms.iova, 0, data.length);
    await eduDmaToRam(bar0, 0, md.iova, data.length);
    expect(dst.copyOut(0, data.length)).toEqual(data);
  });
});
