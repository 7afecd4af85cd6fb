// A throw-away sysfs tree for CLI tests: PCI devices with ids, a driver link, an IOMMU group
// link and a driver_override file, the drivers' bind/unbind files and drivers_probe, laid out
// the way /sys lays them out (so lib/system/sysfs.ts reads it unchanged).
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

export interface FixtureDevice {
  bdf: string;
  vendor?: number;
  device?: number;
  class?: number;
  driver?: string;
  group?: number;
  override?: string;
  /** The bridge the device sits behind (its directory's parent); default: the root bus. */
  parent?: string;
}

export class SysfsTree {
  readonly root: string;

  constructor(devices: FixtureDevice[], drivers: string[] = ['vfio-pci']) {
    this.root = fs.mkdtempSync(path.join(os.tmpdir(), 'vfio-cli-sysfs-'));
    fs.mkdirSync(this.p('bus/pci/devices'), { recursive: true });
    fs.writeFileSync(this.p('bus/pci/drivers_probe'), '');
    const all = new Set([...drivers, ...devices.flatMap((d) => (d.driver ? [d.driver] : []))]);
    for (const drv of all) this.addDriver(drv);
    for (const d of devices) this.addDevice(d);
  }

  p(rel: string): string {
    return path.join(this.root, rel);
  }

  addDriver(name: string): void {
    const dir = this.p(`bus/pci/drivers/${name}`);
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, 'bind'), '');
    fs.writeFileSync(path.join(dir, 'unbind'), '');
  }

  addDevice(d: FixtureDevice): void {
    // As in real sysfs: the device's directory under devices/, linked from bus/pci/devices.
    const dir = this.deviceDir(d.bdf, d.parent);
    fs.mkdirSync(dir, { recursive: true });
    fs.symlinkSync(path.relative(this.p('bus/pci/devices'), dir), this.p(`bus/pci/devices/${d.bdf}`));
    const hex = (n: number, w: number) => `0x${n.toString(16).padStart(w, '0')}\n`;
    fs.writeFileSync(path.join(dir, 'vendor'), hex(d.vendor ?? 0x1234, 4));
    fs.writeFileSync(path.join(dir, 'device'), hex(d.device ?? 0x11e8, 4));
    fs.writeFileSync(path.join(dir, 'class'), hex(d.class ?? 0x00ff00, 6));
    fs.writeFileSync(path.join(dir, 'driver_override'), `${d.override ?? '(null)'}\n`);
    if (d.driver && !fs.existsSync(this.p(`bus/pci/drivers/${d.driver}`))) this.addDriver(d.driver);
    if (d.driver) fs.symlinkSync(path.relative(dir, this.p(`bus/pci/drivers/${d.driver}`)), path.join(dir, 'driver'));
    if (d.group !== undefined) {
      const g = this.p(`kernel/iommu_groups/${d.group}/devices`);
      fs.mkdirSync(g, { recursive: true });
      fs.symlinkSync(path.relative(g, dir), path.join(g, d.bdf));
      fs.symlinkSync(path.relative(dir, this.p(`kernel/iommu_groups/${d.group}`)), path.join(dir, 'iommu_group'));
    }
  }

  /** The real directory of a device: devices/pci0000:00/[PARENT/]BDF. */
  deviceDir(bdf: string, parent?: string): string {
    if (parent === undefined) return this.p(`devices/pci0000:00/${bdf}`);
    return path.join(fs.realpathSync(this.p(`bus/pci/devices/${parent}`)), bdf);
  }

  /** The device's real directory plus `rel`. */
  dev(bdf: string, rel = ''): string {
    return path.join(fs.realpathSync(this.p(`bus/pci/devices/${bdf}`)), rel);
  }

  read(rel: string): string {
    return fs.readFileSync(this.p(rel), 'utf8');
  }

  remove(): void {
    fs.rmSync(this.root, { recursive: true, force: true });
  }
}
