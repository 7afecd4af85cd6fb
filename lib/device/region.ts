// A region of a VFIO device: a BAR, the ROM, config space, VGA or a device-specific region.
// Two ways in: pread/pwrite on the device fd (any readable region: the only way into I/O-port
// BARs, the ROM and VGA) and mmap of its mappable areas (the fast path, see mapping.ts).
import { MappableArea, RegionCap, RegionInfo, mappableAreas, regionName } from '../decode';
import { check, checkValue, invalidArgument, notSupported } from '../errors';
import { bigIntArg, describeValue, optionsArg } from '../errors/args';
import { Mapping, MappingOwner } from '../memory/mapping';
import { Mapped, native } from '../addon/native';
import { VFIO_PCI_BAR5_REGION_INDEX, VFIO_PCI_CONFIG_REGION_INDEX } from '../abi';
import { Ioeventfd, IoeventfdOptions } from './ioeventfd';
import { mapWindow } from './region-map';
import type { DmaBuf, DmaBufRangeInput } from '../dma/dmabuf';
import type { DmaBufExportOptions } from '../features/device-features';
import type { CookieCallOptions, CookieOptions, MmapCookie } from '../cookie';

/** What a region needs from its device: the fd, a label, and bookkeeping of live mappings. */
export interface RegionHost {
  readonly label: string;
  fd(op: string): number;
  track(m: Mapping): void;
  untrack(m: Mapping): void;
  /** The DMA_BUF device feature (features.ts); absent where the host has no device features. */
  exportDmaBuf?(regionIndex: number, ranges: readonly DmaBufRangeInput[], opts?: DmaBufExportOptions): DmaBuf;
  /** mmap cookies (cookie/); absent where the host keeps no cookie registry. */
  cookie?(region: Region, opts: CookieOptions & CookieCallOptions): MmapCookie;
  /** Ioeventfds are owned by the device, which closes them first; absent: no ioeventfds. */
  ownIoeventfd?(res: { close(): void }): void;
  disownIoeventfd?(res: { close(): void }): void;
  /** Runs a write of config space at `off` (memory-gate.ts: the command register's MEMORY bit). */
  configWrite?(off: bigint, bytes: Uint8Array, write: () => void): void;
}

/**
 * Which part of a region {@link Region.map} maps. Both fields are in bytes; an offset or length
 * outside the region's mmap-capable areas throws {@link InvalidArgumentError}.
 */
export interface MapOptions {
  /** Offset within the region (page-aligned); default: start of the first mappable area. */
  offset?: number | bigint;
  /** Bytes to map; default: to the end of the mappable area that holds `offset`. */
  length?: number | bigint;
}

const ONE_GIB = 1 << 30;

/** The alignment QEMU uses: the largest power of two <= length, capped at 1 GiB, at least a page. */
export function mapAlignment(length: number, page: number): number {
  let a = page;
  while (a * 2 <= length && a * 2 <= ONE_GIB) a *= 2;
  return a;
}

/**
 * One region of a device (`dev.regions`, `dev.bar(n)`): a BAR, the ROM, config space, VGA or a
 * device-specific region. Accessors work until the device closes, then throw {@link ClosedError}.
 */
export class Region {
  /** The region index (VFIO_PCI_BAR0_REGION_INDEX = 0 … and device-specific ones after VGA). */
  readonly index: number;
  /** 'BAR0' … 'BAR5', 'ROM', 'CONFIG', 'VGA', or the name of a device-specific region's TYPE capability. */
  readonly name: string;
  /** Size in bytes; 0 for a region the device does not implement. */
  readonly size: bigint;
  /** Offset of the region within the device fd, as the kernel reported it (never computed). */
  readonly offset: bigint;
  /** What the kernel allows: pread/pwrite (`read`, `write`) and mmap (`mmap`). */
  readonly flags: {
    /** The region can be read (pread, and mapped readable). */
    readonly read: boolean;
    /** The region can be written (pwrite, and mapped writable). */
    readonly write: boolean;
    /** Parts of the region can be mapped (see `mappableAreas`). */
    readonly mmap: boolean;
  };
  /** The region's capability chain, decoded (sparse mmap areas, TYPE, MSI-X mappable, …). */
  readonly caps: readonly RegionCap[];
  /** Byte ranges of the region that `map()` accepts: the whole region, or the SPARSE_MMAP areas; empty when not mappable. */
  readonly mappableAreas: readonly MappableArea[];
  /** The decoded VFIO_DEVICE_GET_REGION_INFO answer. */
  readonly info: RegionInfo;
  private readonly host: RegionHost;

