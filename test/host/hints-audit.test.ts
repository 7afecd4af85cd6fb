// Every hint names a fix that works on the machine it runs on. The hints of `vfio doctor`, the
// open path, `vfio list` and `vfio bind`, and the library's own fixes, are gathered over fixture
// situations (broken one way each) and three readers (root; a user with sudo through npx; a user
// without sudo), and held to what can be checked mechanically: commands written the way the
// reader starts `vfio` and gets root, no `sudo` where it cannot apply, no `sudo echo … >`, no
// module to load that this kernel lacks, no firmware advice inside a VM, no Intel advice on AMD,
// and kernel versions that agree with the one table below.
import * as fs from 'fs';
import * as path from 'path';
import { Check, doctor } from '../../lib/doctor';
import { chooseBackend } from '../../lib/iommu/backend';
import { Invocation } from '../../lib/system/hints';
import {
  bindHint,
  groupNotViableHint,
  groupOpenHint,
  memlockHint,
  moduleParamCommand,
  nodeAccessHint,
  noIommuGroupHint,
} from '../../lib/system/hints';
import { formatList, gatherList } from '../../lib/cli/commands/list';
import { bind } from '../../lib/cli/commands/bind';
import { writeRule } from '../../lib/cli/commands/bind-persist';
import { colors } from '../../lib/cli/format';
import { HostTree, RELEASE } from './doctor-fixture';
import { must } from '../support/must';

const READERS: Record<string, Invocation> = {
  root: { cli: 'vfio', root: true, sudo: false },
  'npx with sudo': { cli: 'npx vfio', root: false, sudo: true },
  'no sudo': { cli: 'npx vfio', root: false, sudo: false },
};

const EDU = '0000:00:03.0';
const NIC = '0000:02:00.0';
const PEER = '0000:02:00.1';

/** A fixture machine and what makes it a situation. */
interface Situation {
  name: string;
  setup(t: HostTree): void;
  virtual?: boolean;
  amd?: boolean;
}

const noIommu = (t: HostTree) => {
  fs.rmSync(t.p('class/iommu'), { recursive: true });
  fs.rmSync(t.p('firmware/acpi/tables/DMAR'));
  for (const d of ['0000:00:03.0', '0000:02:00.0', '0000:02:00.1'])
    fs.rmSync(t.p(`bus/pci/devices/${d}/iommu_group`), { force: true });
};

