// lspci's device selectors for `vfio list`: -s [[DOMAIN:]BUS:]SLOT[.FUNC] and
// -d [VENDOR]:[DEVICE][:CLASS], hex, where an empty or '*' part matches anything.
import { InvalidArgumentError } from 'commander';
import { parseBdf } from '../../decode/sysfs';

export interface Selector {
  domain?: number;
  bus?: number;
  slot?: number;
  func?: number;
}

export interface IdFilter {
  vendor?: number;
  device?: number;
  /** The class as lspci takes it: base class and subclass, 0xBBSS. */
  class?: number;
}

function part(text: string | undefined, max: number, what: string): number | undefined {
  if (text === undefined || text === '' || text === '*') return undefined;
  if (!/^[0-9a-f]+$/i.test(text) || parseInt(text, 16) > max)
    throw new InvalidArgumentError(`${what} '${text}' is not hex up to 0x${max.toString(16)}`);
  return parseInt(text, 16);
}

/** `-s`: lspci's [[DOMAIN:]BUS:]SLOT[.FUNC]; '00:03', '3.1', '0000:01:', '*:*.1'. */
export function parseSelector(text: string): Selector {
  const [head, func, extra] = text.split('.');
  if (extra !== undefined) throw new InvalidArgumentError('expected [[DOMAIN:]BUS:]SLOT[.FUNC], e.g. 01:00 or 00:03.0');
  const fields = head.split(':');
  if (fields.length > 3) throw new InvalidArgumentError('expected [[DOMAIN:]BUS:]SLOT[.FUNC], e.g. 01:00 or 00:03.0');
  const [slot, bus, domain] = [...fields].reverse();
  return {
    domain: part(domain, 0xffffffff, 'domain'),
    bus: part(bus, 0xff, 'bus'),
    slot: part(slot, 0x1f, 'slot'),
    func: part(func, 7, 'function'),
  };
}

/** `-d`: lspci's [VENDOR]:[DEVICE][:CLASS]; '8086:', ':1533', '1af4:1110:0500'. */
export function parseIdFilter(text: string): IdFilter {
  const fields = text.split(':');
  if (fields.length < 2 || fields.length > 3)
    throw new InvalidArgumentError('expected [VENDOR]:[DEVICE][:CLASS] in hex, e.g. 8086:1533 or 8086:');
  return {
    vendor: part(fields[0], 0xffff, 'vendor'),
    device: part(fields[1], 0xffff, 'device'),
    class: part(fields[2], 0xffff, 'class'),
  };
}

export function matchesSelector(bdf: string, s: Selector): boolean {
  const b = parseBdf(bdf);
  return (
    (s.domain === undefined || s.domain === b.domain) &&
    (s.bus === undefined || s.bus === b.bus) &&
    (s.slot === undefined || s.slot === b.device) &&
    (s.func === undefined || s.func === b.func)
  );
}

export function matchesIds(e: { vendor: number; device: number; class: number }, f: IdFilter): boolean {
  return (
    (f.vendor === undefined || f.vendor === e.vendor) &&
    (f.device === undefined || f.device === e.device) &&
    (f.class === undefined || f.class === e.class >> 8)
  );
}
