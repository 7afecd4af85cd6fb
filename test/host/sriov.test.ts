// SR-IOV through sysfs on a fixture tree laid out as the kernel lays it out (sriov_totalvfs,
// sriov_numvfs, virtfnN and physfn links), and the VF token's hints: what sysfs.sriov() and
// `vfio sriov` read, write and refuse, with which hint.
import * as fs from 'fs';
import * as path from 'path';
import { main } from '../../lib/cli/program';
import { DeviceTarget } from '../../lib/iommu/context';
import { groupDeviceName, vfTokenBytes, vfTokenHint } from '../../lib/iommu/vf-token';
import * as sysfs from '../../lib/sysfs';
import { VfioError } from '../../lib/errors';
import { SysfsTree } from './cli-fixture';
import { must } from '../support/must';

const PF = '0000:02:00.0';
const VF0 = '0000:02:10.0';
const VF1 = '0000:02:10.2';
let tree: SysfsTree;

beforeEach(() => {
  tree = new SysfsTree([
    { bdf: '0000:00:0f.0', driver: 'pcieport', group: 9 },
    { bdf: PF, driver: 'vfio-pci', group: 10, parent: '0000:00:0f.0' },
    { bdf: VF0, driver: 'vfio-pci', group: 11, parent: '0000:00:0f.0' },
    { bdf: VF1, driver: 'vfio-pci', group: 12, parent: '0000:00:0f.0' },
    { bdf: '0000:00:03.0', driver: 'vfio-pci', group: 1 },
  ]);
  fs.writeFileSync(tree.dev(PF, 'sriov_totalvfs'), '7\n');
  fs.writeFileSync(tree.dev(PF, 'sriov_numvfs'), '2\n');
  // Listed out of order on purpose: VF order is the link number's, not the directory's.
  fs.symlinkSync(`../${VF1}`, tree.dev(PF, 'virtfn1'));
  fs.symlinkSync(`../${VF0}`, tree.dev(PF, 'virtfn0'));
  for (const vf of [VF0, VF1]) fs.symlinkSync(`../${PF}`, tree.dev(vf, 'physfn'));
  fs.mkdirSync(tree.p('module/vfio_pci/parameters'), { recursive: true });
  fs.writeFileSync(tree.p('module/vfio_pci/parameters/enable_sriov'), 'N\n');
});
afterEach(() => tree.remove());

function refused(f: () => unknown): VfioError {
  try {
    f();
  } catch (e) {
    return e as VfioError;
  }
  throw new Error('expected a refusal');
}

describe('sysfs.sriov()', () => {
  it('reads the PF: counts, and its VFs in VF order with their groups and drivers', () => {
    expect(sysfs.sriov(PF, { sysfs: tree.root })).toEqual({
      pf: PF,
      driver: 'vfio-pci',
      totalvfs: 7,
      numvfs: 2,
      vfs: [
        { bdf: VF0, group: 11, driver: 'vfio-pci' },
        { bdf: VF1, group: 12, driver: 'vfio-pci' },
      ],
    });
    expect(sysfs.physfnOf(VF1, { sysfs: tree.root })).toBe(PF);
    expect(sysfs.physfnOf(PF, { sysfs: tree.root })).toBeUndefined();
  });

  it('writes the count; a count out of range and a device that is no PF are refused with hints', () => {
    sysfs.sriov(PF, { sysfs: tree.root, numvfs: 0 });
    expect(fs.readFileSync(tree.dev(PF, 'sriov_numvfs'), 'utf8')).toBe('0\n');
    const range = refused(() => sysfs.sriov(PF, { sysfs: tree.root, numvfs: 8 }));
    expect([range.code, range.errno, range.hint]).toEqual([
      'VFIO_SRIOV_REFUSED',
      22,
      'give a count from 0 to 7 (sriov_totalvfs)',
    ]);
    const vf = refused(() => sysfs.sriov(VF0, { sysfs: tree.root }));
    expect([vf.code, vf.errno, vf.hint]).toEqual(['VFIO_SRIOV_REFUSED', undefined, `${VF0} is a VF; its PF is ${PF}`]);
    expect(refused(() => sysfs.sriov('0000:00:03.0', { sysfs: tree.root })).message).toMatch(
      /not an SR-IOV physical function/,
    );
  });

  it("the kernel's ENOENT for vfio-pci with enable_sriov off: the hint names the parameter", () => {
    // A write the kernel refuses with ENOENT, as vfio-pci does while enable_sriov is off.
    fs.rmSync(tree.dev(PF, 'sriov_numvfs'));
    fs.symlinkSync('/nonexistent/sriov_numvfs', tree.dev(PF, 'sriov_numvfs'));
    const e = refused(() => sysfs.sriov(PF, { sysfs: tree.root, numvfs: 3 }));
    expect([e.code, e.errno]).toEqual(['VFIO_SRIOV_REFUSED', 2]);
    expect(e.hint).toMatch(/enable_sriov parameter on: echo 1 > \/sys\/module\/vfio_pci\/parameters\/enable_sriov/);
  });
});