const SITUATIONS: Situation[] = [
  { name: 'a ready machine', setup: () => undefined },
  {
    name: 'VT-d not enabled, GRUB',
    setup: (t) => {
      fs.rmSync(t.p('class/iommu'), { recursive: true });
      t.file('proc/cmdline', 'root=/dev/sda1\n', true);
      t.file('etc/default/grub', 'GRUB_CMDLINE_LINUX=""\n', true);
    },
  },
  {
    name: 'VT-d not enabled, the kernel defaults it on',
    setup: (t) => {
      fs.rmSync(t.p('class/iommu'), { recursive: true });
      t.file('proc/cmdline', 'root=/dev/sda1\n', true);
      t.file(`boot/config-${RELEASE}`, 'CONFIG_INTEL_IOMMU=y\nCONFIG_INTEL_IOMMU_DEFAULT_ON=y\n', true);
    },
  },
  {
    name: 'intel_iommu=off',
    setup: (t) => {
      fs.rmSync(t.p('class/iommu'), { recursive: true });
      t.file('proc/cmdline', 'root=/dev/sda1 intel_iommu=off\n', true);
    },
  },
  {
    name: 'no IOMMU, Intel hardware',
    setup: (t) => {
      noIommu(t);
      t.file('proc/cmdline', 'root=/dev/sda1\n', true);
      t.file('proc/cpuinfo', 'vendor_id\t: GenuineIntel\nflags\t\t: fpu vmx\n', true);
    },
  },
  {
    name: 'no IOMMU, AMD hardware',
    amd: true,
    setup: (t) => {
      noIommu(t);
      t.file('proc/cmdline', 'root=/dev/sda1\n', true);
      t.file('proc/cpuinfo', 'vendor_id\t: AuthenticAMD\nflags\t\t: fpu svm\n', true);
    },
  },
  {
    name: 'a VM without a vIOMMU, no-IOMMU mode built',
    virtual: true,
    setup: (t) => {
      noIommu(t);
      t.file('proc/cmdline', 'root=/dev/vda1\n', true);
      t.file('proc/cpuinfo', 'vendor_id\t: GenuineIntel\nflags\t\t: fpu hypervisor\n', true);
    },
  },
  {
    name: 'an AMD VM without a vIOMMU or no-IOMMU mode',
    virtual: true,
    amd: true,
    setup: (t) => {
      noIommu(t);
      fs.rmSync(t.p('module/vfio/parameters'), { recursive: true });
      t.file(`boot/config-${RELEASE}`, 'CONFIG_VFIO=m\n# CONFIG_VFIO_NOIOMMU is not set\n', true);
      t.file('proc/cmdline', 'root=/dev/vda1\n', true);
      t.file('proc/cpuinfo', 'vendor_id\t: AuthenticAMD\nflags\t\t: fpu hypervisor\n', true);
    },
  },
  {
    name: 'vfio-pci not loaded, module available',
    setup: (t) => {
      for (const m of ['vfio', 'vfio_pci', 'vfio_iommu_type1']) fs.rmSync(t.p(`module/${m}`), { recursive: true });
      fs.rmSync(t.p('bus/pci/drivers/vfio-pci'), { recursive: true, force: true });
      fs.rmSync(t.h('dev/vfio/vfio'));
    },
  },
  {
    name: 'vfio-pci not loaded, not in this kernel',
    setup: (t) => {
      for (const m of ['vfio', 'vfio_pci']) fs.rmSync(t.p(`module/${m}`), { recursive: true });
      fs.rmSync(t.p('bus/pci/drivers/vfio-pci'), { recursive: true, force: true });
      fs.rmSync(t.h('dev/vfio/vfio'));
      t.file(`modules/${RELEASE}/modules.dep`, 'kernel/drivers/net/igb.ko.xz:\n', true);
    },
  },
  {
    name: 'no modules installed for the running kernel',
    setup: (t) => {
      for (const m of ['vfio', 'vfio_pci']) fs.rmSync(t.p(`module/${m}`), { recursive: true });
      fs.rmSync(t.p('bus/pci/drivers/vfio-pci'), { recursive: true, force: true });
      fs.rmSync(t.h('dev/vfio/vfio'));
      fs.rmSync(t.h(`modules/${RELEASE}`), { recursive: true });
    },
  },
  {
    name: 'type1 not loaded',
    setup: (t) => {
      fs.rmSync(t.p('module/vfio_iommu_type1'), { recursive: true });
      t.file(
        `modules/${RELEASE}/modules.dep`,
        'kernel/drivers/vfio/pci/vfio-pci.ko.xz:\nkernel/drivers/vfio/vfio_iommu_type1.ko.xz:\n',
        true,
      );
    },
  },
  { name: 'memlock 8 MiB, hard 8 MiB', setup: (t) => t.limits(8n << 20n, 8n << 20n) },
  { name: 'memlock 8 MiB, hard unlimited', setup: (t) => t.limits(8n << 20n, 'unlimited') },
  {
    name: 'no huge pages',
    setup: (t) => t.file('proc/meminfo', 'MemTotal: 1 kB\nHugePages_Total: 0\nHugePages_Free: 0\n', true),
  },
  { name: 'a node the user may not open', setup: (t) => t.vfioNode(1, 0o600) },
  { name: 'the host uses the NIC (interface up)', setup: (t) => t.netdev(NIC, 'eth0', 0x1) },
];

/** Every hint and fix the package gives in this situation for this reader. */
function hintsIn(t: HostTree, inv: Invocation): { fixes: string[]; details: string[] } {
  const identity = inv.root ? { uid: 0, gids: [] } : { uid: 1000, gids: [1000] };
  const o = t.options({ invocation: inv, identity });
  const checks: Check[] = doctor([EDU, NIC, PEER], o).checks;
  const fixes = checks.map((c) => c.fix).filter((f): f is string => !!f);
  const details = checks.map((c) => c.detail);
  const entries = gatherList({ sysfs: t.root, invocation: inv });
  for (const e of entries) if (e.vfio.hint) fixes.push(e.vfio.hint);
  details.push(formatList(entries, colors(false), { invocation: inv }));
  return { fixes, details };
}

