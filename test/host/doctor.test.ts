// `vfio doctor` on fixture hosts: a ready machine, then each failure it diagnoses, with the
// status, the finding and the fix; and the root cause Device.open puts first.
import * as fs from 'fs';
import { Check, doctor, hostUses, rootCause } from '../../lib/doctor';
import { HostTree, RELEASE } from './doctor-fixture';
import { must } from '../support/must';

const NIC = '0000:02:00.0';
const EDU = '0000:00:03.0';
let t: HostTree;

beforeEach(() => {
  t = new HostTree([
    { bdf: EDU, vendor: 0x1234, device: 0x11e8, driver: 'vfio-pci', override: 'vfio-pci', group: 1 },
    { bdf: NIC, vendor: 0x8086, device: 0x1533, class: 0x020000, driver: 'igb', group: 3 },
  ]);
  t.limits('unlimited', 'unlimited');
});
afterEach(() => t.remove());

const byId = (checks: Check[], id: string, device?: string) =>
  must(
    checks.find((c) => c.id === id && c.device === device),
    'checks.find((c) => c.id === id && c.device === device)',
  );
const host = (id: string, o = {}) => byId(doctor([], t.options(o)).checks, id);
const dev = (bdf: string, id: string, o = {}) => byId(doctor([bdf], t.options(o)).checks, id, bdf);

describe('a ready machine', () => {
  it('passes every check, in order, for a device on vfio-pci', () => {
    const r = doctor([EDU], t.options());
    expect(r.checks.map((c) => [c.id, c.status])).toEqual([
      ['iommu', 'ok'],
      ['cmdline', 'ok'],
      ['modules', 'ok'],
      ['nodes', 'ok'],
      ['backends', 'ok'],
      ['memlock', 'ok'],
      ['hugepages', 'ok'],
      ['device', 'ok'],
      ['group', 'ok'],
      ['driver', 'ok'],
      ['in-use', 'ok'],
      ['access', 'ok'],
    ]);
    expect(r.ready).toBe(true);
    expect(byId(r.checks, 'iommu').detail).toBe('on: dmar0 (ACPI DMAR)');
    expect(byId(r.checks, 'backends').detail).toBe('type1 yes, iommufd no, cdev no, no-IOMMU built, off');
    expect(rootCause(EDU, t.options())).toBeUndefined();
  });
});

