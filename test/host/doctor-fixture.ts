// A whole host for `vfio doctor` tests: a fixture sysfs (cli-fixture.ts) plus procfs, /dev, /etc
// and a modules tree, set up as a machine that is ready for VFIO; each test breaks one thing.
import * as fs from 'fs';
import * as path from 'path';
import { DoctorOptions } from '../../lib/doctor';
import { FixtureDevice, SysfsTree } from './cli-fixture';

export const RELEASE = '7.3.0-test';

export class HostTree extends SysfsTree {
  constructor(devices: FixtureDevice[]) {
    super(devices);
    for (const [rel, text] of Object.entries({
      'firmware/acpi/tables/DMAR': 'DMAR',
      'module/vfio/parameters/enable_unsafe_noiommu_mode': 'N\n',
      'module/vfio_pci/parameters/ids': '\n',
      'module/vfio_iommu_type1/parameters/allow_unsafe_interrupts': 'N\n',
    }))
      this.file(rel, text);
    fs.mkdirSync(this.p('class/iommu/dmar0'), { recursive: true });
    this.file('proc/cmdline', 'BOOT_IMAGE=/vmlinuz root=/dev/sda1 intel_iommu=on iommu=pt\n', true);
    this.file('proc/cpuinfo', 'processor\t: 0\nflags\t\t: fpu vme de pse\n', true);
    this.file('proc/sys/kernel/osrelease', `${RELEASE}\n`, true);
    this.file('proc/sys/vm/nr_hugepages', '0\n', true);
    this.file(
      'proc/meminfo',
      'MemTotal: 16000000 kB\nHugePages_Total:      64\nHugePages_Free:       64\nHugepagesize:       2048 kB\n',
      true,
    );
    this.limits(8n << 20n, 8n << 20n);
    this.file('proc/self/status', 'Name:\tnode\nCapEff:\t0000000000000000\n', true);
    this.file('proc/self/mountinfo', '22 1 8:1 / / rw,relatime - ext4 /dev/sda1 rw\n', true);
    this.file('proc/swaps', 'Filename\tType\tSize\tUsed\tPriority\n', true);
    this.file('proc/net/route', 'Iface\tDestination\tGateway\tFlags\n', true);
    this.file('proc/net/ipv6_route', '', true);
    this.file('dev/vfio/vfio', '', true);
    fs.chmodSync(this.h('dev/vfio/vfio'), 0o666);
    this.file(
      `modules/${RELEASE}/modules.dep`,
      'kernel/drivers/vfio/pci/vfio-pci.ko.xz: kernel/drivers/vfio/vfio.ko.xz\n',
      true,
    );
    for (const d of devices) if (d.driver === 'vfio-pci' && d.group !== undefined) this.vfioNode(d.group);
  }

  /** Writes a file under the sysfs root, or (other) under the fixture's root. */
  file(rel: string, text: string, other = false): void {
    const f = other ? this.h(rel) : this.p(rel);
    fs.mkdirSync(path.dirname(f), { recursive: true });
    fs.writeFileSync(f, text);
  }

  /** Root of the non-sysfs trees (proc/, dev/, etc/, modules/), beside the sysfs root. */
  get host(): string {
    return path.join(this.root, '..', path.basename(this.root) + '-host');
  }

  h(rel: string): string {
    return path.join(this.host, rel);
  }

  limits(soft: bigint | 'unlimited', hard: bigint | 'unlimited'): void {
    this.file(
      'proc/self/limits',
      `Limit                     Soft Limit           Hard Limit           Units\nMax locked memory         ${soft}              ${hard}              bytes\n`,
      true,
    );
  }

  vfioNode(group: number, mode = 0o600): void {
    this.file(`dev/vfio/${group}`, '', true);
    fs.chmodSync(this.h(`dev/vfio/${group}`), mode);
  }

  options(o: Partial<DoctorOptions> = {}): DoctorOptions {
    return {
      sysfs: this.root,
      proc: this.h('proc'),
      dev: this.h('dev'),
      etc: this.h('etc'),
      modules: this.h('modules'),
      boot: this.h('boot'),
      invocation: { cli: 'vfio', root: true, sudo: false },
      identity: { uid: 0, gids: [] },
      holders: () => [],
      ...o,
    };
  }

  /** A block device under the PCI device (major:minor `dev`), with optional partition. */
  block(bdf: string, name: string, dev: string): void {
    const dir = this.dev(bdf, `nvme/nvme0/${name}`);
    fs.mkdirSync(path.join(dir, 'holders'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'dev'), `${dev}\n`);
    fs.mkdirSync(this.p('class/block'), { recursive: true });
    fs.symlinkSync(dir, this.p(`class/block/${name}`));
  }

  /** A network interface under the PCI device, with its IFF flags. */
  netdev(bdf: string, name: string, flags: number): void {
    const dir = this.dev(bdf, `net/${name}`);
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, 'flags'), `0x${flags.toString(16)}\n`);
    fs.mkdirSync(this.p('class/net'), { recursive: true });
    fs.symlinkSync(dir, this.p(`class/net/${name}`));
  }

  override remove(): void {
    super.remove();
    fs.rmSync(this.host, { recursive: true, force: true });
  }
}