describe('vfio sriov', () => {
  async function cli(...args: string[]): Promise<{ code: number; out: string; err: string }> {
    let out = '';
    let err = '';
    const code = await main(['sriov', ...args], {
      out: (s) => (out += s),
      err: (s) => (err += s),
      color: false,
      errColor: false,
      uid: 0,
      sysfs: tree.root,
    });
    return { code, out, err };
  }

  it('lists the VFs; --numvfs sets the count; --json is the API object', async () => {
    const list = await cli(PF);
    expect(list.code).toBe(0);
    expect(list.out).toMatch(/^0000:02:00.0 SR-IOV PF \(driver vfio-pci\): 2 of 7 VFs enabled\n/);
    expect(list.out).toMatch(/ 1 +0000:02:10.2 +12 +vfio-pci/);
    expect(list.out).toMatch(/VF token/);
    const json = await cli(PF, '--json');
    expect(JSON.parse(json.out)).toEqual(sysfs.sriov(PF, { sysfs: tree.root }));
    expect((await cli(PF, '--numvfs', '0')).code).toBe(0);
    expect(fs.readFileSync(tree.dev(PF, 'sriov_numvfs'), 'utf8')).toBe('0\n');
    const bad = await cli(PF, '--numvfs', '9');
    expect([bad.code, bad.err]).toEqual([1, expect.stringMatching(/give a count from 0 to 7/)]);
    expect((await cli(PF, '--numvfs', 'x')).code).toBe(2);
  });
});

describe('the VF token', () => {
  const target = (bdf: string): DeviceTarget => ({
    name: bdf,
    bus: 'pci',
    sysfsPath: path.join(tree.root, 'bus/pci/devices', bdf),
    driver: 'vfio-pci',
    group: 11,
    noIommu: false,
    cdev: undefined,
  });
  const UUID = '2ab74924-c335-45f4-9b16-8569e5615e0a';

  it("is passed as the group name's vf_token= and as 16 bytes for the cdev; a non-UUID is refused", () => {
    expect(groupDeviceName(VF0, undefined)).toBe(VF0);
    expect(groupDeviceName(VF0, UUID.toUpperCase())).toBe(`${VF0} vf_token=${UUID}`);
    expect(Buffer.from(must(vfTokenBytes(VF0, UUID), 'vfTokenBytes(VF0, UUID)')).toString('hex')).toBe(
      UUID.replace(/-/g, ''),
    );
    const e = refused(() => vfTokenBytes(VF0, 'nope'));
    expect([e.code, e.message]).toEqual(['EINVAL', expect.stringMatching(/vfToken: .*'nope' is not a UUID/)]);
  });

  it("the kernel's EACCES and EINVAL get hints naming the token and where it is set", () => {
    expect(vfTokenHint(target(VF0), 'EACCES', undefined)).toBe(
      `${VF0} is a VF of ${PF}, which is bound to vfio-pci: open it with the PF's VF token, ` +
        `Device.open('${VF0}', { vfToken: UUID }); the PF's user sets it with dev.feature('PCI_VF_TOKEN').setToken(UUID) ` +
        `(VFIO_DEVICE_FEATURE_PCI_VF_TOKEN) on the open PF (${PF})`,
    );
    expect(vfTokenHint(target(VF0), 'EACCES', UUID)).toMatch(
      new RegExp(`^the VF token given is not the one set on ${VF0}'s PF ${PF}`),
    );
    expect(vfTokenHint(target(PF), 'EACCES', undefined)).toMatch(/an SR-IOV PF whose VFs are in use through VFIO/);
    expect(vfTokenHint(target('0000:00:03.0'), 'EINVAL', UUID)).toMatch(
      /neither a VF of a PF bound to vfio-pci nor such a PF/,
    );
    expect(vfTokenHint(target(VF0), 'EINVAL', undefined)).toBeUndefined();
    expect(vfTokenHint(target(VF0), 'EBUSY', UUID)).toBeUndefined();
  });
});