/** The library's hints that take a reader, with their arguments filled from the fixture. */
function libraryHints(t: HostTree, inv: Invocation): string[] {
  const out = [
    bindHint(NIC, 'igb', inv),
    bindHint(NIC, undefined, inv),
    groupNotViableHint(3, NIC, { sysfs: t.root }, inv),
    must(groupOpenHint('EACCES', 1, EDU, inv), "groupOpenHint('EACCES', 1, EDU, inv)"),
    must(groupOpenHint('ENOENT', 1, EDU, inv), "groupOpenHint('ENOENT', 1, EDU, inv)"),
    noIommuGroupHint(EDU, inv),
    nodeAccessHint(['/dev/vfio/devices/vfio0', '/dev/iommu'], inv),
    moduleParamCommand(inv, 'vfio_iommu_type1', 'allow_unsafe_interrupts', '1'),
    memlockHint(8n << 20n, 64n << 20n, 8n << 20n),
    memlockHint(8n << 20n, 64n << 20n, undefined),
  ];
  const facts = { iommufd: false, container: false, cdev: undefined, group: undefined, noIommu: false };
  for (const backend of ['auto', 'type1', 'iommufd', 'iommufd-compat'] as const) {
    for (const f of [facts, { ...facts, group: 1 }]) {
      try {
        chooseBackend(EDU, backend, f, false, inv);
      } catch (e) {
        out.push((e as { hint: string }).hint);
      }
    }
  }
  const udevless = path.join(t.host, 'no-udev');
  try {
    writeRule(EDU, 'vfio-pci', udevless, inv);
  } catch (e) {
    out.push((e as { hint: string }).hint);
  }
  try {
    bind(NIC, { uid: inv.root ? 0 : 1000, sysfs: t.root, proc: t.h('proc'), invocation: inv });
  } catch (e) {
    out.push((e as { hint: string }).hint);
  }
  return out;
}

const SUBCOMMANDS = 'bind|unbind|doctor|list|info|peek|poke|features|cookies|nvme';
const ROOT_ONLY = new Set(['bind', 'unbind']);

/** Each `vfio SUB` written in `text`, with what precedes it on the line. */
function vfioCommands(text: string): { prefix: string; npx: boolean; sub: string; at: string }[] {
  const re = new RegExp(`(sudo |as root: )?(npx )?\\bvfio (${SUBCOMMANDS})\\b`, 'g');
  return [...text.matchAll(re)].map((m) => ({ prefix: m[1] ?? '', npx: !!m[2], sub: m[3], at: m[0] }));
}

