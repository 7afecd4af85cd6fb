// DeviceFeatures against a scripted kernel (features-kernel.ts), continued: dma-buf export through
// the DMA_BUF feature, the dma-buf's ownership, and its fdinfo.
import * as abi from '../../lib/abi';
import { DmaBuf, DmaBufFdinfo, encodeDmaBufFeature, parseDmaBufFdinfo } from '../../lib/dma/dmabuf';
import { InvalidArgumentError, VfioError } from '../../lib/errors';
import { DeviceFeatures } from '../../lib/features/device-features';
import { featureNumbers } from '../../lib/features/table';
import { E, ScriptedKernel, fakeHost, vfioPci734 } from './features-kernel';
import { must } from '../support/must';

const { VFIO_DEVICE_FEATURE_GET: GET } = abi;

function setup(script = vfioPci734(), numbers = featureNumbers()) {
  const kernel = new ScriptedKernel(script);
  const host = fakeHost();
  return { kernel, host, features: new DeviceFeatures(host, numbers, kernel) };
}

describe('DMA_BUF export', () => {
  function exporting(handler: (payload: Uint8Array) => number) {
    return setup(vfioPci734({}, { dmaBuf: (_f, p) => handler(must(p, 'p')) }));
  }

  it('sends struct vfio_device_feature_dma_buf and wraps the fd in an owned DmaBuf', () => {
    const { features, kernel, host } = exporting(() => 55);
    const buf = features.exportDmaBuf(2, [
      { offset: 0, length: 0x2000 },
      { offset: 0x10000n, length: 0x1000n },
    ]);
    expect(kernel.realCalls).toHaveLength(1);
    const { flags, payload } = kernel.realCalls[0];
    expect(flags).toBe(GET | 11);
    expect(payload).toEqual(
      encodeDmaBufFeature(2, kernel.dmaBufOpenFlags, [
        { offset: 0n, length: 0x2000n },
        { offset: 0x10000n, length: 0x1000n },
      ]),
    );
    const dv = new DataView(must(payload, 'payload').buffer);
    expect([dv.getUint32(0, true), dv.getUint32(4, true), dv.getUint32(8, true), dv.getUint32(12, true)]).toEqual([
      2, 0o2000002, 0, 2,
    ]);
    expect([
      dv.getBigUint64(16, true),
      dv.getBigUint64(24, true),
      dv.getBigUint64(32, true),
      dv.getBigUint64(40, true),
    ]).toEqual([0n, 0x2000n, 0x10000n, 0x1000n]);
    expect(must(payload, 'payload').length).toBe(48);
    expect(buf).toBeInstanceOf(DmaBuf);
    expect([buf.fd, buf.size, buf.regionIndex, buf.regionName]).toEqual([55, 0x3000n, 2, 'BAR2']);
    expect(host.owned.has(buf)).toBe(true);
  });

  it('closes its fd exactly once, and leaves the device', () => {
    const { features, kernel, host } = exporting(() => 56);
    const buf = features.exportDmaBuf(2, [{ offset: 0, length: 0x1000 }]);
    buf.close();
    buf.close();
    expect(kernel.closed).toEqual([56]);
    expect(host.owned.size).toBe(0);
    expect(buf.closed).toBe(true);
    expect(() => buf.fd).toThrow(/DmaBuf\.fd: dma-buf of BAR2 is closed/);
  });

  it('closing what the device owns closes the dma-buf (as Device.close does), dependents first', () => {
    const { features, kernel, host } = exporting(() => 57);
    const order: string[] = [];
    {
      using buf = features.exportDmaBuf(2, [{ offset: 0, length: 0x1000 }]);
      buf.attach({ close: () => order.push(`mapping closed, fd ${kernel.closed.length ? 'closed' : 'open'}`) });
      for (const r of [...host.owned]) r.close();
      expect(buf.closed).toBe(true);
    }
    expect(order).toEqual(['mapping closed, fd open']);
    expect(kernel.closed).toEqual([57]);
  });

  it('page alignment and empty lists are our checks, made before the kernel is asked', () => {
    const { features, kernel } = exporting(() => 58);
    expect(() => features.exportDmaBuf(2, [])).toThrow(/at least one range/);
    expect(() => features.exportDmaBuf(2, [{ offset: 0x800, length: 0x1000 }])).toThrow(
      /not aligned to the 0x1000 page size/,
    );
    expect(() => features.exportDmaBuf(2, [{ offset: 0, length: 0 }])).toThrow(/range 0 is empty/);
    expect(() => features.exportDmaBuf(2, [{ offset: -4096, length: 4096 }])).toThrow(InvalidArgumentError);
    expect(kernel.realCalls).toHaveLength(0);
  });

  it("region rules are the kernel's: its errno comes back typed, with the rule as a hint", () => {
    // What 7.3.4 answered in the emulated host: index >= ROM or a BAR the device lacks → ENODEV;
    // past the end of the BAR → EINVAL.
    const sizes: Record<number, bigint> = { 0: 256n, 2: 4n << 20n };
    const { features, kernel } = exporting((p) => {
      const dv = new DataView(p.buffer);
      const index = dv.getUint32(0, true);
      if (index >= abi.VFIO_PCI_ROM_REGION_INDEX) return -E.ENODEV;
      const size = sizes[index] ?? 0n;
      if (size === 0n) return -E.ENODEV;
      return dv.getBigUint64(16, true) + dv.getBigUint64(24, true) > size ? -E.EINVAL : 60;
    });
    const fail = (index: number, offset: number, length: number) => {
      try {
        features.exportDmaBuf(index, [{ offset, length }]);
      } catch (e) {
        return e as VfioError;
      }
      throw new Error('exported');
    };
    const past = fail(2, 4 << 20, 0x1000);
    expect(past).toMatchObject({ code: 'EINVAL', errno: E.EINVAL, op: 'VFIO_DEVICE_FEATURE' });
    expect(past.hint).toBe('range [0x400000, +0x1000) runs past the end of BAR2 (0x400000 bytes)');
    expect(fail(0, 0, 0x1000).hint).toMatch(/runs past the end of BAR0 \(0x100 bytes\)/);
    expect(fail(1, 0, 0x1000)).toMatchObject({
      code: 'ENODEV',
      hint: 'BAR1 is not implemented by this device (its size is 0)',
    });
    const config = fail(7, 0, 0x1000);
    expect(config).toMatchObject({ code: 'ENODEV', errno: E.ENODEV });
    expect(config.hint).toMatch(/CONFIG is not a BAR: vfio-pci exports BARs 0–5 only/);
    expect(kernel.closed).toEqual([]);
    expect(features.exportDmaBuf(2, [{ offset: 0, length: 4 << 20 }]).size).toBe(4n << 20n);
  });

  it('a kernel without the feature says so', () => {
    const { features } = setup({});
    expect(() => features.exportDmaBuf(2, [{ offset: 0, length: 0x1000 }])).toThrow(/Linux 6\.19 or later/);
  });
});

describe('dma-buf fdinfo', () => {
  // /proc/self/fdinfo/N of a vfio-pci dma-buf on 7.3 (generic lines, then dma_buf_show_fdinfo).
  const text =
    'pos:\t0\nflags:\t02000002\nmnt_id:\t16\nino:\t2051\nsize:\t4194304\ncount:\t1\nexp_name:\tvfio_pci_core\nname:\t\n';

  it('reads size, exporter, count and flags', () => {
    const info = parseDmaBufFdinfo(text) as DmaBufFdinfo;
    expect(info).toMatchObject({ size: 4194304n, count: 1, expName: 'vfio_pci_core', name: '', flags: 0o2000002 });
    expect(info.fields.ino).toBe('2051');
  });

  it('is undefined for an fd that is not a dma-buf', () => {
    expect(parseDmaBufFdinfo('pos:\t0\nflags:\t02\nmnt_id:\t20\nino:\t5\neventfd-count:\t0\n')).toBeUndefined();
    expect(parseDmaBufFdinfo('')).toBeUndefined();
  });
});
