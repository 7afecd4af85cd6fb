// `vfio peek` / `vfio poke`: one register access of an exact width, like devmem or setpci but on
// a VFIO region. The default path is pread/pwrite on the device fd (works for every readable
// region: memory and I/O BARs, ROM, config space); --mmap goes through a mapping of the page
// instead, the path a driver's fast path takes.
import type { Device } from '../../device/device';
import type { Region } from '../../device/region';
import { native } from '../../addon/native';
import { CliError } from '../report';

export type Width = 1 | 2 | 4 | 8;

export interface Access {
  readonly bdf: string;
  readonly region: string;
  readonly index: number;
  readonly offset: bigint;
  /** Bits. */
  readonly width: number;
  readonly value: bigint;
  readonly via: 'pread' | 'mmap' | 'pwrite';
}

/** '0x010000ed': zero-padded to the access width, as devmem prints it. */
export function formatValue(value: bigint, width: Width): string {
  return `0x${value.toString(16).padStart(width * 2, '0')}`;
}

function checkRange(r: Region, offset: bigint, width: Width): void {
  if (r.size === 0n)
    throw new CliError(`${r.name} is not implemented by this device (size 0)`, '`vfio info BDF` lists the regions');
  if (offset + BigInt(width) > r.size) {
    throw new CliError(
      `offset 0x${offset.toString(16)} + ${width} bytes is past the end of ${r.name} (0x${r.size.toString(16)} bytes)`,
    );
  }
  if (offset % BigInt(width) !== 0n)
    throw new CliError(`offset 0x${offset.toString(16)} is not aligned to the ${width * 8}-bit access`);
}

/** Runs `f` on a one-page mapping that holds [offset, offset+width), with the offset inside it. */
function withPage<T>(r: Region, offset: bigint, width: Width, f: (m: ReturnType<Region['map']>, at: number) => T): T {
  const area = r.areaFor(offset, BigInt(width));
  if (!area) {
    throw new CliError(
      `${r.name}+0x${offset.toString(16)} is in no mappable area of the region`,
      'leave out --mmap: pread/pwrite reach every readable offset',
    );
  }
  const page = BigInt(native().constants.PAGE_SIZE);
  const start = offset - ((offset - area.offset) % page);
  const end = area.offset + area.size;
  const length = Number(end - start < page ? end - start : page);
  const m = r.map({ offset: start, length });
  try {
    return f(m, Number(offset - start));
  } finally {
    m.close();
  }
}

export function peek(dev: Device, index: number, offset: bigint, width: Width, viaMmap: boolean): Access {
  const r = dev.region(index);
  checkRange(r, offset, width);
  let value: bigint;
  if (viaMmap) {
    value = withPage(r, offset, width, (m, at) => {
      switch (width) {
        case 1:
          return BigInt(m.read8(at));
        case 2:
          return BigInt(m.read16(at));
        case 4:
          return BigInt(m.read32(at));
        default:
          return m.read64(at);
      }
    });
  } else {
    switch (width) {
      case 1:
        value = BigInt(r.read8(offset));
        break;
      case 2:
        value = BigInt(r.read16(offset));
        break;
      case 4:
        value = BigInt(r.read32(offset));
        break;
      default:
        value = r.read64(offset);
    }
  }
  return { bdf: dev.bdf, region: r.name, index, offset, width: width * 8, value, via: viaMmap ? 'mmap' : 'pread' };
}

export function poke(
  dev: Device,
  index: number,
  offset: bigint,
  width: Width,
  value: bigint,
  viaMmap: boolean,
): Access {
  const r = dev.region(index);
  checkRange(r, offset, width);
  const v = Number(value & 0xffffffffn);
  if (viaMmap) {
    withPage(r, offset, width, (m, at) => {
      switch (width) {
        case 1:
          m.write8(at, v);
          break;
        case 2:
          m.write16(at, v);
          break;
        case 4:
          m.write32(at, v);
          break;
        default:
          m.write64(at, value);
      }
    });
  } else {
    switch (width) {
      case 1:
        r.write8(offset, v);
        break;
      case 2:
        r.write16(offset, v);
        break;
      case 4:
        r.write32(offset, v);
        break;
      default:
        r.write64(offset, value);
    }
  }
  return { bdf: dev.bdf, region: r.name, index, offset, width: width * 8, value, via: viaMmap ? 'mmap' : 'pwrite' };
}

/** What poke prints: 'BAR0+0x4 <- 0x12345678 (32-bit, pwrite)'. */
export function formatPoke(a: Access): string {
  return `${a.bdf} ${a.region}+0x${a.offset.toString(16)} <- ${formatValue(a.value, (a.width / 8) as Width)} (${a.width}-bit, ${a.via})\n`;
}
