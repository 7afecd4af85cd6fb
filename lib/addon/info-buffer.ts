// VFIO info structs grow: the kernel answers a too-small argsz with the size it needs (and no
// caps). The native call asks with the base size and, when the buffer has room, asks again with
// exactly what the kernel wants; it returns that size, and only when the buffer is too small do
// we grow it and call once more.

/** Hard ceiling on what we let the kernel ask for: protects against a nonsense argsz. */
const MAX_INFO_BYTES = 1 << 20;
/** Room for the fixed struct and the caps every device seen so far reports (one or two caps). */
const INITIAL_BYTES = 512;

/**
 * A reusable buffer for info queries. Allocating a fresh buffer per query cost more than the
 * ioctls themselves (a small typed array is moved off the V8 heap the first time native code
 * touches it), so each owner (a device, a container) keeps one. What `query` returns is this
 * buffer: decode it at once; decoders copy what they keep.
 */
export class InfoBuffer {
  private buf = new Uint8Array(INITIAL_BYTES);

  /**
   * Runs `ioctl(buf)` (a native info call: returns the argsz the kernel wants, or -errno),
   * growing the buffer when the kernel wants more than it holds. Returns the filled buffer
   * (whose argsz field bounds the kernel's data) or the negative errno.
   */
  query(ioctl: (buf: Uint8Array) => number): Uint8Array | number {
    for (let attempt = 0; attempt < 4; attempt++) {
      const want = ioctl(this.buf);
      if (want < 0) return want;
      if (want <= this.buf.length) return this.buf;
      // Keep the fixed part of a nonsense answer: the decoder sees no caps (cap_offset is 0).
      if (want > MAX_INFO_BYTES) return this.buf;
      this.buf = new Uint8Array(want);
    }
    return this.buf;
  }
}
