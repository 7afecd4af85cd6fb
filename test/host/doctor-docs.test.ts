// docs/cli.md shows `vfio doctor`'s output for each failure it diagnoses. Those blocks are this
// file's output: each example below sets up a fixture machine broken one way, runs the checks,
// and prints the rows the docs show; the test fails when a block in the docs differs (and writes
// the file as it should read to the temporary directory, named in the failure).
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Check, DoctorOptions, doctor } from '../../lib/doctor';
import { formatDoctor } from '../../lib/cli/commands/doctor';
import { colors } from '../../lib/cli/format';
import { HostTree, RELEASE } from './doctor-fixture';

const EDU = '0000:00:03.0';
const NIC = '0000:02:00.0';
const AUDIO = '0000:04:00.0';
const AUDIO_FN1 = '0000:04:00.1';
const BRIDGE = '0000:00:1c.0';
const DOCS = path.resolve(__dirname, '../../docs/cli.md');

interface Example {
  /** The marker in docs/cli.md: `<!-- doctor example: NAME -->` before the block. */
  name: string;
  setup?(t: HostTree): void;
  bdfs?: string[];
  /** The checks shown: id, or id@BDF for a device's. */
  show: string[];
  options?: Partial<DoctorOptions>;
}

const noIommu = (t: HostTree) => {
  fs.rmSync(t.p('class/iommu'), { recursive: true });
  fs.rmSync(t.p('firmware/acpi/tables/DMAR'));
};

const EXAMPLES: Example[] = [
  {
    name: 'no-iommu-bare-metal',
    setup: (t) => {
      noIommu(t);
      t.file('proc/cmdline', 'root=/dev/sda1\n', true);
      t.file('proc/cpuinfo', 'vendor_id\t: GenuineIntel\nflags\t\t: fpu vmx\n', true);
    },
    show: ['iommu'],
  },
  {
    name: 'no-iommu-vm',
    setup: (t) => {
      noIommu(t);
      t.file('proc/cmdline', 'root=/dev/vda1\n', true);
      t.file('proc/cpuinfo', 'vendor_id\t: GenuineIntel\nflags\t\t: fpu hypervisor\n', true);
    },
    show: ['iommu'],
  },
  {
    name: 'vtd-not-enabled',
    setup: (t) => {
      fs.rmSync(t.p('class/iommu'), { recursive: true });
      t.file('proc/cmdline', 'root=/dev/sda1\n', true);
      t.file('etc/default/grub', 'GRUB_CMDLINE_LINUX=""\n', true);
      t.file(`boot/config-${RELEASE}`, 'CONFIG_INTEL_IOMMU=y\n# CONFIG_INTEL_IOMMU_DEFAULT_ON is not set\n', true);
    },
    show: ['iommu', 'cmdline'],
  },
  {
    name: 'iommu-off',
    setup: (t) => {
      fs.rmSync(t.p('class/iommu'), { recursive: true });
      t.file('proc/cmdline', 'root=/dev/sda1 intel_iommu=off\n', true);
    },
    show: ['cmdline'],
  },
  {
    name: 'modules-not-loaded',
    setup: (t) => {
      for (const m of ['vfio', 'vfio_pci']) fs.rmSync(t.p(`module/${m}`), { recursive: true });
      fs.rmSync(t.p('bus/pci/drivers/vfio-pci'), { recursive: true, force: true });
      fs.rmSync(t.h('dev/vfio/vfio'));
    },
    show: ['modules', 'nodes'],
  },
  {
    name: 'modules-not-in-kernel',
    setup: (t) => {
      for (const m of ['vfio', 'vfio_pci']) fs.rmSync(t.p(`module/${m}`), { recursive: true });
      fs.rmSync(t.p('bus/pci/drivers/vfio-pci'), { recursive: true, force: true });
      fs.rmSync(t.h('dev/vfio/vfio'));
      t.file(`modules/${RELEASE}/modules.dep`, 'kernel/drivers/net/igb.ko.xz:\n', true);
    },
    show: ['modules'],
  },
  { name: 'no-nodes', setup: (t) => fs.rmSync(t.h('dev/vfio/vfio')), show: ['nodes'] },
  {
    name: 'no-backend',
    setup: (t) => {
      fs.rmSync(t.p('module/vfio_iommu_type1'), { recursive: true });
      t.file(
        `modules/${RELEASE}/modules.dep`,
        'kernel/drivers/vfio/pci/vfio-pci.ko.xz:\nkernel/drivers/vfio/vfio_iommu_type1.ko.xz:\n',
        true,
      );
    },
    show: ['backends'],
  },
  { name: 'memlock-hard', setup: (t) => t.limits(8n << 20n, 8n << 20n), show: ['memlock'] },
  { name: 'memlock-soft', setup: (t) => t.limits(8n << 20n, 'unlimited'), show: ['memlock'] },
  {
    name: 'no-hugepages',
    setup: (t) => t.file('proc/meminfo', 'MemTotal: 1 kB\nHugePages_Total: 0\nHugePages_Free: 0\n', true),
    show: ['hugepages'],
  },
  { name: 'no-device', bdfs: ['0000:09:00.0'], show: ['device@0000:09:00.0'] },
  { name: 'bridge', bdfs: [BRIDGE], show: [`device@${BRIDGE}`] },
  {
    name: 'no-group',
    setup: (t) => {
      noIommu(t);
      t.file('proc/cmdline', 'root=/dev/sda1\n', true);
      t.file('proc/cpuinfo', 'vendor_id\t: GenuineIntel\nflags\t\t: fpu vmx\n', true);
      t.addDevice({ bdf: '0000:05:00.0', driver: 'e1000e' });
    },
    bdfs: ['0000:05:00.0'],
    show: ['group@0000:05:00.0', 'driver@0000:05:00.0'],
  },
  { name: 'shared-group', bdfs: [AUDIO], show: [`group@${AUDIO}`] },
  { name: 'kernel-driver', bdfs: [NIC], show: [`driver@${NIC}`] },
  {
    name: 'host-uses-it',
    setup: (t) => t.netdev(NIC, 'enp2s0', 0x1),
    bdfs: [NIC],
    show: [`driver@${NIC}`, `in-use@${NIC}`],
  },
  { name: 'held', bdfs: [EDU], options: { holders: () => [4242] }, show: [`in-use@${EDU}`] },
  {
    name: 'permissions',
    bdfs: [EDU],
    options: { identity: { uid: 1000, gids: [1000] } },
    show: [`access@${EDU}`],
  },
];

