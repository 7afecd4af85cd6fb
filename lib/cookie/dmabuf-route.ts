// The dma-buf route: export the BAR range as a dma-buf (VFIO_DEVICE_FEATURE_DMA_BUF, merged in
// 6.19), set its memory attribute when the kernel offers a feature for that (the pending
// DMA_BUF_MEMATTR series: NC by default, WC on request), and mmap the dma-buf fd. On kernels
// without that series a vfio dma-buf is meant for importers (RDMA, GPUs, IOMMU_IOAS_MAP_FILE) and
// 7.3 refuses to mmap it (EINVAL): the probe says what the feature probes answered, and map()
// reports the kernel's answer to the mmap itself.
//
// Revocation: a dma-buf can be revoked (the DMA_BUF_REVOKE feature, a device reset, the device
// closing), after which the kernel turns any access through its mappings into SIGBUS. The
// library therefore takes the cookie's own mappings down BEFORE it revokes or resets (also
// before a raw SET of the revoke feature through the device, registry.ts), so their accessors
// throw a RevokedError instead. A revoke that does not pass through the device object (another
// process given the device fd, a driver revoking on its own) cannot be seen in time: a mapping
// accessed after it faults. docs/cookies.md says so.
import { VfioError, errnoError, notSupported } from '../errors';
import { CookieMemAttr, MemattrFeature, RevokeFeature } from './model';
import { RouteFacts } from './facts';
import { Route, barOf, probe, probeWithPat } from './routes';

const EXPORT_NEED = 'a kernel with VFIO dma-buf export (6.19+, CONFIG_VFIO_PCI_DMABUF)';

/** The memory-attribute feature's number: the device's feature table wins over the route table. */
function memattrNumber(facts: RouteFacts, mf: MemattrFeature): number {
  return facts.featureNumber(mf.name) ?? mf.number;
}

/** The revoke feature's number, the same way; undefined when neither table gives one. */
function revokeNumber(facts: RouteFacts, rf: RevokeFeature | undefined): number | undefined {
  return rf ? (facts.featureNumber(rf.name) ?? rf.number) : undefined;
}

/** The route through a dma-buf exported from the BAR range (6.19+), WC with the memory-attribute feature. */
export const dmabufRoute: Route = {
  name: 'dmabuf',
  probe(req, facts) {
    const bar = barOf(req.region);
    if (bar === undefined) return probe(this.name, false, undefined, `${req.region.name} is not a BAR`);
    const mf = facts.tables.memattrFeature;
    const memattrNeed = mf ? [`a kernel with the ${mf.name} series (a dma-buf mmap with a WC attribute)`] : [];
    const number = facts.featureNumber('DMA_BUF');
    if (number === undefined)
      return probe(this.name, false, undefined, "the device's feature table has no DMA_BUF entry", [
        EXPORT_NEED,
        ...memattrNeed,
      ]);
    const dma = facts.feature(number, 'get');
    if (!dma.supported) {
      return probe(this.name, false, undefined, `DMA_BUF export (feature ${number}) probe answered ${dma.answer}`, [
        EXPORT_NEED,
        ...memattrNeed,
      ]);
    }
    const exported = `DMA_BUF export (feature ${number}) is supported`;
    if (!mf) {
      return probe(
        this.name,
        true,
        'uc-',
        `${exported}; no memory-attribute feature is configured, so the dma-buf keeps its default (NC), ` +
          'and whether the kernel lets it be mmapped is only known by trying',
        [],
        true,
      );
    }
    const n = memattrNumber(facts, mf);
    const ma = facts.feature(n, 'set');
    if (!ma.supported) {
      return probe(
        this.name,
        true,
        'uc-',
        `${exported}, but ${mf.name} (feature ${n}) probe answered ${ma.answer}: ` +
          'the dma-buf keeps its default attribute (NC), and whether the kernel lets it be mmapped is only known by trying',
        memattrNeed,
        true,
      );
    }
    if (mf.values[req.memattr] === undefined) {
      return probe(
        this.name,
        true,
        'uc-',
        `${exported} and ${mf.name} (feature ${n}) is offered, but it has no value for ${req.memattr}`,
      );
    }
    // The mapping reserves its range's type as any other does: PAT's first reservation wins.
    return probeWithPat(
      this.name,
      facts,
      bar,
      req,
      req.memattr,
      `${exported} and ${mf.name} (feature ${n}) is offered: the dma-buf is mapped ${req.memattr}`,
    );
  },

  open(req, env) {
    const { facts } = env;
    const region = env.region(req.region.index);
    // The kernel exports whole pages; the cookie's mapping still covers only its own length.
    const length = ((BigInt(req.length) + env.pageSize - 1n) / env.pageSize) * env.pageSize;
    const buf = region.exportDmaBuf([{ offset: req.offset, length }]);
    let pgprot: CookieMemAttr = 'uc-';
    const mf = facts.tables.memattrFeature;
    const value = mf?.values[req.memattr];
    try {
      if (
        mf &&
        value !== undefined &&
        req.memattr !== 'uc-' &&
        facts.feature(memattrNumber(facts, mf), 'set').supported
      ) {
        env.setFeature(memattrNumber(facts, mf), mf.encode(buf.fd, value));
        pgprot = req.memattr;
      }
    } catch (e) {
      buf.close();
      throw e;
    }
    return {
      backing: { kind: 'dmabuf', fd: buf.fd, pgoff: 0n },
      pgprot,
      map: () => {
        const fd = buf.fdFor('MmapCookie.map');
        try {
          // The dma-buf starts at the range's first byte: file offset 0.
          const m = region.mapRange(req.offset, req.length, fd, 0n);
          buf.attach(m); // the mapping goes before the fd, whoever closes the dma-buf
          return m;
        } catch (e) {
          if (e instanceof VfioError && e.code === 'EINVAL') {
            throw errnoError(e.errno ?? 22, 'mmap', {
              device: facts.device,
              detail: `dma-buf fd ${fd} of ${region.name}`,
              cause: e,
              hint:
                'this kernel exports VFIO dma-bufs for importers (RDMA, GPUs, IOMMU_IOAS_MAP_FILE) and does not let them be mmapped; ' +
                `CPU mappings of them need the ${mf?.name ?? 'DMA_BUF_MEMATTR'} series`,
            });
          }
          throw e;
        }
      },
      close: () => buf.close(),
      // vfio-pci revokes its dma-bufs for the length of a reset, the sample driver for good.
      revokedByReset: true,
      revoke: (invalidate) => {
        const rf = facts.tables.revokeFeature;
        const n = revokeNumber(facts, rf);
        const answer = n === undefined ? undefined : facts.feature(n, 'set');
        if (n === undefined || rf === undefined || answer === undefined || !answer.supported) {
          throw notSupported(
            'MmapCookie.revoke',
            n === undefined || rf === undefined || answer === undefined
              ? `no number is known for ${rf?.name ?? 'DMA_BUF_REVOKE'} (neither the cookie tables nor the device's feature table give one)`
              : `${rf.name} (feature ${n}) probe answered ${answer.answer}`,
            {
              device: facts.device,
              hint:
                `a kernel or driver with a dma-buf revoke feature, its number given as Device.open(bdf, { featureNumbers: { ${rf?.name ?? 'DMA_BUF_REVOKE'}: N } }); ` +
                'closing the cookie also ends its mappings and releases the dma-buf',
            },
          );
        }
        const fd = buf.fdFor('MmapCookie.revoke');
        invalidate();
        env.setFeature(n, rf.encode(fd));
      },
    };
  },
};
