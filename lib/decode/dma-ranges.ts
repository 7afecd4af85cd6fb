// Range lists and dirty bitmaps for the DMA_LOGGING_* and DMA_BUF device features. The addon
// builds the kernel structs itself from a flat BigUint64Array [a0, len0, a1, len1, …]; these pure
// functions validate ranges the way the kernel will, produce those arrays, and read the bitmap.
import { InvalidArgumentError } from '../errors';
import { bigIntArg } from '../errors/args';
import { ByteSource, U64_MAX, asBytes } from './bytes';

function rangeError(message: string): InvalidArgumentError {
  return new InvalidArgumentError({ code: 'ERANGE', op: 'dma ranges', message });
}

/** A byte range for DMA logging or a dma-buf export. */
export interface DmaRange {
  /** IOVA (DMA logging) or offset within the region (DMA_BUF). */
  readonly start: bigint;
  /** Bytes. */
  readonly length: bigint;
}

/** The page size DMA logging and dma-buf ranges default to, in bytes. */
export const DEFAULT_PAGE_SIZE = 4096n;

function isPowerOfTwo(n: bigint): boolean {
  return n > 0n && (n & (n - 1n)) === 0n;
}

function requirePageSize(pageSize: bigint, min: bigint, what: string): void {
  if (!isPowerOfTwo(pageSize) || pageSize < min) {
    throw rangeError(`${what}: page size 0x${pageSize.toString(16)} must be a power of two >= 0x${min.toString(16)}`);
  }
}

function describe(r: DmaRange): string {
  return `[0x${r.start.toString(16)}, +0x${r.length.toString(16)})`;
}

/** Checks one range: positive length, page-aligned start and length, no 64-bit wrap. */
function requireRange(r: DmaRange, pageSize: bigint, what: string): void {
  if (r.start < 0n || r.length <= 0n) throw rangeError(`${what}: range ${describe(r)} is empty or negative`);
  if (r.start % pageSize !== 0n || r.length % pageSize !== 0n) {
    throw rangeError(`${what}: range ${describe(r)} is not aligned to the 0x${pageSize.toString(16)} page size`);
  }
  if (r.start + r.length - 1n > U64_MAX) throw rangeError(`${what}: range ${describe(r)} wraps past 2^64`);
}

/** Rejects an empty list and overlapping ranges (the kernel refuses both). */
function requireDisjoint(ranges: readonly DmaRange[], what: string): void {
  if (ranges.length === 0) throw rangeError(`${what}: at least one range is needed`);
  const sorted = [...ranges].sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
  for (let i = 1; i < sorted.length; i++) {
    const prev = sorted[i - 1];
    if (sorted[i].start < prev.start + prev.length) {
      throw rangeError(`${what}: ranges ${describe(prev)} and ${describe(sorted[i])} overlap`);
    }
  }
}

function flatten(ranges: readonly DmaRange[]): BigUint64Array {
  const out = new BigUint64Array(ranges.length * 2);
  ranges.forEach((r, i) => {
    out[i * 2] = r.start;
    out[i * 2 + 1] = r.length;
  });
  return out;
}

/**
 * [iova0, len0, …] for DMA_LOGGING_START. The kernel wants ranges aligned to the tracking page
 * size it is given and refuses overlapping ones.
 */
export function dmaLoggingRanges(ranges: readonly DmaRange[], pageSize: bigint = DEFAULT_PAGE_SIZE): BigUint64Array {
  const what = 'DMA logging';
  requirePageSize(pageSize, DEFAULT_PAGE_SIZE, what);
  for (const r of ranges) requireRange(r, pageSize, what);
  requireDisjoint(ranges, what);
  return flatten(ranges);
}

/**
 * Bytes of dirty bitmap a DMA_LOGGING_REPORT over `length` bytes at `pageSize` granularity fills:
 * one bit per page, rounded up to whole u64 words because the kernel writes u64s.
 */
