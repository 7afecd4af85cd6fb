// Argument parsers for the subcommands. Each throws commander's InvalidArgumentError, so a bad
// argument is reported like any other usage error: the message, the usage line, exit status 2.
import { InvalidArgumentError } from 'commander';
import { VFIO_PCI_BAR0_REGION_INDEX, VFIO_PCI_CONFIG_REGION_INDEX, VFIO_PCI_ROM_REGION_INDEX } from '../abi';
import { normalizeBdf } from '../decode/sysfs';
import { isDriverName } from './commands/bind-paths';

/** A usage error found after parsing (e.g. a value too wide for the width): exit status 2. */
export class UsageError extends Error {}

export function parseBdfArg(text: string): string {
  try {
    return normalizeBdf(text);
  } catch {
    throw new InvalidArgumentError('expected a PCI address like 0000:00:03.0 or 00:03.0 (see `vfio list`)');
  }
}

/** A driver name for --driver: letters, digits, _ and - (it becomes a sysfs path and a modprobe argument). */
export function parseDriverArg(text: string): string {
  if (!isDriverName(text))
    throw new InvalidArgumentError('expected a driver name: letters, digits, _ and -, e.g. vfio-pci');
  return text;
}

/** '2', 'bar2', 'BAR2' → 2; 'rom' → ROM, 'config' → CONFIG; 'region9' → 9 (device-specific regions). */
export function parseRegionArg(text: string): number {
  const t = text.trim().toLowerCase();
  let m = /^(?:bar)?([0-5])$/.exec(t);
  if (m) return VFIO_PCI_BAR0_REGION_INDEX + Number(m[1]);
  if (t === 'rom') return VFIO_PCI_ROM_REGION_INDEX;
  if (t === 'config' || t === 'cfg') return VFIO_PCI_CONFIG_REGION_INDEX;
  m = /^region(\d{1,3})$/.exec(t);
  if (m) return Number(m[1]);
  throw new InvalidArgumentError('expected a BAR number 0-5 (or bar0-bar5), rom, config, or regionN');
}

const NUMBER_RE = /^(?:0x[0-9a-f]+|\d+)$/i;

/** A non-negative integer, hex with 0x or decimal, of any size (offsets and values are 64-bit). */
export function parseUnsigned(text: string, what: string): bigint {
  const t = text.trim().replace(/_/g, '');
  if (!NUMBER_RE.test(t)) throw new InvalidArgumentError(`expected ${what} as a number (0x… for hex)`);
  const v = BigInt(t);
  if (v >= 1n << 64n) throw new InvalidArgumentError(`${what} does not fit in 64 bits`);
  return v;
}

export function parseOffsetArg(text: string): bigint {
  return parseUnsigned(text, 'an offset');
}

export function parseValueArg(text: string): bigint {
  return parseUnsigned(text, 'a value');
}

/** Access width in bits as devmem takes it (8, 16, 32, 64) or setpci's letters (b, w, l, q); returns bytes. */
export function parseWidthArg(text: string): 1 | 2 | 4 | 8 {
  switch (text.trim().toLowerCase()) {
    case '8':
    case 'b':
      return 1;
    case '16':
    case 'w':
      return 2;
    case '32':
    case 'l':
      return 4;
    case '64':
    case 'q':
      return 8;
    default:
      throw new InvalidArgumentError('expected a width in bits: 8, 16, 32 or 64 (or b, w, l, q)');
  }
}

/** Throws UsageError unless `value` fits in `width` bytes. */
export function checkFits(value: bigint, width: number): void {
  if (value >= 1n << BigInt(8 * width)) {
    throw new UsageError(`value 0x${value.toString(16)} does not fit in ${8 * width} bits`);
  }
}
