// VFIO info structs grow: the kernel answers a too-small argsz with the size it needs (and no
// caps). Ask with the base size, then once more with what the kernel asked for.
import { requestedArgsz } from './decode';

/** Hard ceiling on what we let the kernel ask for: protects against a nonsense argsz. */
const MAX_INFO_BYTES = 1 << 20;

/**
 * Calls `ioctl(buf)` with a buffer of `base` bytes, growing it to the argsz the kernel reports.
 * Returns the filled buffer, or the negative errno the ioctl returned.
 */
export function queryInfo(base: number, ioctl: (buf: Uint8Array) => number): Uint8Array | number {
  let buf = new Uint8Array(base);
  for (let attempt = 0; attempt < 4; attempt++) {
    const r = ioctl(buf);
    if (r < 0) return r;
    const want = requestedArgsz(buf);
    if (want <= buf.length) return buf;
    if (want > MAX_INFO_BYTES) return buf; // keep the fixed part; the decoder sees no caps
    buf = new Uint8Array(want);
  }
  return buf;
}
