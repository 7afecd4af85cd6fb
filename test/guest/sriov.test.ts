// SR-IOV and the VF token against the real kernel: an igb PF (VFIO_VM_IGB, `vfio-vm run --igb`)
// bound to vfio-pci with enable_sriov on. What is checked: VFs are created and removed through
// sysfs.sriov() and `vfio sriov`, each VF in its own IOMMU group and bound to vfio-pci by the
// kernel; the VF token the PF's user sets is required to open a VF (EACCES without it or with
// another one, with a hint naming the token and where it is set) on every backend the kernel
// has (group: "BDF vf_token=UUID"; cdev: VFIO_DEVICE_BIND_FLAG_TOKEN); a VF does real work: what
// it writes to its mailbox memory is what the PF reads in that VF's slot of the PF's registers.
// Skipped without the igb or without a kernel that can make VFs (CONFIG_PCI_IOV); the cdev's
// token test is skipped on a kernel without the VFIO cdev (Debian's).
import * as fs from 'fs';
import * as path from 'path';
import { spawnSync } from 'child_process';
import { Device, VfioError } from '../../lib';
import * as sysfs from '../../lib/sysfs';
import { describeIf, itIf, openDevice } from './env';
import { must } from '../support/must';

const PF = process.env.VFIO_VM_IGB;
const canSriov = PF !== undefined && fs.existsSync(`/sys/bus/pci/devices/${PF}/sriov_totalvfs`);
const describeSriov = describeIf(
  canSriov,
  PF === undefined ? 'no igb PF in this configuration' : 'the kernel cannot make VFs (no CONFIG_PCI_IOV)',
);
const TOKEN = '2ab74924-c335-45f4-9b16-8569e5615e0a';
const OTHER = '00000000-0000-0000-0000-000000000001';
/** igb register offsets (82576 datasheet): STATUS, and the VF mailbox memory (VMBMEM). */
const STATUS = 0x8;
const VMBMEM = 0x800;
const VMBMEM_STRIDE = 0x40;
/** The call that opens a device on each backend: the kernel checks the VF token in it. */
const OPEN_OP = { type1: 'VFIO_GROUP_GET_DEVICE_FD', iommufd: 'VFIO_DEVICE_BIND_IOMMUFD' } as const;

/**
 * Whether this kernel opens devices through the VFIO cdev (iommufd): /dev/iommu and the PF's
 * vfio-dev node (its VFs, bound to vfio-pci the same way, get one too). Debian's kernels have
 * no iommufd; the custom kernel has both it and SR-IOV.
 */
const hasCdev = canSriov && fs.existsSync('/dev/iommu') && fs.existsSync(`/sys/bus/pci/devices/${PF}/vfio-dev`);

async function refusal(p: Promise<Device>): Promise<VfioError> {
  try {
    const d = await p;
    d.close();
  } catch (e) {
    return e as VfioError;
  }
  throw new Error('expected the open to be refused');
}