function machine(): HostTree {
  const t = new HostTree([
    { bdf: EDU, vendor: 0x1234, device: 0x11e8, driver: 'vfio-pci', override: 'vfio-pci', group: 1 },
    { bdf: NIC, vendor: 0x8086, device: 0x1533, class: 0x020000, driver: 'igb', group: 3 },
    { bdf: AUDIO, vendor: 0x10de, device: 0x10f0, class: 0x030000, driver: 'vfio-pci', group: 7 },
    { bdf: AUDIO_FN1, vendor: 0x10de, device: 0x10f1, class: 0x040300, driver: 'snd_hda_intel', group: 7 },
    { bdf: BRIDGE, vendor: 0x8086, device: 0x1901, class: 0x060400, driver: 'pcieport', group: 8 },
  ]);
  t.limits('unlimited', 'unlimited');
  return t;
}

/** The rows of `vfio doctor` for one example, as the docs show them (no section heads). */
function render(e: Example): string {
  const t = machine();
  try {
    e.setup?.(t);
    const o = t.options({ invocation: { cli: 'vfio', root: false, sudo: true }, ...e.options });
    const all = doctor(e.bdfs ?? [], o).checks;
    const pick = (s: string): Check => {
      const [id, device] = s.split('@');
      const c = all.find((x) => x.id === id && x.device === device);
      if (!c) throw new Error(`example ${e.name}: no check ${s}`);
      return c;
    };
    // Device rows under the host's column widths would differ: each kind is formatted alone.
    const text = formatDoctor({ ready: false, checks: e.show.map(pick) }, colors(false));
    return text
      .split('\n')
      .filter((l) => /^ {2}\S/.test(l) || /^ {3,}fix:/.test(l))
      .filter((l) => !/^ {2}STATUS {2}/.test(l))
      .join('\n');
  } finally {
    t.remove();
  }
}

/** docs/cli.md with every example block replaced by its rendering. */
function regenerate(doc: string): { text: string; missing: string[] } {
  const missing: string[] = [];
  let text = doc;
  for (const e of EXAMPLES) {
    // The block's body (absent when empty) is every line up to the closing fence.
    const re = new RegExp(`(<!-- doctor example: ${e.name} -->\\n\`\`\`\\n)(?:(?!\`\`\`)[^\\n]*\\n)*(\`\`\`)`);
    if (!re.test(text)) missing.push(e.name);
    else text = text.replace(re, (_m, open: string, close: string) => `${open}${render(e)}\n${close}`);
  }
  return { text, missing };
}

describe('docs/cli.md: vfio doctor, each failure and its fix', () => {
  it('every example is in the docs, exactly as the checks print it', () => {
    const doc = fs.readFileSync(DOCS, 'utf8');
    const { text, missing } = regenerate(doc);
    expect(missing).toEqual([]);
    if (text !== doc) {
      const out = path.join(os.tmpdir(), 'cli.md.expected');
      fs.writeFileSync(out, text);
      throw new Error(
        `docs/cli.md's doctor examples differ from the checks' output: the file as it should read is ${out}`,
      );
    }
  });

  it('each example shows a failure or a warning with its fix', () => {
    for (const e of EXAMPLES) {
      const rows = render(e);
      expect(rows).toMatch(/^ {2}(FAIL|warn) /m);
      if (!/^ {2}warn {4}in use/m.test(rows)) expect(rows).toMatch(/fix: /);
    }
  });
});
