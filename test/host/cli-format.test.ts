// The CLI's pure half: data in, text or JSON out (no device, no sysfs).
import { colors, hex, jsonValue, size, table } from '../../lib/cli/format';
import { ListEntry, formatList, usability } from '../../lib/cli/commands/list';
import { className, parsePciIds } from '../../lib/cli/pci-names';
import { formatPoke, formatValue } from '../../lib/cli/commands/peek';

const plain = colors(false);

describe('numbers', () => {
  it('prints sizes as lspci does and hex with a prefix', () => {
    expect([
      size(0n),
      size(256n),
      size(0x4000n),
      size(1n << 20n),
      size(4n << 30n),
      size(0x1800n),
      size(0x1801n),
      size(1000),
    ]).toEqual(['0', '256', '16K', '1M', '4G', '6K', '0x1801', '1000']);
    expect([hex(0x10), hex(0xed, 8), hex(-1), hex(1n << 40n)]).toEqual([
      '0x10',
      '0x000000ed',
      '0xffffffff',
      '0x10000000000',
    ]);
  });

  it('pads peeked values to the access width', () => {
    expect([formatValue(0xedn, 1), formatValue(0xedn, 4), formatValue(0x0123456789abcdefn, 8)]).toEqual([
      '0xed',
      '0x000000ed',
      '0x0123456789abcdef',
    ]);
    expect(
      formatPoke({
        bdf: '0000:00:03.0',
        region: 'BAR0',
        index: 0,
        offset: 4n,
        width: 32,
        value: 0x12345678n,
        via: 'pwrite',
      }),
    ).toBe('0000:00:03.0 BAR0+0x4 <- 0x12345678 (32-bit, pwrite)\n');
  });

  it('JSON: 64-bit values as numbers while exact, else decimal strings; bytes as hex', () => {
    expect(jsonValue({ a: 1n << 40n, b: (1n << 63n) + 1n, c: new Uint8Array([1, 0xab]), d: [2n] })).toEqual({
      a: 2 ** 40,
      b: '9223372036854775809',
      c: '01ab',
      d: [2],
    });
  });
});

describe('tables', () => {
  it('are borderless, aligned, without trailing blanks', () => {
    expect(
      table(
        ['A', 'LONGER'],
        [
          ['x', 1],
          ['yyyy', 22],
        ],
        plain,
      ),
    ).toBe('A     LONGER\nx     1\nyyyy  22');
  });

  it('use colour only when asked', () => {
    expect(table(['A'], [['x']], colors(true))).toContain('\u001b[1m');
    expect(table(['A'], [['x']], plain)).not.toContain('\u001b');
  });
});

describe('PCI names', () => {
  it('names classes by subclass, else by base class', () => {
    expect(className(0x010802)).toBe('Non-Volatile memory controller');
    expect(className(0x00ff00)).toBe('Unclassified device');
    expect(className(0x050000)).toBe('RAM memory');
    expect(className(0x060400)).toBe('PCI bridge');
    expect(className(0x770000)).toBe('Class 7700');
  });

  it('reads vendor and device names from pci.ids text', () => {
    const text = [
      '# comment',
      '1234  Technical Corp.',
      '\t11e8  QEMU edu',
      '1b36  Red Hat, Inc.',
      '\t0010  QEMU NVM Express Controller',
      '\t\t1af4 1100  QEMU Virtual Machine',
      '\t0005  QEMU PCI Test Device',
      'C 00  Unclassified device',
      '\t00  Non-VGA',
    ].join('\n');
    const names = parsePciIds(text, [
      { vendor: 0x1b36, device: 0x0010 },
      { vendor: 0x1234, device: 0x9999 },
      { vendor: 0xabcd, device: 1 },
    ]);
    expect(names.get('1b36:0010')).toEqual({ vendor: 'Red Hat, Inc.', device: 'QEMU NVM Express Controller' });
    expect(names.get('1234:9999')).toEqual({ vendor: 'Technical Corp.' });
    expect(names.has('abcd:0001')).toBe(false);
  });
});