  /** @internal Devices create regions. */
  constructor(info: RegionInfo, host: RegionHost) {
    this.info = info;
    this.index = info.index;
    this.name = regionName(info.index, info.caps);
    this.size = info.size;
    this.offset = info.offset;
    this.flags = { read: info.flags.read, write: info.flags.write, mmap: info.flags.mmap };
    this.caps = info.caps;
    this.mappableAreas = mappableAreas(info);
    this.host = host;
  }

  private op(what: string): string {
    return `Region(${this.name}).${what}`;
  }

  /** `aligned`: the access is width-exact (1, 2, 4 or 8 bytes), so `off` must be a multiple of `width`. */
  private ioCheck(off: number | bigint, width: number, what: string, write: boolean, aligned = true): bigint {
    const op = this.op(what);
    if (write ? !this.flags.write : !this.flags.read) {
      throw invalidArgument(op, `region ${this.name} is not ${write ? 'writable' : 'readable'}`, {
        device: this.host.label,
      });
    }
    const o = bigIntArg(op, 'offset', off, { min: 0n, max: this.size > 0n ? this.size - 1n : 0n });
    if (!Number.isSafeInteger(width) || width < 0)
      throw invalidArgument(op, `length ${describeValue(width)} is not a byte count`);
    if (o + BigInt(width) > this.size) {
      throw invalidArgument(op, `offset 0x${o.toString(16)} is outside the 0x${this.size.toString(16)}-byte region`, {
        code: 'ERANGE',
        device: this.host.label,
      });
    }
    if (aligned && o % BigInt(width) !== 0n) {
      throw invalidArgument(op, `offset 0x${o.toString(16)} is not ${width}-byte aligned`, { device: this.host.label });
    }
    return this.offset + o;
  }

  /** One pread of exactly `width` bytes (vfio-pci turns an aligned access into one ioread of that width). */
  private pread(off: number | bigint, width: number, what: string): DataView {
    const at = this.ioCheck(off, width, what, false);
    const buf = new Uint8Array(width);
    const n = check(native().pread(this.host.fd(this.op(what)), buf, at), 'pread', () => ({
      device: this.host.label,
      detail: `${this.name} +0x${BigInt(off).toString(16)}`,
    }));
    if (n !== width)
      throw invalidArgument(this.op(what), `short read: ${n} of ${width} bytes`, { device: this.host.label });
    return new DataView(buf.buffer);
  }

  private pwrite(off: number | bigint, bytes: Uint8Array, what: string): void {
    const at = this.ioCheck(off, bytes.length, what, true);
    const write = () => this.pwriteAt(at, off, bytes, what);
    if (this.index === VFIO_PCI_CONFIG_REGION_INDEX && this.host.configWrite)
      this.host.configWrite(at - this.offset, bytes, write);
    else write();
  }

  private pwriteAt(at: bigint, off: number | bigint, bytes: Uint8Array, what: string): void {
    const n = check(native().pwrite(this.host.fd(this.op(what)), bytes, at), 'pwrite', () => ({
      device: this.host.label,
      detail: `${this.name} +0x${BigInt(off).toString(16)}`,
    }));
    if (n !== bytes.length)
      throw invalidArgument(this.op(what), `short write: ${n} of ${bytes.length} bytes`, { device: this.host.label });
  }

