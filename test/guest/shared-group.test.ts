// Two functions of one device behind a root port of their own (vfio-vm's sharedGroup option:
// an edu at function 0, a virtio-rng at function 1): behind an IOMMU they share one IOMMU group,
// without one (no-IOMMU mode) each has its own; a hot reset of their bus hits both either way.
// The guest leaves them to its own drivers (virtio-pci claims function 1); the tests bind them.
import * as fs from 'fs';
import * as path from 'path';
import { Device, PermissionError, VfioError } from '../../lib';
import { native } from '../../lib/addon/native';
import { errnoName } from '../../lib/errors';
import * as sysfs from '../../lib/system/sysfs';
import { describeIf, hasIommu, openDevice } from './env';
import { must } from '../support/must';

const present = process.env.VFIO_VM_SHARED_GROUP === '1';
const sysDev = (bdf: string) => `/sys/bus/pci/devices/${bdf}`;

/** The pair, found by its IDs: function 0 an edu whose function 1 is a virtio-rng. */
function findPair(): [string, string] {
  const ids = (bdf: string) => sysfs.pciIds(bdf);
  for (const fn0 of sysfs.listPciDevices().filter((b) => b.endsWith('.0'))) {
    const fn1 = fn0.replace(/\.0$/, '.1');
    if (
      ids(fn0)?.vendor === 0x1234 &&
      ids(fn0)?.device === 0x11e8 &&
      ids(fn1)?.vendor === 0x1af4 &&
      ids(fn1)?.device === 0x1044
    )
      return [fn0, fn1];
  }
  throw new Error('VFIO_VM_SHARED_GROUP is set but no edu + virtio-rng pair is on the PCI bus');
}

/** Binds `bdf` to `driver`, or hands it back to the kernel's own choice (undefined). */
function bindTo(bdf: string, driver: string | undefined): void {
  fs.writeFileSync(path.join(sysDev(bdf), 'driver_override'), driver ?? '\n');
  if (fs.existsSync(path.join(sysDev(bdf), 'driver')))
    fs.writeFileSync(path.join(sysDev(bdf), 'driver', 'unbind'), bdf);
  fs.writeFileSync('/sys/bus/pci/drivers_probe', bdf);
  expect([bdf, sysfs.driverOf(bdf)]).toEqual([bdf, driver ?? 'virtio-pci']);
}

async function rejection(p: Promise<unknown>): Promise<VfioError> {
  try {
    await p;
  } catch (e) {
    return e as VfioError;
  }
  throw new Error('expected a rejection');
}

describeIf(present, 'this configuration runs without the sharedGroup option')(
  'two functions behind one root port',
  () => {
    let fn0: string;
    let fn1: string;
    beforeAll(() => {
      [fn0, fn1] = present ? findPair() : ['', ''];
      bindTo(fn0, 'vfio-pci');
    });
    // Both functions go back as the guest left them: function 1 on virtio-pci, function 0 (edu)
    // on no driver, so its group leaves /dev/vfio and the other files see only the run's devices.
    afterAll(() => {
      if (fn1) bindTo(fn1, undefined);
      if (fn0) {
        fs.writeFileSync(path.join(sysDev(fn0), 'driver_override'), '\n');
        if (fs.existsSync(path.join(sysDev(fn0), 'driver')))
          fs.writeFileSync(path.join(sysDev(fn0), 'driver', 'unbind'), fn0);
      }
    });

    describeIf(hasIommu(), 'without an IOMMU each function has a group of its own')('one IOMMU group', () => {
      it('the kernel put both functions in one group', () => {
        expect(sysfs.iommuGroupOf(fn0)).toBeDefined();
        expect(sysfs.iommuGroupOf(fn1)).toBe(sysfs.iommuGroupOf(fn0));
      });

      it('while the other function is bound to virtio-pci the group is not viable: the error names it and the fix', async () => {
        bindTo(fn1, undefined);
        const e = await rejection(openDevice(fn0, { backend: 'type1' }));
        expect(e).toBeInstanceOf(VfioError);
        expect(e.code).toBe('EBUSY');
        expect(e.message).toContain(`${fn1} (virtio-pci)`);
        expect(e.hint).toContain(`vfio bind ${fn1}`);
      });

      it('with both on vfio-pci, holding the one group is enough for a hot reset of the bus', async () => {
        bindTo(fn1, 'vfio-pci');
        await using dev = await openDevice(fn0);
        const info = dev.hotResetInfo();
        const group = sysfs.iommuGroupOf(fn0);
        expect(info.devices.map((d) => [d.bdf, info.devIdForm ? null : d.groupId])).toEqual([
          [fn0, info.devIdForm ? null : group],
          [fn1, info.devIdForm ? null : group],
        ]);
        const events: string[] = [];
        dev.on('reset', (k: string) => events.push(k));
        await dev.hotReset();
        expect(events).toEqual(['hot']);
        expect(dev.bar(0).read32(0)).toBe(0x010000ed);
      });
    });

    describeIf(!hasIommu(), 'behind an IOMMU both functions share one group')('a group per function (no IOMMU)', () => {
      it("a hot reset while the other function's group is not held is refused, naming it; the kernel agrees; holding both, it runs", async () => {
        bindTo(fn1, 'vfio-pci');
        await using dev = await openDevice(fn0);
        const info = dev.hotResetInfo();
        expect(info.devices.map((d) => d.bdf)).toEqual([fn0, fn1]);
        // The proof the kernel gets: this function's group fd (group form), or nothing (cdev
        // form: the kernel checks ownership through the iommufd).
        let proof: Int32Array;
        if (info.devIdForm) {
          expect([info.allOwned, info.devices.map((d) => d.owned)]).toEqual([false, [true, false]]);
          proof = new Int32Array(0);
        } else {
          const groups = info.devices.map((d) => d.groupId);
          expect(new Set(groups).size).toBe(2);
          const group = must(groups[0], "the first device's group id");
          proof = Int32Array.from([must(dev.iommu.groupFds().get(group), `the fd of group ${group}`)]);
        }
        const e = await rejection(dev.hotReset());
        expect(e).toBeInstanceOf(PermissionError);
        expect(e.code).toBe('EPERM');
        expect(e.message).toContain(fn1);
        expect(e.hint).toMatch(/in the same IOMMU context/);
        // The kernel's own answer to the same incomplete proof.
        const r = await native().VFIO_DEVICE_PCI_HOT_RESET(dev.fd('test'), proof);
        expect(r < 0 && errnoName(-r)).toBe('EINVAL');
        // Following the hint: the other function in the same context, and the reset runs.
        await using other: Device = await openDevice(fn1, { iommu: dev.iommu });
        expect(other.bdf).toBe(fn1);
        await dev.hotReset();
        expect(dev.bar(0).read32(0)).toBe(0x010000ed);
      });
    });
  },
);