describe('vfio list', () => {
  const entry = (over: Partial<ListEntry>): ListEntry => ({
    bdf: '0000:00:03.0',
    id: '1234:11e8',
    vendor: 0x1234,
    device: 0x11e8,
    subsystemVendor: 0x1af4,
    subsystemDevice: 0x1100,
    class: 0x00ff00,
    className: 'Unclassified device',
    revision: 0x10,
    vendorName: null,
    deviceName: null,
    driver: 'vfio-pci',
    driverOverride: 'vfio-pci',
    iommuGroup: 3,
    noIommu: false,
    vfio: { usable: true, reasons: [], hint: null },
    ...over,
  });

  it('a table with the reason VFIO cannot use a device, and how to bind one', () => {
    const text = formatList(
      [
        entry({}),
        entry({
          bdf: '0000:00:10.0',
          id: '1af4:1049',
          className: 'Unclassified device',
          driver: 'virtio-pci',
          iommuGroup: 7,
          vfio: usability({ bdf: '0000:00:10.0', classCode: 0x00ff00, driver: 'virtio-pci', group: 7, members: [] }),
        }),
      ],
      plain,
    );
    expect(text.split('\n')).toEqual([
      'BDF           IDS        CLASS                DRIVER      GROUP  VFIO',
      '0000:00:03.0  1234:11e8  Unclassified device  vfio-pci    3      yes',
      '0000:00:10.0  1af4:1049  Unclassified device  virtio-pci  7      no: bound to virtio-pci',
      '',
      'to hand a device to VFIO: vfio bind BDF; `vfio info BDF` describes a usable one, `vfio doctor BDF` checks everything on the way',
      '',
    ]);
  });

  it('adds a NAME column when pci.ids names are known', () => {
    const text = formatList([entry({ vendorName: 'Technical Corp.', deviceName: 'QEMU edu' })], plain);
    expect(text.split('\n')[0]).toMatch(/^BDF\s+IDS\s+CLASS\s+NAME\s+DRIVER/);
    expect(text).toContain('Technical Corp. QEMU edu');
  });

  it('usability: no group, a shared group, both reasons in order', () => {
    const iommuFix = 'add intel_iommu=on to the kernel command line';
    expect(
      usability({ bdf: 'a', classCode: 0x020000, driver: 'vfio-pci', group: undefined, members: [], iommuFix }),
    ).toEqual({ usable: false, reasons: ['no IOMMU group'], hint: iommuFix });
    // Without an IOMMU, binding cannot help: the hint is the IOMMU's fix, not `vfio bind`.
    expect(
      usability({ bdf: 'a', classCode: 0x020000, driver: 'e1000e', group: undefined, members: [], iommuFix }),
    ).toEqual({ usable: false, reasons: ['bound to e1000e', 'no IOMMU group'], hint: iommuFix });
    expect(
      usability({
        bdf: 'a',
        classCode: 0x020000,
        driver: 'e1000e',
        group: 3,
        members: [],
        invocation: { cli: 'npx vfio', root: false, sudo: true },
      }),
    ).toEqual({ usable: false, reasons: ['bound to e1000e'], hint: 'sudo npx vfio bind a' });
    // In VFIO's no-IOMMU mode a group-less device gets a group when bound: only the driver matters.
    expect(
      usability({
        bdf: 'a',
        classCode: 0x020000,
        driver: 'virtio-pci',
        group: undefined,
        members: [],
        noIommuMode: true,
      }),
    ).toEqual({ usable: false, reasons: ['bound to virtio-pci'], hint: 'vfio bind a' });
    expect(
      usability({
        bdf: 'a',
        classCode: 0x020000,
        driver: undefined,
        group: 4,
        members: [
          { bdf: 'a', driver: undefined },
          { bdf: 'b', driver: 'e1000e' },
          { bdf: 'c', driver: 'vfio-pci' },
          { bdf: 'd', driver: 'pcieport' },
        ],
      }),
    ).toEqual({ usable: false, reasons: ['no driver', 'IOMMU group 4 also holds b (e1000e)'], hint: 'vfio bind a' });
  });
});
