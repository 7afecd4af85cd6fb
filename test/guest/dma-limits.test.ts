// DMA limits against the real kernel and IOMMU of the emulated host: type1's DMA_AVAIL entry
// limit and RLIMIT_MEMLOCK, each reached on purpose, with the errors and hints that name the fix.
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { DmaBuffer } from '../../lib';
import { native } from '../../lib/addon/native';
import { describeIf, guestEnv, hasIommu, openDevice, writeSysfs } from './env';
import { rejection } from '../support/errors';

const EDU = guestEnv().edu;
const PAGE = 4096;
// IOVAs and IOMMU limits need an IOMMU: no-IOMMU mode has its own tests.
const withIommu = describeIf(hasIommu(), 'no IOMMU in this configuration (noiommu.test covers DMA there)');

withIommu('limits', () => {
  it('DMA_AVAIL: with dma_entry_limit lowered, the next map fails with ENOSPC and the hint', async () => {
    const param = '/sys/module/vfio_iommu_type1/parameters/dma_entry_limit';
    const old = writeSysfs(param, '4');
    try {
      // The limit is read when the container's IOMMU is set, i.e. at open; it is type1's own.
      await using dev = await openDevice(EDU, { backend: 'type1' });
      expect(dev.iommu.dmaAvailable).toBe(4);
      const bufs = Array.from({ length: 5 }, () => DmaBuffer.allocate(PAGE));
      const maps = bufs.slice(0, 4).map((b) => dev.iommu.map(b));
      expect(dev.iommu.dmaAvailable).toBe(0);
      const e = await rejection(() => dev.iommu.map(bufs[4]));
      expect([e.code, e.op]).toEqual(['ENOSPC', 'VFIO_IOMMU_MAP_DMA']);
      expect(e.hint).toMatch(/4 live in this Type1Context; DMA available: 0/);
      expect(e.hint).toMatch(/dma_entry_limit/);
      maps[0].unmap();
      expect(dev.iommu.map(bufs[4]).iova).toBe(maps[0].iova);
      for (const b of bufs) b.close();
    } finally {
      fs.writeFileSync(param, old);
    }
  });

  it('RLIMIT_MEMLOCK: a process without CAP_IPC_LOCK over its limit gets ENOMEM naming the limit, the need and the fix', async () => {
    // Root is exempt (CAP_IPC_LOCK), so the child runs as nobody; it lowers its own limit and
    // opens the device with this configuration's backend, whose nodes it is lent.
    const probe = await openDevice(EDU);
    const backend = probe.iommu.backend;
    probe.close();
    const group = path.basename(fs.readlinkSync(`/sys/bus/pci/devices/${EDU}/iommu_group`));
    const nodes = [
      ...(backend === 'iommufd' ? [] : [`/dev/vfio/${group}`]),
      ...(backend === 'type1' ? [] : ['/dev/iommu']),
      ...(backend === 'iommufd'
        ? [`/dev/vfio/devices/${fs.readdirSync(`/sys/bus/pci/devices/${EDU}/vfio-dev`)[0]}`]
        : []),
    ];
    const modes = nodes.map((node) => fs.statSync(node).mode & 0o777);
    for (const node of nodes) fs.chmodSync(node, 0o666);
    try {
      const child = spawnSync(
        process.execPath,
        [path.join(__dirname, 'dma-memlock-child.js'), EDU, String(64 * 1024), String(1 << 20)],
        {
          uid: 65534,
          gid: 65534,
          encoding: 'utf8',
          timeout: 60000,
        },
      );
      expect(child.stderr).toBe('');
      const out = JSON.parse(child.stdout);
      expect(out.limit).toEqual(['65536', '65536']);
      expect(out.small).toBe('mapped'); // under the limit: fine
      expect(out.big.code).toBe('ENOMEM');
      expect(out.big.op).toBe(backend === 'iommufd' ? 'IOMMU_IOAS_MAP' : 'VFIO_IOMMU_MAP_DMA');
      expect(out.big.hint).toContain('now 64 KiB');
      expect(out.big.hint).toContain(`needs at least ${32 + 1024} KiB`);
      expect(out.big.hint).toMatch(/ulimit -l.*prlimit --memlock.*LimitMEMLOCK=.*CAP_IPC_LOCK/);
    } finally {
      nodes.forEach((node, i) => fs.chmodSync(node, modes[i]));
    }
    expect(native().getrlimit(native().constants.RLIMIT_MEMLOCK)).not.toEqual([65536n, 65536n]);
  });
});
