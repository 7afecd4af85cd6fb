// Back ends for the guest's devices: disk images (-drive) and network back ends (-netdev) that a
// --device names (`nvme,drive=d1`, `e1000,netdev=n1`), and a general pass-through of QEMU
// arguments for anything else. Only the checks that give a clearer message than QEMU's are done.
import * as fs from 'fs';
import * as path from 'path';
import { VmError } from '../core/errors';

/** QEMU backends (drives, netdevs) and raw arguments a run adds for its extra devices. */
export interface BackendOptions {
  /** QEMU -drive specs; `if=none` is added unless given, so a --device can name the drive by id. */
  drives?: string[];
  /** QEMU -netdev specs (e.g. "user,id=n1"). */
  netdevs?: string[];
  /** Further QEMU arguments, appended as they are (after the devices). */
  qemuArgs?: string[];
}

/** "a=1,b=x,,y" → [['a','1'], ['b','x,y']] (QEMU escapes a comma in a value as ',,'). */
function props(spec: string): [string, string][] {
  return spec.split(/(?<!,),(?!,)/).map((p) => {
    const eq = p.indexOf('=');
    return (eq < 0 ? [p, ''] : [p.slice(0, eq), p.slice(eq + 1).replace(/,,/g, ',')]) as [string, string];
  });
}

function drive(spec: string, cwd: string): string[] {
  const ps = props(spec);
  const get = (k: string) => ps.find(([key]) => key === k)?.[1];
  if (!get('id')) throw new VmError('options', `--drive "${spec}": give it an id= for a --device to name (e.g. --device nvme,drive=d1,serial=x --drive file=disk.img,id=d1,format=raw)`);
  const file = get('file');
  let out = spec;
  if (file !== undefined && !file.includes(':')) {
    const abs = path.resolve(cwd, file);
    if (!fs.existsSync(abs)) throw new VmError('options', `--drive "${spec}": ${abs} does not exist`);
    // QEMU runs elsewhere than the caller's directory: make the image path absolute.
    out = spec.split(/(?<!,),(?!,)/).map((raw) => (raw.startsWith('file=') ? `file=${abs.replace(/,/g, ',,')}` : raw)).join(',');
  }
  if (!get('if')) out += ',if=none';
  return ['-drive', out];
}

function netdev(spec: string): string[] {
  if (!props(spec).some(([k, v]) => k === 'id' && v)) throw new VmError('options', `--netdev "${spec}": give it an id= for a --device to name (e.g. --device e1000,netdev=n1 --netdev user,id=n1)`);
  return ['-netdev', spec];
}

/** The QEMU arguments of the back ends, in the order drives, netdevs, pass-through. */
export function backendArgs(o: BackendOptions, cwd = process.cwd()): string[] {
  return [...(o.drives ?? []).flatMap((d) => drive(d, cwd)), ...(o.netdevs ?? []).flatMap(netdev), ...(o.qemuArgs ?? [])];
}
