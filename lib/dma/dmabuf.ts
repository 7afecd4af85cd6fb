// A dma-buf exported from a device region (VFIO_DEVICE_FEATURE_DMA_BUF, Linux 6.19+): an fd the
// process owns, naming slices of one BAR for importers (IOMMU_IOAS_MAP_FILE, RDMA, GPUs).
//
// Lifetime: the DmaBuf closes its fd exactly once, on close(), on `using` scope exit, or when its
// device closes (the device owns every DmaBuf it exported and closes them before its own fd).
// The kernel revokes a vfio dma-buf when the device closes anyway; closing it ourselves keeps fd
// numbers from lingering and makes "use after device close" a ClosedError instead of a stale fd.
import { SIZEOF } from '../abi';
import * as fs from 'fs';
import { U64_MAX } from '../decode/bytes';
import { closedError, throwCloseErrors } from '../errors';
import { native } from '../addon/native';
import { rangeArgError } from '../errors/args';
import { closingFds, forgetLeak, watchLeak } from '../addon/leak-guard';

/** A slice of a region, as the caller gives it (numbers or bigints). */
export interface DmaBufRangeInput {
  /** Byte offset within the region, page-aligned; a safe integer or a bigint. */
  readonly offset: number | bigint;
  /** Bytes, page-aligned and more than 0; the slice must end inside the region. */
  readonly length: number | bigint;
}

/** A slice of a region as a {@link DmaBuf} holds it. */
export interface DmaBufRange {
  /** Byte offset within the region. */
  readonly offset: bigint;
  /** Bytes. */
  readonly length: bigint;
}

/** Things that must close before the dma-buf's fd does (mappings of it, importers' handles). */
export interface DmaBufDependent {
  /** Releases the dependent's hold on the dma-buf; called once, before the fd closes. */
  close(): void;
}

export interface DmaBufInit {
  /** Device label (BDF) for errors. */
  readonly label: string;
  /** Region the slices come from. */
  readonly regionIndex: number;
  readonly regionName: string;
  readonly ranges: readonly DmaBufRange[];
  /** Called once after the fd is closed (the device drops its reference). */
  readonly release?: (b: DmaBuf) => void;
  /** Closes the fd; the addon's close() unless a test supplies another. */
  readonly closeFd?: (fd: number) => number;
}

function closeFd(fd: number): number {
  return native().close(fd);
}

/**
 * A dma-buf exported from slices of one device region (the DMA_BUF feature, Linux 6.19+). Owns
 * its fd; the device closes it before its own fd. After close, `fd`, `attach` and `fdinfo` throw
 * {@link ClosedError}.
 */
export class DmaBuf implements Disposable {
  /** Region the dma-buf was exported from (the BAR index for vfio-pci). */
  readonly regionIndex: number;
  /** The region's name ('BAR2', …). */
  readonly regionName: string;
  /** The slices, in order: the dma-buf's bytes are their concatenation. */
  readonly ranges: readonly DmaBufRange[];
  /** Total size in bytes (sum of the ranges; the kernel reports the same in fdinfo). */
  readonly size: bigint;
  /** The device's label (its BDF), used in errors. */
  readonly label: string;
  private fdValue: number | undefined;
  private readonly dependents = new Set<DmaBufDependent>();
  private readonly release: ((b: DmaBuf) => void) | undefined;
  private readonly closeFd: (fd: number) => number;

  /** @internal Created by the DMA_BUF feature; takes ownership of `fd`. */
  constructor(fd: number, init: DmaBufInit) {
    this.fdValue = fd;
    this.label = init.label;
    this.regionIndex = init.regionIndex;
    this.regionName = init.regionName;
    this.ranges = Object.freeze(init.ranges.map((r) => Object.freeze({ offset: r.offset, length: r.length })));
    this.size = dmaBufSize(this.ranges);
    this.release = init.release;
    this.closeFd = init.closeFd ?? closeFd;
    watchLeak(this, 'DmaBuf', `the dma-buf of ${this.label} ${this.regionName}`, closingFds(this.closeFd, fd));
  }

  /** True after close() (its own, or the device's). */
  get closed(): boolean {
    return this.fdValue === undefined;
  }

  /**
   * The dma-buf fd, for handing to an importer or trying mmap(). Stays owned by this object:
   * do not close it yourself; dup it if it must outlive the DmaBuf.
   */
  get fd(): number {
    return this.fdFor('DmaBuf.fd');
  }

  /** The fd, or a ClosedError naming `op`. */
  fdFor(op: string): number {
    if (this.fdValue === undefined) throw closedError(op, `dma-buf of ${this.regionName}`, this.label);
    return this.fdValue;
  }

  /** Registers something (a mapping of this dma-buf, …) to close before the fd does. */
  attach(dep: DmaBufDependent): void {
    this.fdFor('DmaBuf.attach');
    this.dependents.add(dep);
  }

  /** Forgets a dependent that closed by itself; unknown dependents are ignored. Works after close. */
  detach(dep: DmaBufDependent): void {
    this.dependents.delete(dep);
  }

