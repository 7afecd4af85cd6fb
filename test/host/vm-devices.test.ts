// The emulated host's device placement, which needs no guest: the default devices' fixed BDFs,
// extra devices' slots, and the root ports (one allocator, so each device's announced BDF is the
// one the firmware gives it).
import { defaultDevices, guestDevices, parseAddr, rootPorts } from '../../lib/vm/qemu/devices';
import { sharedGroupQemuArgs } from '../../lib/vm/qemu/shared-group';
import { VmError } from '../../lib/vm/core/errors';

const res = { ivshmemFile: '/dev/shm/x/ivshmem', nvmeImage: '/c/nvme.img' };

/** The device called `name` in a device list; fails the test when there is none. */
function named<D extends { name: string }>(devs: readonly D[], name: string): D {
  const d = devs.find((x) => x.name === name);
  if (!d) throw new Error(`no device ${name} in ${devs.map((x) => x.name).join(', ')}`);
  return d;
}

describe('devices', () => {
  it('places the default devices at fixed BDFs with their variables', () => {
    expect(defaultDevices.map((d) => [d.name, d.bdf, d.env])).toEqual([
      ['edu', '0000:00:03.0', 'VFIO_VM_EDU'],
      ['ivshmem', '0000:00:04.0', 'VFIO_VM_IVSHMEM'],
      ['nvme', '0000:01:00.0', 'VFIO_VM_NVME'],
      ['pci-testdev', '0000:00:06.0', 'VFIO_VM_PCI_TESTDEV'],
    ]);
    const ivshmem = named(guestDevices([], true, res), 'ivshmem');
    expect(ivshmem.qemuArgs.join(' ')).toContain('mem-path=/dev/shm/x/ivshmem,size=4M');
  });

  it('ivshmemRootPort: ivshmem behind a root port of its own on bus 2, the rest unchanged', () => {
    const plain = guestDevices(['edu'], true, res);
    const moved = guestDevices(['edu'], true, res, { ivshmemRootPort: true });
    const ivshmem = named(moved, 'ivshmem');
    expect([ivshmem.bdf, ivshmem.env]).toEqual(['0000:02:00.0', 'VFIO_VM_IVSHMEM']);
    expect(ivshmem.qemuArgs.join(' ')).toMatch(
      /mem-path=\/dev\/shm\/x\/ivshmem,size=4M -device pcie-root-port,id=rp4,chassis=4,addr=0x4,x-speed=5 -device ivshmem-plain,id=ivshmem,memdev=ivshmem0,bus=rp4,addr=0x0$/,
    );
    const others = (ds: typeof plain) => ds.filter((d) => d.name !== 'ivshmem').map((d) => [d.name, d.bdf]);
    expect(others(moved)).toEqual(others(plain));
    expect(() => guestDevices(['edu,addr=0x4'], true, res, { ivshmemRootPort: true })).toThrow(/already taken/);
    // The igb comes last: bus 3 behind the other two ports, bus 2 without ivshmem's.
    expect(
      guestDevices([], true, res, { ivshmemRootPort: true, igb: true })
        .map((d) => d.bdf)
        .slice(-1),
    ).toEqual(['0000:03:00.0']);
    const igb = named(guestDevices([], true, res, { igb: true }), 'igb');
    expect([igb.bdf, igb.env, igb.qemuArgs.join(' ')]).toEqual([
      '0000:02:00.0',
      'VFIO_VM_IGB',
      '-device pcie-root-port,id=rp2,chassis=2,addr=0x2,x-speed=5 -device igb,id=igb,bus=rp2,addr=0x0',
    ]);
    expect(() => guestDevices([], false, res, { ivshmemRootPort: true })).toThrow(/noDefaultDevices/);
  });

  describe('root ports: one allocator, highest slot first, so nvme keeps bus 1', () => {
    /** Every pcie-root-port of an argument list: [id, slot]. */
    const portsIn = (args: string[]) =>
      args
        .filter((a) => a.startsWith('pcie-root-port,'))
        .map((a) => {
          const m = /id=(rp[0-9a-f]+),chassis=(\d+),addr=0x([0-9a-f]+),x-speed=5$/.exec(a);
          if (!m) throw new Error(`root port arguments not understood: ${a}`);
          expect(m[1]).toBe(`rp${m[3]}`);
          expect(Number(m[2])).toBe(parseInt(m[3], 16));
          return [m[1], parseInt(m[3], 16)] as const;
        });
    /** The whole -device list of a run with this layout: devices, then the shared group's pair. */
    const runArgs = (withDefaults: boolean, layout: Parameters<typeof rootPorts>[1], extra: string[] = []) => {
      const devs = guestDevices(extra, withDefaults, res, layout);
      const sg = rootPorts(withDefaults, layout).sharedGroup;
      return { devs, args: [...devs.flatMap((d) => d.qemuArgs), ...(sg ? sharedGroupQemuArgs(sg) : [])] };
    };
    const layouts = [
      {},
      { igb: true },
      { sharedGroup: true },
      { igb: true, sharedGroup: true },
      { ivshmemRootPort: true },
      { ivshmemRootPort: true, igb: true },
      { ivshmemRootPort: true, sharedGroup: true },
      { ivshmemRootPort: true, igb: true, sharedGroup: true },
    ];

    it.each(layouts)('%j: distinct slots, none a device uses, buses in descending slot order', (layout) => {
      const { devs, args } = runArgs(true, layout, ['qemu-xhci', 'edu']);
      const ports = portsIn(args);
      const slots = ports.map(([, slot]) => slot);
      expect(new Set(slots).size).toBe(slots.length);
      // Root-bus devices (default and extra) never share a slot with a port.
      for (const d of devs.filter((x) => x.bdf.startsWith('0000:00:')))
        expect(slots).not.toContain(parseInt(d.bdf.slice(8, 10), 16));
      // nvme's port is the highest slot and bus 1; every announced BDF behind a port is the bus
      // of its port's rank from the highest slot down (how the firmware numbers them).
      const byRank = [...slots].sort((a, b) => b - a);
      const busOf = (portId: string) => {
        const port = ports.find(([id]) => id === portId);
        if (!port) throw new Error(`no root port ${portId}`);
        return byRank.indexOf(port[1]) + 1;
      };
      expect(named(devs, 'nvme').bdf).toBe('0000:01:00.0');
      for (const d of devs.filter((x) => !x.bdf.startsWith('0000:00:'))) {
        const behind = d.qemuArgs.find((a) => /,bus=rp/.test(a) && !a.startsWith('pcie-root-port'));
        const port = behind === undefined ? null : /bus=(rp[0-9a-f]+)/.exec(behind);
        if (!port) throw new Error(`${d.name} is behind no root port: ${d.qemuArgs.join(' ')}`);
        expect(d.bdf).toBe(`0000:${busOf(port[1]).toString(16).padStart(2, '0')}:00.0`);
      }
      const planned = Object.values(rootPorts(true, layout)).filter((p) => p !== undefined);
      expect(planned.map((p) => [p.id, p.slot, p.bus])).toEqual(planned.map((p) => [p.id, p.slot, busOf(p.id)]));
    });

    it('--igb with --shared-group: nvme 5 (bus 1), igb 2 (bus 2), the pair 1 (bus 3)', () => {
      const { devs, args } = runArgs(true, { igb: true, sharedGroup: true });
      expect(portsIn(args)).toEqual([
        ['rp5', 5],
        ['rp2', 2],
        ['rp1', 1],
      ]);
      expect(named(devs, 'igb').bdf).toBe('0000:02:00.0');
      expect(args.join(' ')).toContain(
        '-device pcie-root-port,id=rp1,chassis=1,addr=0x1,x-speed=5 -device edu,bus=rp1,addr=0x0.0,multifunction=on -device virtio-rng-pci,bus=rp1,addr=0x0.1',
      );
      expect(rootPorts(true, { ivshmemRootPort: true, igb: true, sharedGroup: true })).toMatchObject({
        nvme: { slot: 5, bus: 1 },
        ivshmem: { slot: 4, bus: 2 },
        igb: { slot: 2, bus: 3 },
        sharedGroup: { slot: 1, bus: 4 },
      });
    });

    it('without the default devices the first port takes the highest slot and bus 1', () => {
      const { devs } = runArgs(false, { igb: true, sharedGroup: true });
      expect(devs.map((d) => [d.name, d.bdf])).toEqual([['igb', '0000:01:00.0']]);
      expect(rootPorts(false, { igb: true, sharedGroup: true })).toMatchObject({
        igb: { slot: 5, bus: 1 },
        sharedGroup: { slot: 4, bus: 2 },
      });
      // An extra device asking for a port's slot is refused.
      expect(() => guestDevices(['edu,addr=0x1'], true, res, { igb: true, sharedGroup: true })).toThrow(
        /already taken/,
      );
    });
  });

  it('gives extra devices free slots, or the addr they ask for, and numbered variables', () => {
    const devs = guestDevices(['qemu-xhci', 'pci-testdev,addr=0x9', 'edu'], true, res).slice(4);
    expect(devs.map((d) => [d.name, d.bdf, d.env, d.driver])).toEqual([
      ['qemu-xhci', '0000:00:08.0', 'VFIO_VM_DEVICE_0', 'vfio-pci'],
      ['pci-testdev', '0000:00:09.0', 'VFIO_VM_DEVICE_1', 'vfio-pci'],
      ['edu', '0000:00:0a.0', 'VFIO_VM_DEVICE_2', 'vfio-pci'],
    ]);
    expect(devs[0].qemuArgs).toEqual(['-device', 'qemu-xhci,id=device-0,addr=0x8']);
    expect(devs[1].qemuArgs).toEqual(['-device', 'pci-testdev,addr=0x9,id=device-1']);
    expect(devs.map((d) => d.id)).toEqual(['device-0', 'device-1', 'device-2']);
    // An id the spec gives is kept, and the defaults are named after themselves.
    expect(guestDevices(['edu,id=mine'], true, res).map((d) => d.id)).toEqual([
      'edu',
      'ivshmem',
      'nvme',
      'pci-testdev',
      'mine',
    ]);
  });

  it('without the defaults, extra devices start at the first extra slot', () => {
    expect(guestDevices(['edu'], false, res).map((d) => d.bdf)).toEqual(['0000:00:08.0']);
  });

  it('refuses taken or reserved addresses, other buses and malformed specs', () => {
    const kindOf = (f: () => unknown) => {
      try {
        f();
        return 'none';
      } catch (e) {
        return (e as VmError).kind;
      }
    };
    expect(kindOf(() => guestDevices(['edu,addr=0x3'], true, res))).toBe('options');
    expect(kindOf(() => guestDevices(['edu,addr=0x10'], true, res))).toBe('options');
    expect(kindOf(() => guestDevices(['edu,bus=pcie.1'], true, res))).toBe('options');
    expect(kindOf(() => guestDevices(['addr=0x8'], true, res))).toBe('options');
    expect(parseAddr('08.1')).toEqual([8, 1]);
    expect(parseAddr('0x1f')).toEqual([0x1f, 0]);
    expect(kindOf(() => parseAddr('0x20'))).toBe('options');
  });
});
