// The original type1 IOMMU (VFIO_TYPE1_IOMMU, `iommuType: 'type1'`) next to type1v2, against the
// real kernel: the device's DMA through a v1 container, and the one thing the kernel does
// differently, an unmap that would cut a mapping. vfio_iommu_type1's v1: from inside a mapping it
// unmaps nothing, from a mapping's first IOVA it unmaps all of it; v2 refuses both with EINVAL.
// iommufd's container compatibility (/dev/iommu as the container, the iommufd-compat backend)
// takes both types too, with its own answers: for v1 it cuts the mapping and unmaps exactly the
// range asked; for v2 it refuses a cut with ENOENT. The file runs on whichever of the two
// container backends the configuration names (type1 unless it is iommufd-compat).
import * as fs from 'fs';
import * as os from 'os';
import { Device, DmaBuffer, DmaMapping, InvalidArgumentError, Mapping, Type1Context } from '../../lib';
import { VFIO_TYPE1_IOMMU, VFIO_TYPE1v2_IOMMU } from '../../lib/abi';
import { native } from '../../lib/addon/native';
import { EDU_DMA_MASK_BITS, eduDmaFromRam, eduDmaToRam } from './dma-edu';
import { describeIf, guestEnv, hasIommu, openDevice } from './env';
import { rejection } from '../support/errors';

const env = guestEnv();
const PAGE = 4096;
const BACKEND = env.backend === 'iommufd-compat' ? 'iommufd-compat' : 'type1';
const COMPAT = BACKEND === 'iommufd-compat';
const CONTAINER = fs.existsSync(COMPAT ? '/dev/iommu' : '/dev/vfio/vfio');
const SEED = Uint8Array.from({ length: 64 }, (_, i) => (i * 13 + 5) & 0xff);

/** The raw unmap of a part of a mapping, as software written for v1 does it: 0 or -errno. */
function unmapRange(ctx: Type1Context, iova: bigint, size: number): number {
  return native().VFIO_IOMMU_UNMAP_DMA(ctx.fd('test'), iova, BigInt(size), 0);
}

/** Opens edu in a type1 container of `iommuType`, with edu's buffer seeded from RAM. */
async function eduIn(iommuType: 'type1' | 'type1v2'): Promise<{ dev: Device; ctx: Type1Context; bar0: Mapping }> {
  const dev = await openDevice(env.edu, { backend: BACKEND, iommuType });
  const ctx = dev.iommu as Type1Context;
  const bar0 = dev.bar(0).map();
  dev.config.busMaster = true;
  using seed = DmaBuffer.allocate(PAGE);
  seed.copyIn(0, SEED);
  const m = ctx.map(seed, { write: false, dmaMaskBits: EDU_DMA_MASK_BITS });
  await eduDmaFromRam(bar0, m.iova, 0, SEED.length);
  m.unmap();
  return { dev, ctx, bar0 };
}

/** Whether edu's DMA to `iova` lands in `buf` at `offset` (else the IOMMU blocked it). */
async function lands(bar0: Mapping, buf: DmaBuffer, m: DmaMapping, offset: number): Promise<boolean> {
  buf.u8.fill(0xaa);
  await eduDmaToRam(bar0, 0, m.iovaOf(offset), SEED.length);
  const got = buf.copyOut(offset, SEED.length);
  if (got.every((b) => b === 0xaa)) return false;
  expect(got).toEqual(SEED);
  return true;
}