  /** What the kernel says about the fd (/proc/self/fdinfo): size, exporter name, refcount. */
  fdinfo(): DmaBufFdinfo {
    const fd = this.fdFor('DmaBuf.fdinfo');
    const info = parseDmaBufFdinfo(fs.readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'));
    if (!info) throw closedError('DmaBuf.fdinfo', `fd ${fd} is no longer a dma-buf; it`, this.label);
    return info;
  }

  /** Closes dependents, then the fd. Idempotent. */
  close(): void {
    const fd = this.fdValue;
    if (fd === undefined) return;
    const errors: unknown[] = [];
    for (const dep of [...this.dependents]) {
      try {
        dep.close();
      } catch (e) {
        errors.push(e);
      }
    }
    this.dependents.clear();
    this.fdValue = undefined;
    forgetLeak(this);
    this.closeFd(fd);
    this.release?.(this);
    throwCloseErrors(`DmaBuf.close(${this.label} ${this.regionName})`, errors);
  }

  /** `using buf = …`: the same as {@link DmaBuf.close}. */
  [Symbol.dispose](): void {
    this.close();
  }
}

/** Normalises and sums caller ranges; RangeError for negatives or a total past 2^64. */
export function toDmaBufRanges(ranges: readonly DmaBufRangeInput[]): DmaBufRange[] {
  return ranges.map((r, i) => {
    const offset = BigInt(r.offset);
    const length = BigInt(r.length);
    if (offset < 0n || length < 0n) throw rangeArgError('DmaBuf', `range ${i}: offset and length must not be negative`);
    return { offset, length };
  });
}

export function dmaBufSize(ranges: readonly DmaBufRange[]): bigint {
  const total = ranges.reduce((s, r) => s + r.length, 0n);
  if (total > U64_MAX) throw rangeArgError('DmaBuf', 'dma-buf ranges add up past 2^64 bytes');
  return total;
}

// --- struct vfio_device_feature_dma_buf { u32 region_index; u32 open_flags; u32 flags;
//     u32 nr_ranges; struct vfio_region_dma_range { u64 offset; u64 length; } dma_ranges[]; } ---

export const DMA_BUF_HEADER_SIZE = SIZEOF.vfio_device_feature_dma_buf;
export const DMA_BUF_RANGE_SIZE = SIZEOF.vfio_region_dma_range;

/** The GET payload of the DMA_BUF feature. `flags` must be 0 (the kernel refuses anything else). */
export function encodeDmaBufFeature(
  regionIndex: number,
  openFlags: number,
  ranges: readonly DmaBufRange[],
): Uint8Array {
  if (!Number.isInteger(regionIndex) || regionIndex < 0 || regionIndex > 0xffffffff) {
    throw rangeArgError('DmaBuf', `region index ${regionIndex} is not a u32`);
  }
  const out = new Uint8Array(DMA_BUF_HEADER_SIZE + ranges.length * DMA_BUF_RANGE_SIZE);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, regionIndex, true);
  dv.setUint32(4, openFlags >>> 0, true);
  dv.setUint32(8, 0, true);
  dv.setUint32(12, ranges.length, true);
  ranges.forEach((r, i) => {
    dv.setBigUint64(DMA_BUF_HEADER_SIZE + i * DMA_BUF_RANGE_SIZE, BigInt.asUintN(64, r.offset), true);
    dv.setBigUint64(DMA_BUF_HEADER_SIZE + i * DMA_BUF_RANGE_SIZE + 8, BigInt.asUintN(64, r.length), true);
  });
  return out;
}

// --- /proc/<pid>/fdinfo/<fd> of a dma-buf: the generic lines (pos, flags, mnt_id, ino) followed
//     by dma_buf_show_fdinfo()'s size, count, exp_name and name. ---

/** A dma-buf's /proc/self/fdinfo entry, parsed ({@link DmaBuf.fdinfo}). */
export interface DmaBufFdinfo {
  /** Size in bytes, as the kernel accounts it. */
  readonly size: bigint;
  /** File reference count the kernel reports. */
  readonly count: number | undefined;
  /** The exporter: 'vfio_pci_core' for vfio-pci. */
  readonly expName: string;
  /** The buffer's name (set with DMA_BUF_SET_NAME), often empty. */
  readonly name: string | undefined;
  /** Open flags (octal in the file). */
  readonly flags: number | undefined;
  /** Every `key: value` line, as text. */
  readonly fields: Readonly<Record<string, string>>;
}

/** Parses fdinfo text; undefined when it is not a dma-buf's (no exp_name line). */
export function parseDmaBufFdinfo(text: string): DmaBufFdinfo | undefined {
  const fields: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^([A-Za-z_][\w-]*):\s*(.*)$/.exec(line);
    if (m && !(m[1] in fields)) fields[m[1]] = m[2].trim();
  }
  if (fields.exp_name === undefined || fields.size === undefined || !/^\d+$/.test(fields.size)) return undefined;
  const num = (s: string | undefined, radix: number) =>
    s !== undefined && s !== '' && !Number.isNaN(parseInt(s, radix)) ? parseInt(s, radix) : undefined;
  return {
    size: BigInt(fields.size),
    count: num(fields.count, 10),
    expName: fields.exp_name,
    name: fields.name,
    flags: num(fields.flags, 8),
    fields,
  };
}