  /**
   * Reads 8 bits at byte offset `off` of the region with one `pread` of 1 byte on the device
   * fd (vfio-pci turns an aligned access into one access of that width; works on I/O-port BARs,
   * the ROM and VGA ranges, which cannot be mapped). Returns the value unsigned, little-endian.
   * @param off byte offset in the region (number or bigint), with `off + 1 <= size`.
   * @throws {@link InvalidArgumentError} `ERANGE` outside the region; `EINVAL` when misaligned or the
   *   region is not readable; a {@link VfioError} with the kernel's errno when the pread fails.
   * @throws {@link ClosedError} after the device was closed.
   */
  read8(off: number | bigint): number {
    return this.pread(off, 1, 'read8').getUint8(0);
  }
  /**
   * Reads 16 bits at byte offset `off` of the region with one `pread` of 2 bytes on the device
   * fd (vfio-pci turns an aligned access into one access of that width; works on I/O-port BARs,
   * the ROM and VGA ranges, which cannot be mapped). Returns the value unsigned, little-endian.
   * @param off byte offset in the region (number or bigint), a multiple of 2, with `off + 2 <= size`.
   * @throws {@link InvalidArgumentError} `ERANGE` outside the region; `EINVAL` when misaligned or the
   *   region is not readable; a {@link VfioError} with the kernel's errno when the pread fails.
   * @throws {@link ClosedError} after the device was closed.
   */
  read16(off: number | bigint): number {
    return this.pread(off, 2, 'read16').getUint16(0, true);
  }
  /**
   * Reads 32 bits at byte offset `off` of the region with one `pread` of 4 bytes on the device
   * fd (vfio-pci turns an aligned access into one access of that width; works on I/O-port BARs,
   * the ROM and VGA ranges, which cannot be mapped). Returns the value unsigned, little-endian.
   * @param off byte offset in the region (number or bigint), a multiple of 4, with `off + 4 <= size`.
   * @throws {@link InvalidArgumentError} `ERANGE` outside the region; `EINVAL` when misaligned or the
   *   region is not readable; a {@link VfioError} with the kernel's errno when the pread fails.
   * @throws {@link ClosedError} after the device was closed.
   */
  read32(off: number | bigint): number {
    return this.pread(off, 4, 'read32').getUint32(0, true);
  }
  /**
   * Reads 64 bits at byte offset `off` of the region with one `pread` of 8 bytes on the device
   * fd (vfio-pci turns an aligned access into one access of that width; works on I/O-port BARs,
   * the ROM and VGA ranges, which cannot be mapped). Returns the value unsigned, little-endian.
   * @param off byte offset in the region (number or bigint), a multiple of 8, with `off + 8 <= size`.
   * @throws {@link InvalidArgumentError} `ERANGE` outside the region; `EINVAL` when misaligned or the
   *   region is not readable; a {@link VfioError} with the kernel's errno when the pread fails.
   * @throws {@link ClosedError} after the device was closed.
   */
  read64(off: number | bigint): bigint {
    return this.pread(off, 8, 'read64').getBigUint64(0, true);
  }

