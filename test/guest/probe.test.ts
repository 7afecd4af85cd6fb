// The library's device, region and IRQ tables against a C program's (test/tools/vfio-probe.c)
// for every device the guest bound: the same kernel answers, read two independent ways.
// The probe opens the device itself, so each device is closed here before the probe runs.
import { execFileSync } from 'child_process';
import * as path from 'path';
import { VFIO_DEVICE_INFO_CAP_PCI_ATOMIC_COMP } from '../../lib/abi';
import { packageRoot } from '../../lib/addon/paths';
import { openDevice } from './env';

interface ProbeRegion {
  index: number;
  errno?: string;
  flags?: number;
  size?: string;
  offset?: string;
  caps?: (number | string)[];
  sparse?: { offset: string; size: string }[];
}
interface ProbeIrq {
  index: number;
  errno?: string;
  flags?: number;
  count?: number;
}
interface Probe {
  device: { flags: number; num_regions: number; num_irqs: number; caps: (number | string)[] };
  regions: ProbeRegion[];
  irqs: ProbeIrq[];
}

function probe(bdf: string): Probe {
  const out = execFileSync(path.join(packageRoot(), 'build', 'tools', 'vfio-probe'), [bdf], { encoding: 'utf8' });
  return JSON.parse(out) as Probe;
}

const hex = (v: bigint) => `0x${v.toString(16)}`;

async function library(bdf: string) {
  await using dev = await openDevice(bdf);
  return {
    device: {
      flags: dev.info.rawFlags,
      num_regions: dev.info.numRegions,
      num_irqs: dev.info.numIrqs,
      caps: dev.info.caps.map((c) => (c.type === 'pci-atomic-comp' ? VFIO_DEVICE_INFO_CAP_PCI_ATOMIC_COMP : c.id)),
    },
    regions: dev.regions.map((r) => {
      const out: ProbeRegion & { type?: { type: number; subtype: number } } = {
        index: r.index,
        flags: r.info.rawFlags,
        size: hex(r.size),
        offset: hex(r.offset),
        caps: r.caps.map((c) =>
          c.type === 'unknown' ? c.id : { 'sparse-mmap': 1, type: 2, 'msix-mappable': 3 }[c.type],
        ),
      };
      for (const c of r.caps) {
        if (c.type === 'sparse-mmap') out.sparse = c.areas.map((a) => ({ offset: hex(a.offset), size: hex(a.size) }));
        if (c.type === 'type') out.type = { type: c.regionType, subtype: c.subtype };
      }
      return out;
    }),
    irqs: dev.irqs.map((i) => ({ index: i.index, flags: i.rawFlags, count: i.count })),
  };
}

const devices = (process.env.VFIO_VM_DEVICES ?? '').split(' ').filter(Boolean);

describe.each(devices)('%s: library tables equal the C probe', (bdf) => {
  it('device info, every region the kernel answers, every IRQ index', async () => {
    const mine = await library(bdf);
    const ref = probe(bdf);
    expect(mine.device).toEqual(ref.device);
    // Indexes the kernel refused (EINVAL: VGA on most devices) are absent from dev.regions.
    const answered = ref.regions.filter((r) => r.errno === undefined);
    expect(ref.regions.filter((r) => r.errno !== undefined).every((r) => r.errno === 'EINVAL')).toBe(true);
    expect(mine.regions).toEqual(answered);
    expect(mine.irqs).toEqual(ref.irqs.filter((i) => i.errno === undefined));
  });
});