/** What cannot work for this reader, in one fix: the list of problems (empty: fine). */
function problems(fix: string, inv: Invocation, s: Situation, t: HostTree, asFix: boolean): string[] {
  const out: string[] = [];
  for (const c of vfioCommands(fix)) {
    if (c.npx !== inv.cli.startsWith('npx ')) out.push(`"${c.at}" is not how this reader starts vfio (${inv.cli})`);
    if (asFix && ROOT_ONLY.has(c.sub) && !fix.includes(`bind hands`)) {
      const want = inv.root ? '' : inv.sudo ? 'sudo ' : 'as root: ';
      if (c.prefix !== want) out.push(`"${c.at}" needs "${want}" for this reader`);
    }
  }
  if ((inv.root || !inv.sudo) && /\bsudo\b/.test(fix)) out.push('suggests sudo to a reader who is root or has no sudo');
  if (/sudo [^|;&`]*>/.test(fix)) out.push('sudo with a shell redirection (the redirection is not run as root)');
  const deps = fs.existsSync(t.h(`modules/${RELEASE}/modules.dep`))
    ? fs.readFileSync(t.h(`modules/${RELEASE}/modules.dep`), 'utf8')
    : '';
  if (asFix) {
    for (const m of fix.matchAll(/modprobe ([\w-]+)/g)) {
      const file = m[1].replace(/_/g, '-');
      const alt = m[1].replace(/-/g, '_');
      if (!deps.includes(`/${file}.ko`) && !deps.includes(`/${alt}.ko`))
        out.push(`modprobe ${m[1]}: not in this kernel`);
    }
    if (s.virtual && /firmware/.test(fix)) out.push('firmware advice inside a virtual machine');
    if (s.amd && /intel_iommu=on|intel-iommu|VT-d/.test(fix)) out.push('Intel advice on an AMD machine');
    if (/\/etc\/default\/grub/.test(fix) && !fs.existsSync(t.h('etc/default/grub')))
      out.push('names a missing /etc/default/grub');
    if (
      /enable_unsafe_noiommu_mode/.test(fix) &&
      /\/sys\/module\/vfio\/parameters/.test(fix) &&
      !fs.existsSync(t.p('module/vfio/parameters/enable_unsafe_noiommu_mode'))
    )
      out.push('sets a no-IOMMU parameter this kernel does not have');
  }
  return out;
}

describe.each(Object.entries(READERS))('hints for a reader who is %s', (_who, inv) => {
  it.each(SITUATIONS.map((s) => [s.name, s] as const))('%s', (_name, s) => {
    const t = new HostTree([
      { bdf: EDU, vendor: 0x1234, device: 0x11e8, driver: 'vfio-pci', override: 'vfio-pci', group: 1 },
      { bdf: NIC, vendor: 0x8086, device: 0x1533, class: 0x020000, driver: 'igb', group: 3 },
      { bdf: PEER, vendor: 0x8086, device: 0x1533, class: 0x020000, driver: 'igb', group: 3 },
    ]);
    try {
      s.setup(t);
      const { fixes, details } = hintsIn(t, inv);
      const lib = libraryHints(t, inv);
      expect(fixes.length + lib.length).toBeGreaterThan(10);
      const found = [
        ...fixes.flatMap((f) => problems(f, inv, s, t, true).map((p) => `${p}: ${f}`)),
        ...lib.flatMap((f) => problems(f, inv, s, t, false).map((p) => `${p}: ${f}`)),
        ...details.flatMap((d) => problems(d, inv, s, t, false).map((p) => `${p}: ${d}`)),
      ];
      expect(found).toEqual([]);
    } finally {
      t.remove();
    }
  });
});

describe('the audit can fail', () => {
  const inv = READERS['npx with sudo'];
  const s: Situation = { name: 'x', setup: () => undefined, virtual: true, amd: true };
  it.each([
    ['sudo vfio bind 0000:02:00.0', 'is not how this reader starts vfio'],
    ['npx vfio bind 0000:02:00.0', 'needs "sudo " for this reader'],
    ['sudo echo 1 > /sys/module/vfio/parameters/x', 'sudo with a shell redirection'],
    ['sudo modprobe vfio_nonexistent', 'not in this kernel'],
    ['enable VT-d in the firmware setup', 'firmware advice inside a virtual machine'],
    ['add intel_iommu=on', 'Intel advice on an AMD machine'],
  ])('flags %j', (fix, problem) => {
    const t = new HostTree([]);
    try {
      expect(problems(fix, inv, s, t, true).join('\n')).toContain(problem);
    } finally {
      t.remove();
    }
  });
});

/**
 * Kernel facts the hints state, one place: the release that brought each. A hint naming a
 * release must name one of these, next to the feature it brought.
 */
const KERNEL_FACTS: { feature: RegExp; release: string }[] = [
  { feature: /dma-buf|DMA_BUF|dmabuf/i, release: '6.19' },
  { feature: /IOMMU_IOAS_MAP_FILE/, release: '6.13' },
  { feature: /low power|LOW_POWER/i, release: '6.0' },
  { feature: /IOVA_RANGE/, release: '5.4' },
  // The uAPI headers the ABI constants are generated from (lib/abi), not a feature's release.
  { feature: /uAPI constants|generated from/, release: '7.3' },
  { feature: /DMA_AVAIL|dma_entry_limit|mapping limit/i, release: '5.10' },
];

describe('kernel releases named in lib/ agree with the table', () => {
  const files: string[] = [];
  const walk = (dir: string) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory() && e.name !== 'vm') walk(p);
      else if (e.name.endsWith('.ts')) files.push(p);
    }
  };
  walk(path.resolve(__dirname, '../../lib'));

  it('every "Linux X.Y", "X.Y+" and "before X.Y" names a release of the table for its feature', () => {
    const wrong: string[] = [];
    let seen = 0;
    for (const f of files) {
      const lines = fs.readFileSync(f, 'utf8').split('\n');
      for (const [i, line] of lines.entries()) {
        // The feature may be named on the line before (a wrapped comment or string).
        const context = `${lines[i - 1] ?? ''} ${line}`;
        for (const m of line.matchAll(/(?:Linux |before |since Linux )(\d+\.\d+)|\b(\d+\.\d+)\+/g)) {
          const release = m[1] ?? m[2];
          seen++;
          const fact = KERNEL_FACTS.filter((k) => k.feature.test(context));
          if (!fact.some((k) => k.release === release))
            wrong.push(`${path.relative(process.cwd(), f)}: ${release} in: ${line.trim()}`);
        }
      }
    }
    expect(seen).toBeGreaterThan(4);
    expect(wrong).toEqual([]);
  });
});