describe('IOMMU and command line', () => {
  beforeEach(() => fs.rmSync(t.p('class/iommu'), { recursive: true }));

  it('VT-d in the firmware but not enabled: add intel_iommu=on, where this machine keeps it', () => {
    t.file('proc/cmdline', 'root=/dev/sda1\n', true);
    t.file('etc/default/grub', 'GRUB_CMDLINE_LINUX=""\n', true);
    expect(host('iommu')).toMatchObject({
      status: 'fail',
      detail: 'the firmware describes an IOMMU (ACPI DMAR) but the kernel did not enable it',
    });
    expect(host('iommu').fix).toMatch(
      /^add intel_iommu=on to the kernel command line \(GRUB_CMDLINE_LINUX in \/etc\/default\/grub/,
    );
    expect(host('cmdline')).toMatchObject({
      status: 'fail',
      detail:
        'no IOMMU options: intel_iommu=on is missing (kernels built without CONFIG_INTEL_IOMMU_DEFAULT_ON need it)',
    });
    // The kernel's configuration says it: named when known, and no intel_iommu=on when it is on by default.
    t.file(`boot/config-${RELEASE}`, 'CONFIG_INTEL_IOMMU=y\n# CONFIG_INTEL_IOMMU_DEFAULT_ON is not set\n', true);
    expect(host('cmdline').detail).toBe(
      `no IOMMU options: intel_iommu=on is missing (kernel ${RELEASE} is built without CONFIG_INTEL_IOMMU_DEFAULT_ON)`,
    );
    t.file(`boot/config-${RELEASE}`, 'CONFIG_INTEL_IOMMU=y\nCONFIG_INTEL_IOMMU_DEFAULT_ON=y\n', true);
    expect(host('cmdline').status).toBe('ok');
    expect(host('iommu').fix).toMatch(/^the kernel has intel_iommu on and did not start it: the kernel log/);
  });

  it('turned off on the command line: remove it (no GRUB here: the boot loader in general)', () => {
    t.file('proc/cmdline', 'root=/dev/sda1 intel_iommu=off\n', true);
    expect(host('cmdline')).toMatchObject({
      status: 'fail',
      fix: "remove intel_iommu=off from the kernel command line (in the boot loader's configuration, then reboot)",
    });
  });

  it('no IOMMU at all: the firmware on bare metal, a virtual IOMMU in a VM; the device check names it, not bind', () => {
    fs.rmSync(t.p('firmware/acpi/tables/DMAR'));
    expect(host('iommu')).toMatchObject({
      status: 'fail',
      fix: 'enable the IOMMU (VT-d on Intel, AMD-Vi on AMD) in the firmware setup',
    });
    // The CPU's maker picks the words; intel_iommu=on only where the kernel needs it.
    t.file('proc/cmdline', 'root=/dev/sda1\n', true);
    t.file('proc/cpuinfo', 'vendor_id\t: GenuineIntel\nflags\t\t: fpu vmx\n', true);
    expect(host('iommu').fix).toBe('enable VT-d in the firmware setup, then boot with intel_iommu=on');
    t.file('proc/cpuinfo', 'vendor_id\t: AuthenticAMD\nflags\t\t: fpu svm\n', true);
    expect(host('iommu').fix).toMatch(/^enable the IOMMU \(AMD-Vi/);
    expect(host('cmdline').status).toBe('skip');
    t.file('proc/cpuinfo', 'flags\t\t: fpu hypervisor\n', true);
    expect(host('iommu')).toMatchObject({
      status: 'fail',
      detail: expect.stringMatching(/a virtual machine/),
      fix: expect.stringMatching(
        /-machine q35,kernel-irqchip=split -device intel-iommu,intremap=on\) and boot it with intel_iommu=on, or, knowing the device can then reach all memory, VFIO's no-IOMMU mode: echo Y > \/sys\/module\/vfio\/parameters\/enable_unsafe_noiommu_mode$/,
      ),
    });
    expect(host('iommu').fix).not.toMatch(/firmware/);
    t.addDevice({ bdf: '0000:05:00.0', driver: 'e1000e' });
    expect(dev('0000:05:00.0', 'group')).toMatchObject({
      status: 'fail',
      detail: 'none: the IOMMU is off, so VFIO cannot take the device',
      fix: expect.stringMatching(/intel-iommu/),
    });
    expect(dev('0000:05:00.0', 'driver').status).toBe('skip');
    const cause = rootCause('0000:05:00.0', t.options());
    expect(cause).toMatchObject({ id: 'iommu', status: 'fail' });
  });

  it('no-IOMMU mode enabled: a warning, and group-less devices are not failed', () => {
    fs.rmSync(t.p('firmware/acpi/tables/DMAR'));
    t.file('module/vfio/parameters/enable_unsafe_noiommu_mode', 'Y\n');
    expect(host('iommu').status).toBe('warn');
    expect(host('backends').detail).toMatch(/no-IOMMU enabled/);
  });
});

describe('modules, nodes and backends', () => {
  it('vfio-pci not loaded: modprobe when the kernel has it, else a kernel that does; later checks blocked', () => {
    fs.rmSync(t.p('module/vfio_pci'), { recursive: true });
    fs.rmSync(t.p('bus/pci/drivers/vfio-pci'), { recursive: true });
    expect(host('modules')).toMatchObject({ status: 'fail', detail: 'not loaded: vfio_pci', fix: 'modprobe vfio-pci' });
    expect(host('modules', { invocation: { cli: 'vfio', root: false, sudo: true } }).fix).toBe(
      'sudo modprobe vfio-pci',
    );
    expect(host('nodes')).toMatchObject({
      status: 'skip',
      detail: 'not checked: fix "vfio and vfio-pci modules" first',
    });
    t.file(`modules/${RELEASE}/modules.dep`, 'kernel/drivers/net/igb.ko.xz:\n', true);
    expect(host('modules')).toMatchObject({
      detail: `not loaded: vfio_pci, and kernel ${RELEASE} has no vfio-pci module`,
      fix: expect.stringMatching(/^boot a kernel built with CONFIG_VFIO_PCI/),
    });
    fs.rmSync(t.h('modules'), { recursive: true });
    expect(host('modules').detail).toMatch(/no modules are installed for kernel/);
    expect(host('modules').fix).toMatch(/^install the modules of the running kernel/);
    expect(rootCause(NIC, t.options())).toMatchObject({ id: 'modules' });
  });

  it('built in without parameters: the class and driver directories tell', () => {
    fs.rmSync(t.p('module/vfio'), { recursive: true });
    fs.rmSync(t.p('module/vfio_pci'), { recursive: true });
    fs.rmSync(t.h('dev/vfio/vfio'));
    fs.rmSync(t.p('bus/pci/drivers/vfio-pci'), { recursive: true });
    expect(host('modules')).toMatchObject({ status: 'fail', detail: 'not loaded: vfio, vfio_pci' });
    fs.mkdirSync(t.p('class/vfio'), { recursive: true });
    fs.mkdirSync(t.p('bus/pci/drivers/vfio-pci'), { recursive: true });
    expect(host('modules')).toMatchObject({ status: 'ok', detail: 'loaded' });
  });

  it('no /dev/vfio/vfio nor /dev/iommu', () => {
    fs.rmSync(t.h('dev/vfio/vfio'));
    expect(host('nodes')).toMatchObject({ status: 'fail', fix: expect.stringMatching(/devtmpfs/) });
    expect(host('backends').status).toBe('skip');
  });

  it('the container without vfio_iommu_type1, and iommufd with cdev', () => {
    fs.rmSync(t.p('module/vfio_iommu_type1'), { recursive: true });
    t.file(
      `modules/${'7.3.0-test'}/modules.dep`,
      'kernel/drivers/vfio/vfio_iommu_type1.ko.xz:\nkernel/drivers/vfio/pci/vfio-pci.ko.xz:\n',
      true,
    );
    expect(host('backends')).toMatchObject({ status: 'fail', fix: 'modprobe vfio_iommu_type1' });
    t.file('dev/iommu', '', true);
    fs.mkdirSync(t.p('class/vfio-dev'), { recursive: true });
    expect(host('backends')).toMatchObject({
      status: 'ok',
      detail: 'type1 yes, iommufd yes, cdev yes, no-IOMMU built, off',
    });
  });
});

describe('memlock and huge pages', () => {
  it('8 MiB: ulimit -l when the hard limit allows, limits.d when it does not; CAP_IPC_LOCK lifts it', () => {
    t.limits(8n << 20n, 'unlimited');
    expect(host('memlock')).toMatchObject({
      status: 'fail',
      detail: '8 MiB (hard unlimited); a typical driver pins 64 MiB or more',
      fix: expect.stringMatching(/^ulimit -l 65536 /),
    });
    t.limits(8n << 20n, 8n << 20n);
    expect(host('memlock').fix).toMatch(/memlock unlimited" in \/etc\/security\/limits\.d\/vfio\.conf/);
    t.file('proc/self/status', 'CapEff:\t0000000000004000\n', true);
    expect(host('memlock').status).toBe('ok');
  });

  it('no huge pages reserved: a warning with the sysctl, not a failure', () => {
    t.file('proc/meminfo', 'HugePages_Total:       0\nHugePages_Free:        0\nHugepagesize:       2048 kB\n', true);
    const r = doctor([], t.options());
    expect(byId(r.checks, 'hugepages')).toMatchObject({
      status: 'warn',
      fix: expect.stringMatching(/^sysctl -w vm\.nr_hugepages=64/),
    });
    expect(r.ready).toBe(true);
  });
});

describe('devices', () => {
  it('not there, or a bridge', () => {
    expect(dev('0000:09:00.0', 'device')).toMatchObject({ status: 'fail', detail: 'no PCI device 0000:09:00.0' });
    t.addDevice({ bdf: '0000:00:01.0', class: 0x060400, driver: 'pcieport', group: 5 });
    expect(dev('0000:00:01.0', 'device')).toMatchObject({
      status: 'fail',
      detail: expect.stringMatching(/is a bridge/),
    });
  });

  it('left on its kernel driver: vfio bind, typed as this user types it', () => {
    expect(dev(NIC, 'driver')).toMatchObject({
      status: 'fail',
      detail: 'bound to igb, not a VFIO driver',
      fix: 'vfio bind 0000:02:00.0',
    });
    expect(dev(NIC, 'driver', { invocation: { cli: 'npx vfio', root: false, sudo: true } }).fix).toBe(
      'sudo npx vfio bind 0000:02:00.0',
    );
    expect(dev(NIC, 'access').status).toBe('skip');
    expect(rootCause(NIC, t.options())).toMatchObject({ id: 'driver' });
  });

  it('in use by the host: the fix says to stop that first', () => {
    t.netdev(NIC, 'eth0', 0x1003);
    expect(dev(NIC, 'in-use')).toMatchObject({
      status: 'warn',
      detail: expect.stringMatching(/network interface eth0 is up/),
    });
    expect(dev(NIC, 'driver').fix).toBe(
      'the host uses it (network interface eth0 is up): stop that first, then vfio bind 0000:02:00.0',
    );
  });

  it('a group shared with a device on a host driver, explained by missing ACS', () => {
    t.addDevice({ bdf: '0000:04:00.0', driver: 'vfio-pci', group: 7 });
    t.addDevice({ bdf: '0000:04:00.1', class: 0x040300, driver: 'snd_hda_intel', group: 7 });
    // Config space with an extended capability chain that has AER (0x0001) and no ACS.
    const cfg = Buffer.alloc(4096);
    cfg.writeUInt32LE(0x00010001, 0x100);
    fs.writeFileSync(t.dev('0000:04:00.0', 'config'), cfg);
    const g = dev('0000:04:00.0', 'group');
    expect(g).toMatchObject({
      status: 'fail',
      detail:
        'group 7 also holds 0000:04:00.1 (snd_hda_intel); functions of one device without an ACS capability share its group',
      fix: 'bind the others too: vfio bind 0000:04:00.1',
    });
    cfg.writeUInt32LE(0x0001000d, 0x100);
    fs.writeFileSync(t.dev('0000:04:00.0', 'config'), cfg);
    expect(dev('0000:04:00.0', 'group').detail).toMatch(
      /the device has ACS, so the sharing comes from a port above it without ACS/,
    );
  });

  it('devices behind one bridge', () => {
    t.addDevice({ bdf: '0000:00:1c.0', class: 0x060400, driver: 'pcieport', group: 8 });
    t.addDevice({ bdf: '0000:06:00.0', driver: 'vfio-pci', group: 8, parent: '0000:00:1c.0' });
    t.addDevice({ bdf: '0000:06:01.0', driver: 'vfio-pci', group: 8, parent: '0000:00:1c.0' });
    t.vfioNode(8);
    expect(dev('0000:06:00.0', 'group')).toMatchObject({
      status: 'ok',
      detail: expect.stringMatching(
        /devices behind 0000:00:1c\.0 share a group: 0000:00:1c\.0 \(or a port above it\) lacks ACS isolation/,
      ),
    });
  });

  it('its VFIO files held by another process', () => {
    expect(dev(EDU, 'in-use', { holders: () => [4242] })).toMatchObject({
      status: 'fail',
      detail: 'its VFIO files are open in process 4242',
    });
  });

  it('a user who may not open /dev/vfio/N', () => {
    const who = { uid: 4321, gids: [4321] };
    expect(dev(EDU, 'access', { identity: who, invocation: { cli: 'vfio', root: false, sudo: true } })).toMatchObject({
      status: 'fail',
      detail: 'uid 4321 may not open /dev/vfio/1 read-write',
      fix: expect.stringMatching(/sudo chown \$USER \/dev\/vfio\/1/),
    });
    fs.chmodSync(t.h('dev/vfio/1'), 0o666);
    expect(dev(EDU, 'access', { identity: who }).status).toBe('ok');
  });
});

describe('hostUses', () => {
  it('mounted file systems, swap, stacked devices, interfaces up or routed, the boot VGA', () => {
    t.addDevice({ bdf: '0000:01:00.0', class: 0x010802, driver: 'nvme', group: 9 });
    expect(hostUses('0000:01:00.0', t.options())).toEqual([]);
    t.block('0000:01:00.0', 'nvme0n1', '259:0');
    t.block('0000:01:00.0', 'nvme0n1p2', '259:2');
    t.file(
      'proc/self/mountinfo',
      '22 1 259:2 / /boot rw - ext4 /dev/nvme0n1p2 rw\n30 1 253:0 / /srv\\040data rw - xfs /dev/dm-0 rw\n',
      true,
    );
    t.file('proc/swaps', 'Filename\tType\tSize\tUsed\tPriority\n/dev/nvme0n1p3\tpartition\t1\t0\t-2\n', true);
    t.block('0000:01:00.0', 'nvme0n1p3', '259:3');
    // dm-0 (mounted) is stacked on p1.
    t.block('0000:01:00.0', 'nvme0n1p1', '259:1');
    fs.mkdirSync(t.p('devices/virtual/block/dm-0'), { recursive: true });
    fs.writeFileSync(t.p('devices/virtual/block/dm-0/dev'), '253:0\n');
    fs.symlinkSync(t.p('devices/virtual/block/dm-0'), t.p('class/block/dm-0'));
    fs.mkdirSync(t.dev('0000:01:00.0', 'nvme/nvme0/nvme0n1p1/holders/dm-0'), { recursive: true });
    expect(hostUses('0000:01:00.0', t.options()).sort()).toEqual([
      'block device dm-0 is mounted on /srv data',
      'block device nvme0n1p2 is mounted on /boot',
      'block device nvme0n1p3 is active swap',
    ]);
    t.netdev(NIC, 'eth0', 0x1002);
    expect(hostUses(NIC, t.options())).toEqual([]);
    t.file('proc/net/route', 'Iface\tDestination\tGateway\tFlags\neth0\t0000A8C0\t00000000\t0001\n', true);
    expect(hostUses(NIC, t.options())).toEqual(['network interface eth0 carries a route']);
    t.addDevice({ bdf: '0000:00:10.0', vendor: 0x1af4, device: 0x1009, driver: 'virtio-pci', group: 11 });
    fs.mkdirSync(t.dev('0000:00:10.0', 'virtio3'));
    fs.writeFileSync(t.dev('0000:00:10.0', 'virtio3/mount_tag'), 'vmwork\0');
    t.file('proc/self/mountinfo', '40 1 0:35 / /run/vfio-vm rw - 9p vmwork rw,trans=virtio\n', true);
    expect(hostUses('0000:00:10.0', t.options())).toEqual(['9p share vmwork is mounted on /run/vfio-vm']);
    t.addDevice({ bdf: '0000:00:02.0', class: 0x030000, driver: 'i915', group: 10 });
    fs.writeFileSync(t.dev('0000:00:02.0', 'boot_vga'), '1\n');
    expect(hostUses('0000:00:02.0', t.options())).toEqual(['it is the boot VGA device (the console may be on it)']);
  });
});