export function dmaLoggingBitmapSize(length: bigint, pageSize: bigint = DEFAULT_PAGE_SIZE): number {
  requirePageSize(pageSize, DEFAULT_PAGE_SIZE, 'DMA logging report');
  if (length <= 0n) throw rangeError('DMA logging report: length must be positive');
  const pages = (length + pageSize - 1n) / pageSize;
  const bytes = ((pages + 63n) / 64n) * 8n;
  if (bytes > BigInt(Number.MAX_SAFE_INTEGER)) throw rangeError('DMA logging report: bitmap too large');
  return Number(bytes);
}

/** Bit `n` of the bitmap, reading it as little-endian u64 words (bit n of word n/64). */
function bitSet(bitmap: Uint8Array, n: number): boolean {
  const word = Math.floor(n / 64);
  const bit = n % 64;
  return (bitmap[word * 8 + (bit >> 3)] & (1 << (bit & 7))) !== 0;
}

/**
 * The dirty ranges in a DMA_LOGGING_REPORT bitmap covering [iova, iova+length), adjacent dirty
 * pages merged. The bitmap may be any typed array, a DataView or an ArrayBuffer: its bytes are
 * read. Throws RangeError if the bitmap is too small for the range.
 */
export function dirtyRanges(
  bitmapIn: ByteSource,
  iovaIn: bigint | number,
  lengthIn: bigint | number,
  pageSizeIn: bigint | number = DEFAULT_PAGE_SIZE,
): DmaRange[] {
  const bitmap = asBytes(bitmapIn, 'dirtyRanges');
  const iova = bigIntArg('dirtyRanges', 'iova', iovaIn);
  const length = bigIntArg('dirtyRanges', 'length', lengthIn, { min: 1n });
  const pageSize = bigIntArg('dirtyRanges', 'pageSize', pageSizeIn, { min: 1n });
  const need = dmaLoggingBitmapSize(length, pageSize);
  if (bitmap.length < need) throw rangeError(`dirty bitmap has ${bitmap.length} bytes, the range needs ${need}`);
  const pages = Number((length + pageSize - 1n) / pageSize);
  const out: DmaRange[] = [];
  let runStart = -1;
  for (let p = 0; p <= pages; p++) {
    const dirty = p < pages && bitSet(bitmap, p);
    if (dirty && runStart < 0) runStart = p;
    if (!dirty && runStart >= 0) {
      out.push({ start: iova + BigInt(runStart) * pageSize, length: BigInt(p - runStart) * pageSize });
      runStart = -1;
    }
  }
  return out;
}

/** Number of dirty pages in a report bitmap covering `pages` pages. */
export function dirtyPageCount(bitmapIn: ByteSource, pages: number): number {
  const bitmap = asBytes(bitmapIn, 'dirtyPageCount');
  let n = 0;
  for (let p = 0; p < pages && p < bitmap.length * 8; p++) if (bitSet(bitmap, p)) n++;
  return n;
}

/** How dma-buf ranges are checked before the kernel sees them. */
export interface DmaBufOptions {
  /** Alignment the kernel requires (its PAGE_SIZE); default 4096. */
  readonly pageSize?: bigint;
  /** Region size from REGION_INFO; when given, ranges must lie inside it. */
  readonly regionSize?: bigint;
}

/**
 * [offset0, length0, …] for the DMA_BUF feature: slices of one region that make up the dma-buf.
 * The kernel requires page-aligned offsets and lengths inside the region.
 */
export function dmaBufRanges(ranges: readonly DmaRange[], opts: DmaBufOptions = {}): BigUint64Array {
  const what = 'DMA_BUF';
  const pageSize = opts.pageSize ?? DEFAULT_PAGE_SIZE;
  requirePageSize(pageSize, 1n, what);
  if (ranges.length === 0) throw rangeError(`${what}: at least one range is needed`);
  for (const r of ranges) {
    requireRange(r, pageSize, what);
    if (opts.regionSize !== undefined && r.start + r.length > opts.regionSize) {
      throw rangeError(`${what}: range ${describe(r)} runs past the region size 0x${opts.regionSize.toString(16)}`);
    }
  }
  return flatten(ranges);
}