  /**
   * Writes 8 bits at byte offset `off` of the region with one `pwrite` of 1 byte on the
   * device fd, little-endian.
   * @param off byte offset in the region (number or bigint), with `off + 1 <= size`.
   * @param v an integer in -2^7 … 2^8-1.
   * @throws {@link InvalidArgumentError} `ERANGE` outside the region; `EINVAL` when misaligned, out of
   *   range or the region is not writable; a {@link VfioError} with the kernel's errno when the
   *   pwrite fails.
   * @throws {@link ClosedError} after the device was closed.
   */
  write8(off: number | bigint, v: number): void {
    this.pwrite(off, le(v, 1, this.op('write8')), 'write8');
  }
  /**
   * Writes 16 bits at byte offset `off` of the region with one `pwrite` of 2 bytes on the
   * device fd, little-endian.
   * @param off byte offset in the region (number or bigint), a multiple of 2, with `off + 2 <= size`.
   * @param v an integer in -2^15 … 2^16-1.
   * @throws {@link InvalidArgumentError} `ERANGE` outside the region; `EINVAL` when misaligned, out of
   *   range or the region is not writable; a {@link VfioError} with the kernel's errno when the
   *   pwrite fails.
   * @throws {@link ClosedError} after the device was closed.
   */
  write16(off: number | bigint, v: number): void {
    this.pwrite(off, le(v, 2, this.op('write16')), 'write16');
  }
  /**
   * Writes 32 bits at byte offset `off` of the region with one `pwrite` of 4 bytes on the
   * device fd, little-endian.
   * @param off byte offset in the region (number or bigint), a multiple of 4, with `off + 4 <= size`.
   * @param v an integer in -2^31 … 2^32-1.
   * @throws {@link InvalidArgumentError} `ERANGE` outside the region; `EINVAL` when misaligned, out of
   *   range or the region is not writable; a {@link VfioError} with the kernel's errno when the
   *   pwrite fails.
   * @throws {@link ClosedError} after the device was closed.
   */
  write32(off: number | bigint, v: number): void {
    this.pwrite(off, le(v, 4, this.op('write32')), 'write32');
  }
  /**
   * Writes 64 bits at byte offset `off` of the region with one `pwrite` of 8 bytes on the
   * device fd, little-endian.
   * @param off byte offset in the region (number or bigint), a multiple of 8, with `off + 8 <= size`.
   * @param v a bigint (taken modulo 2^64).
   * @throws {@link InvalidArgumentError} `ERANGE` outside the region; `EINVAL` when misaligned, out of
   *   range or the region is not writable; a {@link VfioError} with the kernel's errno when the
   *   pwrite fails.
   * @throws {@link ClosedError} after the device was closed.
   */
  write64(off: number | bigint, v: bigint): void {
    if (typeof v !== 'bigint') throw invalidArgument(this.op('write64'), `value ${describeValue(v)} is not a bigint`);
    const b = new Uint8Array(8);
    new DataView(b.buffer).setBigUint64(0, BigInt.asUintN(64, v), true);
    this.pwrite(off, b, 'write64');
  }

  /** Reads `length` bytes starting at `off` (not width-exact: for memory-like regions such as the ROM). */
  readBytes(off: number | bigint, length: number): Uint8Array {
    const at = this.ioCheck(off, length, 'readBytes', false, false);
    const buf = new Uint8Array(length);
    const n = check(native().pread(this.host.fd(this.op('readBytes')), buf, at), 'pread', { device: this.host.label });
    return buf.subarray(0, n);
  }

  /**
   * Exports slices of this BAR as a dma-buf owned by the returned object (default: the whole
   * region). The kernel decides what may be exported; see features.ts and docs/features.md.
   */
  exportDmaBuf(ranges?: readonly DmaBufRangeInput[], opts?: DmaBufExportOptions): DmaBuf {
    if (!this.host.exportDmaBuf)
      throw notSupported(this.op('exportDmaBuf'), "this region's device has no feature ioctl", {
        device: this.host.label,
      });
    return this.host.exportDmaBuf(this.index, ranges ?? [{ offset: 0n, length: this.size }], opts);
  }

  /**
   * A typed handle for a range of this region with a memory attribute ('wc', 'uc-', …), backed by
   * whichever route the kernel offers (see cookie/ and docs/cookies.md). map() it for a Mapping.
   */
  cookie(opts: CookieOptions & CookieCallOptions): MmapCookie {
    if (!this.host.cookie)
      throw notSupported(this.op('cookie'), "this region's device keeps no cookies", { device: this.host.label });
    return this.host.cookie(this, opts);
  }

