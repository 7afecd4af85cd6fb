// The `vfio` formatters, continued: `vfio info` (regions, capabilities, config space) and the
// feature and cookie lists, from fixture bytes.
import { decodeRegionInfo, mappableAreas, regionName } from '../../lib/decode';
import { formatCookies } from '../../lib/cli/commands/cookies';
import { formatFeatureList } from '../../lib/cli/commands/features';
import { colors } from '../../lib/cli/format';
import { InfoData, RegionData, configData } from '../../lib/cli/commands/info';
import { capDetailText, formatInfo, formatRegions } from '../../lib/cli/commands/info-format';
import { eduConfig, nvmeBar0, nvmeConfig, sparseAroundMsix } from '../fixtures/devices';

const plain = colors(false);

function region(buf: Uint8Array, resource: RegionData['resource'] = null): RegionData {
  const info = decodeRegionInfo(buf);
  return {
    index: info.index,
    name: regionName(info.index, info.caps),
    size: info.size,
    offset: info.offset,
    flags: info.flags,
    caps: info.caps,
    mappableAreas: mappableAreas(info),
    resource,
  };
}

describe('vfio info', () => {
  const nvme: InfoData = {
    bdf: '0000:00:05.0',
    group: 5,
    backend: 'iommufd',
    driver: 'vfio-pci',
    ids: {
      vendor: 0x1b36,
      device: 0x0010,
      subsystemVendor: 0x1af4,
      subsystemDevice: 0x1100,
      class: 0x010802,
      revision: 2,
    },
    className: 'Non-Volatile memory controller',
    vendorName: null,
    deviceName: null,
    device: {
      flags: {
        reset: true,
        pci: true,
        platform: false,
        amba: false,
        ccw: false,
        ap: false,
        fslMc: false,
        caps: false,
        cdx: false,
      },
      numRegions: 9,
      numIrqs: 5,
      caps: [],
    },
    regions: [
      region(nvmeBar0(), { type: 'mem64', start: 0xfebd0000n }),
      {
        index: 1,
        name: 'BAR1',
        size: 0n,
        offset: 1n << 40n,
        flags: { read: false, write: false, mmap: false, caps: false },
        caps: [],
        mappableAreas: [],
        resource: null,
      },
      {
        index: 7,
        name: 'CONFIG',
        size: 4096n,
        offset: 7n << 40n,
        flags: { read: true, write: true, mmap: false, caps: false },
        caps: [],
        mappableAreas: [],
        resource: null,
      },
    ],
    irqs: [
      { index: 0, name: 'INTX', count: 1, flags: { eventfd: true, maskable: true, automasked: true, noresize: false } },
      {
        index: 2,
        name: 'MSIX',
        count: 65,
        flags: { eventfd: true, maskable: false, automasked: false, noresize: true },
      },
    ],
    features: [],
    config: configData(nvmeConfig()),
  };

  it('decodes the capabilities a driver needs from the config image', () => {
    const caps = nvme.config.capabilities;
    expect(caps.map((c) => [c.offset, c.name])).toEqual([
      [0x40, 'MSI-X'],
      [0x60, 'PM'],
      [0x80, 'PCIe'],
    ]);
    expect(capDetailText(caps[0])).toBe('Enable- Masked- Count=65 Table: BAR0+0x2000 PBA: BAR0+0x3000');
    expect(capDetailText(caps[1])).toBe('v3 D0 NoSoftRst+');
    expect(capDetailText(caps[2])).toBe('v2 endpoint, MaxPayload 128 bytes, FLReset+');
    const edu = configData(eduConfig());
    expect(edu.capabilities.map((c) => c.name)).toEqual(['MSI']);
    expect(capDetailText(edu.capabilities[0])).toBe('Enable- Count=1/1 64bit+ Maskable-');
    expect(edu.extended).toEqual([]);
  });

  it('prints an lspci -vv-like page', () => {
    const lines = formatInfo(nvme, plain).split('\n');
    expect(lines[0]).toBe('0000:00:05.0 Non-Volatile memory controller [0108]: Device [1b36:0010] (rev 02)');
    expect(lines).toContain('\tSubsystem: 1af4:1100');
    expect(lines).toContain('\tDriver: vfio-pci, IOMMU group 5, opened through iommufd');
    expect(lines).toContain('\tVFIO: flags RESET PCI; 9 regions, 5 IRQ indexes; device caps: none');
    expect(lines).toContain('\tControl: I/O- Mem+ BusMaster+ SERR- DisINTx+');
    expect(lines).toContain('\t  [40] MSI-X: Enable- Masked- Count=65 Table: BAR0+0x2000 PBA: BAR0+0x3000');
    expect(lines.find((l) => l.includes('MSIX'))).toMatch(/^\t {2}2\s+MSIX\s+65\s+eventfd noresize$/);
    expect(lines).toContain('\t  none offered (`vfio features BDF` shows every probe)');
  });

  it('region table: type, size, fd offset, access, mappable areas, caps; empty BARs summarised', () => {
    const text = formatRegions(
      [
        region(nvmeBar0(), { type: 'mem64', start: 0n }),
        region(sparseAroundMsix()),
        {
          index: 3,
          name: 'BAR3',
          size: 0n,
          offset: 3n << 40n,
          flags: { read: false, write: false, mmap: false, caps: false },
          caps: [],
          mappableAreas: [],
          resource: null,
        },
      ],
      plain,
    );
    const lines = text.split('\n');
    expect(lines[0]).toMatch(/^\t {2}INDEX\s+NAME\s+TYPE\s+SIZE\s+FD OFFSET\s+ACCESS\s+MMAP AREAS\s+CAPS$/);
    expect(lines[1]).toMatch(/^\t {2}0\s+BAR0\s+mem64\s+16K\s+0x0\s+rwm\s+0x0\+16K\s+msix-mappable$/);
    expect(lines[2]).toMatch(/^\t {2}0\s+BAR0\s+-\s+16K\s+0x0\s+rwm\s+0x0\+8K 0x3000\+4K\s+sparse-mmap\(2\)$/);
    expect(lines[3]).toBe('\t  not implemented: BAR3');
  });
});

