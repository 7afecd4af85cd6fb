// The range Region.map() maps: the caller's offset and length (defaults filled in) checked
// against the region's mmap-capable areas, the page size and the longest mapping.
import type { MappableArea } from '../decode';
import { invalidArgument } from '../errors';
import { bigIntArg } from '../errors/args';
import { native } from '../addon/native';

/** The region as mapWindow() sees it. */
export interface MappableRegion {
  /** The region's name, for messages. */
  readonly name: string;
  /** Whether the kernel allows mmap of the region at all (its MMAP flag). */
  readonly mappable: boolean;
  /** Its mmap-capable areas. */
  readonly areas: readonly MappableArea[];
  /** The device's label, for errors. */
  readonly device: string;
}

/**
 * The range to map for the caller's `offset` and `length` (either may be undefined: the start
 * of the first area, the rest of the area that holds `offset`), or an InvalidArgumentError
 * saying why it cannot be mapped: the range must lie inside one area, start on a page and fit
 * one mapping.
 */
export function mapWindow(
  op: string,
  offsetIn: number | bigint | undefined,
  lengthIn: number | bigint | undefined,
  region: MappableRegion,
): { offset: bigint; length: number } {
  const { PAGE_SIZE } = native().constants;
  const { name, areas, device } = region;
  if (!region.mappable || areas.length === 0) {
    throw invalidArgument(op, `region ${name} cannot be mmapped; use read/write (pread/pwrite) instead`, { device });
  }
  const offset = offsetIn === undefined ? areas[0].offset : bigIntArg(op, 'offset', offsetIn);
  const holder = areas.find((a) => offset >= a.offset && offset < a.offset + a.size);
  if (!holder) {
    throw invalidArgument(
      op,
      `offset 0x${offset.toString(16)} is in no mappable area of ${name} (${describeAreas(areas)})`,
      {
        code: 'ERANGE',
        device,
      },
    );
  }
  if (offset % BigInt(PAGE_SIZE) !== 0n) {
    throw invalidArgument(op, `offset 0x${offset.toString(16)} is not page-aligned (${PAGE_SIZE})`, { device });
  }
  const rest = holder.offset + holder.size - offset;
  const length = lengthIn === undefined ? rest : bigIntArg(op, 'length', lengthIn, { min: 1n });
  if (length <= 0n || offset + length > holder.offset + holder.size) {
    throw invalidArgument(
      op,
      `0x${length.toString(16)} bytes at 0x${offset.toString(16)} run past the mappable area (${describeAreas([holder])})`,
      { code: 'ERANGE', device },
    );
  }
  const max = native().constants.MAX_MAPPING_LENGTH;
  if (length > BigInt(max)) {
    throw invalidArgument(op, `0x${length.toString(16)} bytes exceed the largest mapping (${max} bytes)`, {
      device,
      hint: `map the region in windows: region.map({ offset, length: ${max} }) or smaller`,
    });
  }
  return { offset, length: Number(length) };
}

function describeAreas(areas: readonly MappableArea[]): string {
  return areas.map((a) => `0x${a.offset.toString(16)}+0x${a.size.toString(16)}`).join(', ') || 'none';
}
