// The one error type every decoder throws. Kernel structs, sysfs text and config images all come
// from outside this process; a malformed one must surface as a typed error the caller can catch,
// never as a RangeError from a typed array, a silent wrong value, or an endless loop. It is a
// VfioError (code 'EDECODE'), so a caller that catches the package's errors catches it too.
import { VfioError } from '../errors';

/**
 * A kernel struct, config image or sysfs/debugfs text that cannot be decoded (code `EDECODE`): truncated, out of bounds or looping.
 */
export class DecodeError extends VfioError {
  declare readonly code: 'EDECODE';
  /** Byte offset (or line number for text parsers) the problem was found at; -1 when none applies. */
  readonly offset: number;

  /** `op`: what was being decoded, e.g. 'vfio_region_info' or 'pci config: MSI-X cap'. */
  constructor(op: string, offset: number, detail: string) {
    super({
      code: 'EDECODE',
      op,
      message: offset >= 0 ? `${op}: ${detail} (at offset 0x${offset.toString(16)})` : `${op}: ${detail}`,
    });
    this.offset = offset;
  }
}

/** True for a DecodeError, also across realms (jest module registries), where instanceof fails. */
export function isDecodeError(e: unknown): e is DecodeError {
  return (
    e instanceof DecodeError || (typeof e === 'object' && e !== null && (e as { code?: unknown }).code === 'EDECODE')
  );
}