describeSriov('SR-IOV of a PF bound to vfio-pci, and the VF token', () => {
  let pf: Device;

  beforeAll(async () => {
    pf = await openDevice(must(PF, 'PF'));
    pf.feature('PCI_VF_TOKEN').setToken(TOKEN);
  });

  afterAll(() => {
    pf?.close();
    if (canSriov) sysfs.sriov(must(PF, 'PF'), { numvfs: 0 });
  });

  it('sysfs.sriov(): VFs appear, each in its own IOMMU group, bound to vfio-pci; 0 removes them', () => {
    const before = sysfs.sriov(must(PF, 'PF'));
    // QEMU's igb offers 8 VFs (the 82576 has 8 pools).
    expect([before.totalvfs, before.numvfs, before.vfs]).toEqual([8, 0, []]);
    const s = sysfs.sriov(must(PF, 'PF'), { numvfs: 3 });
    expect(s.numvfs).toBe(3);
    expect(s.vfs).toHaveLength(3);
    const groups = s.vfs.map((v) => v.group);
    expect(groups.every((g) => typeof g === 'number')).toBe(true);
    expect(new Set([...groups, pf.group]).size).toBe(4);
    expect(s.vfs.map((v) => v.driver)).toEqual(['vfio-pci', 'vfio-pci', 'vfio-pci']);
    for (const v of s.vfs) expect(sysfs.physfnOf(v.bdf)).toBe(PF);
    // From 3 to 2: the library goes through 0, as the kernel requires.
    expect(sysfs.sriov(must(PF, 'PF'), { numvfs: 2 }).vfs).toHaveLength(2);
    expect(sysfs.sriov(must(PF, 'PF'), { numvfs: 0 }).vfs).toEqual([]);
    const tooMany = (() => {
      try {
        sysfs.sriov(must(PF, 'PF'), { numvfs: 9 });
      } catch (e) {
        return e as VfioError;
      }
      throw new Error('expected a refusal');
    })();
    expect([tooMany.code, tooMany.hint]).toEqual(['VFIO_SRIOV_REFUSED', 'give a count from 0 to 8 (sriov_totalvfs)']);
  });

  it('vfio sriov BDF --numvfs N: the CLI creates and lists them', () => {
    const cli = path.join(__dirname, '..', '..', 'lib', 'cli', 'vfio.js');
    const r = spawnSync(process.execPath, [cli, 'sriov', must(PF, 'PF'), '--numvfs', '2', '--json'], {
      encoding: 'utf8',
    });
    expect(r.status).toBe(0);
    const out = JSON.parse(r.stdout) as sysfs.SriovState;
    expect([out.pf, out.numvfs, out.vfs.length]).toEqual([PF, 2, 2]);
    expect(out.vfs.map((v) => v.bdf)).toEqual(sysfs.sriov(must(PF, 'PF')).vfs.map((v) => v.bdf));
  });

  for (const backend of ['type1', 'iommufd'] as const) {
    itIf(backend === 'type1' || hasCdev, 'no VFIO cdev on this kernel')(
      `the token rules, backend ${backend}: refused without it or with another one; with it the VF does real work`,
      async () => {
        const vfs = sysfs.sriov(must(PF, 'PF'), { numvfs: 2 }).vfs;
        const vf = vfs[1].bdf;
        if (backend === 'iommufd') expect(fs.existsSync(`/sys/bus/pci/devices/${vf}/vfio-dev`)).toBe(true);
        const none = await refusal(Device.open(vf, { backend }));
        expect(none).toBeInstanceOf(VfioError);
        expect([none.code, none.op]).toEqual(['EACCES', OPEN_OP[backend]]);
        expect(none.hint).toContain(`is a VF of ${PF}`);
        expect(none.hint).toContain(`vfToken`);
        expect(none.hint).toContain(`setToken(UUID)`);
        const wrong = await refusal(Device.open(vf, { backend, vfToken: OTHER }));
        expect([wrong.code, wrong.op]).toEqual(['EACCES', OPEN_OP[backend]]);
        expect(wrong.hint).toContain(`not the one set on ${vf}'s PF ${PF}`);
        await using dev = await Device.open(vf, { backend, vfToken: TOKEN });
        expect([dev.backend, dev.group]).toEqual([backend, vfs[1].group]);
        // VF 1's mailbox memory is the PF's VMBMEM slot 1.
        const value = 0x5f000000 + (backend === 'type1' ? 1 : 2);
        dev.bar(0).write32(VMBMEM, value);
        expect(pf.bar(0).read32(VMBMEM + VMBMEM_STRIDE * 1)).toBe(value);
        expect(dev.bar(0).read32(STATUS)).toBe(pf.bar(0).read32(STATUS));
      },
      120_000,
    );
  }

  it('a malformed token is refused before anything opens', async () => {
    const vf = sysfs.sriov(must(PF, 'PF'), { numvfs: 1 }).vfs[0].bdf;
    const bad = await refusal(Device.open(vf, { vfToken: 'not-a-uuid' }));
    expect([bad.code, bad.message]).toEqual(['EINVAL', expect.stringMatching(/vfToken: .*is not a UUID/)]);
  });
});