describe('vfio features and cookies', () => {
  it('lists each number with what its probes answered', () => {
    const text = formatFeatureList(
      '0000:00:05.0',
      [
        {
          name: 'PCI_VF_TOKEN',
          index: 0,
          supported: false,
          get: false,
          set: false,
          answers: { probe: 'ENOTTY', get: 'ENOTTY', set: 'ENOTTY' },
        },
        {
          name: 'LOW_POWER_ENTRY',
          index: 3,
          supported: true,
          get: false,
          set: true,
          answers: { probe: 'OK', get: 'EINVAL', set: 'OK' },
        },
      ],
      plain,
    );
    const lines = text.split('\n');
    expect(lines[1]).toMatch(/^ {2}INDEX\s+NAME\s+OFFERS\s+PROBE\s+\+GET\s+\+SET$/);
    expect(lines[2]).toMatch(/^ {2}0\s+PCI_VF_TOKEN\s+-\s+ENOTTY\s+ENOTTY\s+ENOTTY$/);
    expect(lines[3]).toMatch(/^ {2}3\s+LOW_POWER_ENTRY\s+set\s+OK\s+EINVAL\s+OK$/);
    expect(lines[4]).toBe('supported: LOW_POWER_ENTRY');
  });

  it('shows the write-combining verdict per BAR, and why not with the hint', () => {
    const text = formatCookies(
      '0000:00:04.0',
      [
        {
          bar: 2,
          region: 'BAR2',
          size: 4n << 20n,
          report: {
            region: 'BAR2',
            wc: [],
            why: 'no route gives wc',
            hint: 'boot a kernel with DMA_BUF_MEMATTR',
            routes: [
              {
                route: 'sysfs',
                available: false,
                gives: undefined,
                reason: 'resource2_wc is absent',
                needs: ['a prefetchable BAR'],
                tentative: false,
              },
              {
                route: 'dmabuf',
                available: true,
                gives: 'wc',
                reason: 'exported, no memattr feature',
                needs: [],
                tentative: true,
              },
              {
                route: 'vfio-region',
                available: true,
                gives: 'uc-',
                reason: 'vfio-pci maps BARs uncached',
                needs: [],
                tentative: false,
              },
            ],
          },
        },
      ],
      plain,
    );
    const lines = text.split('\n');
    expect(lines[0]).toBe('0000:00:04.0 BAR2 (4M): no write-combining route');
    expect(lines[2]).toMatch(/^ {2}sysfs\s+no\s+-\s+resource2_wc is absent$/);
    expect(lines[3]).toMatch(/^ {2}dmabuf\s+maybe\s+wc\s+exported, no memattr feature$/);
    expect(lines[4]).toMatch(/^ {2}vfio-region\s+yes\s+uc-\s+vfio-pci maps BARs uncached$/);
    expect(lines.some((l) => l.includes('why:'))).toBe(false);
    expect(lines).toContain('  hint: boot a kernel with DMA_BUF_MEMATTR');
  });
});