describeIf(
  hasIommu() && CONTAINER,
  'needs an IOMMU and a container (/dev/vfio/vfio, or /dev/iommu for iommufd-compat)',
)("type1 v1 (iommuType: 'type1')", () => {
  it('the container is set to VFIO_TYPE1_IOMMU; the kernel offers both types; edu DMA lands through it', async () => {
    const { dev, ctx, bar0 } = await eduIn('type1');
    try {
      expect(ctx.iommuType).toBe('type1');
      expect(ctx.backend).toBe(BACKEND);
      // vfio_iommu_type1 answers for both types once set: the type is told apart by behaviour.
      expect(native().VFIO_CHECK_EXTENSION(ctx.fd('test'), VFIO_TYPE1_IOMMU)).toBe(1);
      expect(native().VFIO_CHECK_EXTENSION(ctx.fd('test'), VFIO_TYPE1v2_IOMMU)).toBe(1);
      using buf = DmaBuffer.allocate(2 * PAGE);
      const m = ctx.map(buf, { read: false, dmaMaskBits: EDU_DMA_MASK_BITS });
      expect(await lands(bar0, buf, m, 100)).toBe(true);
      expect(await lands(bar0, buf, m, PAGE + 8)).toBe(true);
      m.unmap();
    } finally {
      dev.close();
    }
  });

  it('v1: an unmap from inside a mapping, then from its first IOVA: what each container backend does', async () => {
    const { dev, ctx, bar0 } = await eduIn('type1');
    try {
      using buf = DmaBuffer.allocate(2 * PAGE);
      const m = ctx.map(buf, { read: false, dmaMaskBits: EDU_DMA_MASK_BITS });
      expect(unmapRange(ctx, m.iovaOf(PAGE), PAGE)).toBe(0);
      // type1: nothing was unmapped. The compat layer: the second page, and only it.
      expect(await lands(bar0, buf, m, PAGE + 8)).toBe(!COMPAT);
      expect(await lands(bar0, buf, m, 8)).toBe(true);
      expect(unmapRange(ctx, m.iova, PAGE)).toBe(0);
      // type1: the whole mapping went; the compat layer: the first page (the second already had).
      expect(await lands(bar0, buf, m, 8)).toBe(false);
      expect(await lands(bar0, buf, m, PAGE + 8)).toBe(false);
      m.unmap(); // nothing left in the kernel: v1 answers success
    } finally {
      dev.close();
    }
  });

  it('v2 (the default) refuses both partial unmaps (type1: EINVAL, compat: ENOENT) and keeps the mapping whole', async () => {
    const { dev, ctx, bar0 } = await eduIn('type1v2');
    try {
      expect(ctx.iommuType).toBe('type1v2');
      using buf = DmaBuffer.allocate(2 * PAGE);
      const m = ctx.map(buf, { read: false, dmaMaskBits: EDU_DMA_MASK_BITS });
      const refusal = -(COMPAT ? os.constants.errno.ENOENT : os.constants.errno.EINVAL);
      expect(unmapRange(ctx, m.iovaOf(PAGE), PAGE)).toBe(refusal);
      expect(unmapRange(ctx, m.iova, PAGE)).toBe(refusal);
      expect(await lands(bar0, buf, m, 8)).toBe(true);
      expect(await lands(bar0, buf, m, PAGE + 8)).toBe(true);
      m.unmap();
    } finally {
      dev.close();
    }
  });

  it('iommuType with a backend that has no container, or joining a context of the other type: refused, with the fix', async () => {
    const e = await rejection(openDevice(env.edu, { backend: 'iommufd', iommuType: 'type1' }));
    expect(e).toBeInstanceOf(InvalidArgumentError);
    expect(e.hint).toMatch(/backend: 'type1'/);
    const ctx = Type1Context.open({ iommuType: 'type1', iommufdCompat: COMPAT });
    try {
      const j = await rejection(openDevice(env.edu, { iommu: ctx, iommuType: 'type1v2' }));
      expect(j).toBeInstanceOf(InvalidArgumentError);
      expect(j.message).toMatch(/iommuType type1v2 was asked for, but the context to join is type1/);
      await using joined = await openDevice(env.edu, { iommu: ctx, iommuType: 'type1' });
      expect(joined.iommu).toBe(ctx);
    } finally {
      ctx.close();
    }
  });
});
