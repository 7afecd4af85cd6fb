// What the NVMe driver tests know about their controller, read from the harness: the test
// controller's device and drive specs (VFIO_TEST_NVME, VFIO_TEST_NVME_DRIVE, set by
// scripts/test/configs.js) and its image file, or else the default nvme's QEMU arguments
// (lib/vm/qemu/devices.ts). And the way to hand a controller to the kernel's nvme driver and back.
import * as fs from 'fs';
import * as path from 'path';
import { defaultDevices } from '../../lib/vm/qemu/devices';
import { guestEnv } from './env';
import { sleep } from '../support/time';
import { must } from '../support/must';

export interface TestNvme {
  bdf: string;
  /** serial= as QEMU was told. */
  serial: string;
  /** logical_block_size=, when QEMU was told one. */
  blockSize?: number;
  /** The image's size in bytes, when the image is readable here. */
  imageBytes?: number;
  /** The drive passes a deallocate on to the image (discard=unmap): deallocated blocks read as zeroes. */
  discard: boolean;
  /** Whether this is the controller made for these tests (writable image, kernel driver loaded). */
  dedicated: boolean;
}

/** "a=1,b=x" → Map (QEMU escapes ',' as ',,'). */
export function specProps(spec: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const p of spec.split(/(?<!,),(?!,)/)) {
    const eq = p.indexOf('=');
    out.set(eq < 0 ? p : p.slice(0, eq), eq < 0 ? '' : p.slice(eq + 1).replace(/,,/g, ','));
  }
  return out;
}

function sizeOf(s: string | undefined): number | undefined {
  if (s === undefined) return undefined;
  const m = /^(\d+)([kKmM]?)$/.exec(s);
  if (!m) throw new Error(`cannot read size ${s}`);
  return Number(m[1]) * (m[2] === '' ? 1 : /k/i.test(m[2]) ? 1024 : 1 << 20);
}

export function testNvme(): TestNvme {
  const spec = process.env.VFIO_TEST_NVME;
  if (spec) {
    const dev = specProps(spec);
    const drive = specProps(process.env.VFIO_TEST_NVME_DRIVE ?? '');
    const addr = must(dev.get('addr'), "dev.get('addr')").replace(/^0x/, '');
    const [slot, fn = '0'] = addr.split('.');
    const file = drive.get('file');
    return {
      bdf: `0000:00:${parseInt(slot, 16).toString(16).padStart(2, '0')}.${fn}`,
      serial: must(dev.get('serial'), "dev.get('serial')"),
      blockSize: sizeOf(dev.get('logical_block_size')),
      imageBytes: file && fs.existsSync(file) ? fs.statSync(file).size : undefined,
      discard: drive.get('discard') === 'unmap' || drive.get('discard') === 'on',
      dedicated: true,
    };
  }
  const def = must(
    defaultDevices.find((d) => d.name === 'nvme'),
    "defaultDevices.find((d) => d.name === 'nvme')",
  );
  const args = def.qemuArgs({ ivshmemFile: '', nvmeImage: '' });
  const nvmeSpec = args[args.findIndex((a, i) => i > 0 && args[i - 1] === '-device' && a.startsWith('nvme,'))];
  return {
    bdf: guestEnv().nvme,
    serial: must(specProps(nvmeSpec).get('serial'), "specProps(nvmeSpec).get('serial')"),
    discard: false,
    dedicated: false,
  };
}

const pciDev = (bdf: string) => `/sys/bus/pci/devices/${bdf}`;

export function boundDriver(bdf: string): string | undefined {
  const link = `${pciDev(bdf)}/driver`;
  return fs.existsSync(link) ? path.basename(fs.readlinkSync(link)) : undefined;
}

/** Hands the device to `driver` (driver_override, unbind, probe), as the harness's init does. */
export function bindTo(bdf: string, driver: string): void {
  fs.writeFileSync(`${pciDev(bdf)}/driver_override`, driver);
  if (boundDriver(bdf) !== undefined) fs.writeFileSync(`${pciDev(bdf)}/driver/unbind`, bdf);
  fs.writeFileSync('/sys/bus/pci/drivers_probe', bdf);
  const now = boundDriver(bdf);
  if (now !== driver) throw new Error(`${bdf}: bound to ${now ?? 'nothing'} instead of ${driver}`);
}

export interface KernelNvme {
  /** The controller's name (nvme0) and its first namespace's block device (/dev/nvme0n1). */
  ctrl: string;
  disk: string;
  /** sysfs attributes of the controller: serial, model, firmware_rev (trimmed). */
  attr(name: string): string;
  /** The disk's size in bytes and its logical block size. */
  bytes: number;
  logicalBlockSize: number;
}

/** Waits for the kernel's nvme driver to have set the controller up and scanned namespace 1. */
export async function kernelNvme(bdf: string, timeoutMs = 60000): Promise<KernelNvme> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const dir = `${pciDev(bdf)}/nvme`;
    const ctrl = fs.existsSync(dir) ? fs.readdirSync(dir).find((n) => /^nvme\d+$/.test(n)) : undefined;
    if (ctrl) {
      const cdir = `/sys/class/nvme/${ctrl}`;
      const ns = fs.readdirSync(cdir).find((n) => /^nvme\d+c?\d*n1$/.test(n));
      const disk = ns && `/dev/${ns.replace(/c\d+/, '')}`;
      if (disk && fs.existsSync(disk)) {
        const block = `/sys/block/${path.basename(disk)}`;
        return {
          ctrl,
          disk,
          attr: (name) => fs.readFileSync(`${cdir}/${name}`, 'utf8').trim(),
          bytes: Number(fs.readFileSync(`${block}/size`, 'utf8')) * 512,
          logicalBlockSize: Number(fs.readFileSync(`${block}/queue/logical_block_size`, 'utf8')),
        };
      }
    }
    if (Date.now() > end) throw new Error(`the kernel's nvme driver did not bring ${bdf} up within ${timeoutMs} ms`);
    await sleep(100);
  }
}