  /**
   * An ioeventfd on this BAR: each signal of its eventfd makes the kernel write `value` (`width`
   * bytes) at `offset`, with no call from JavaScript (ioeventfd.ts). trigger() signals it here;
   * its `fd` can be handed to another process or a worker.
   */
  ioeventfd(opts: IoeventfdOptions): Ioeventfd {
    const op = this.op('ioeventfd');
    const host = this.host;
    const ownIo = host.ownIoeventfd;
    const disownIo = host.disownIoeventfd;
    if (!ownIo || !disownIo) throw notSupported(op, "this region's device keeps no ioeventfds", { device: host.label });
    if (this.index > VFIO_PCI_BAR5_REGION_INDEX) {
      throw invalidArgument(op, `${this.name} is not a BAR: the kernel writes ioeventfds into BARs only`, {
        device: host.label,
      });
    }
    return new Ioeventfd(
      {
        label: host.label,
        regionIndex: this.index,
        regionName: this.name,
        regionSize: this.size,
        regionOffset: this.offset,
        fd: (o) => host.fd(o),
        own: (r) => ownIo.call(host, r),
        disown: (r) => disownIo.call(host, r),
      },
      opts,
    );
  }

  /** The mappable area that contains [offset, offset+length), if one does. */
  areaFor(offset: bigint, length: bigint): MappableArea | undefined {
    return this.mappableAreas.find((a) => offset >= a.offset && offset + length <= a.offset + a.size);
  }

  /**
   * Maps part of a mappable area. The range must lie inside one area (the kernel refuses mmap
   * across the MSI-X table unless the region is msix-mappable, and lists the rest as areas).
   */
  map(optsIn: MapOptions = {}): Mapping {
    const op = this.op('map');
    const opts = optionsArg(op, optsIn);
    const region = { name: this.name, mappable: this.flags.mmap, areas: this.mappableAreas, device: this.host.label };
    const { offset, length } = mapWindow(op, opts.offset, opts.length, region);
    return this.mapRange(offset, length);
  }

  /** @internal Maps an already validated range of this region's device-fd offsets. */
  mapRange(offset: bigint, length: number, fd?: number, fileOffset?: bigint): Mapping {
    const { PAGE_SIZE, PROT_READ, PROT_WRITE } = native().constants;
    const pages = Math.ceil(length / PAGE_SIZE) * PAGE_SIZE;
    const prot = (this.flags.read ? PROT_READ : 0) | (this.flags.write ? PROT_WRITE : 0);
    const mapped = checkValue<Mapped>(
      native().mmap(
        fd ?? this.host.fd(this.op('map')),
        fileOffset ?? this.offset + offset,
        pages,
        prot,
        mapAlignment(pages, PAGE_SIZE),
      ),
      'mmap',
      { device: this.host.label, detail: `${this.name} +0x${offset.toString(16)}, 0x${length.toString(16)} bytes` },
    );
    const owner: MappingOwner = {
      label: this.host.label,
      regionName: this.name,
      regionIndex: this.index,
      release: (m) => this.host.untrack(m),
      // Mappings of the device fd itself come back after memory decoding is off (memory-gate.ts).
      source: fd === undefined ? { fd: (o) => this.host.fd(o), offset: this.offset + offset } : undefined,
    };
    const m = new Mapping(mapped, offset, length, owner, { writable: this.flags.write });
    this.host.track(m);
    return m;
  }
}

function le(v: number, width: number, op: string): Uint8Array {
  const max = 2 ** (8 * width);
  if (typeof v !== 'number' || !Number.isInteger(v) || v >= max || v < -(max / 2))
    throw invalidArgument(op, `value ${describeValue(v)} is not an integer from ${-(max / 2)} to ${max - 1}`);
  const b = new Uint8Array(width);
  const dv = new DataView(b.buffer);
  if (width === 1) dv.setUint8(0, v & 0xff);
  else if (width === 2) dv.setUint16(0, v & 0xffff, true);
  else dv.setUint32(0, v >>> 0, true);
  return b;
}
