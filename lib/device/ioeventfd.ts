// An ioeventfd (VFIO_DEVICE_IOEVENTFD): the kernel writes a fixed value of a fixed width at a
// BAR offset each time an eventfd is signalled, so a doorbell can be rung by any process or
// thread that holds the eventfd, with no VFIO fd and no mapping of the BAR.
//
// Lifetime: the Ioeventfd owns its eventfd. close() first asks the kernel to drop the
// registration (fd -1 with the same offset, width and value), then closes the eventfd; the device
// closes every Ioeventfd before its own fd (the kernel would drop the registrations anyway, but
// the eventfd must not outlive them in this process).
import { check, closedError, errnoError, errnoName, invalidArgument } from '../errors';
import { native } from '../addon/native';

/** The width, in bytes, of the write an ioeventfd makes the kernel perform. */
export type IoeventfdWidth = 1 | 2 | 4 | 8;

/**
 * What {@link Region.ioeventfd} registers. Invalid values throw {@link InvalidArgumentError}
 * (`ERANGE` when the write does not fit in the region) before any ioctl.
 */
export interface IoeventfdOptions {
  /** Byte offset within the region (a BAR), aligned to the width. */
  readonly offset: number | bigint;
  /** Bytes the kernel writes: 1, 2, 4 or 8. */
  readonly width: IoeventfdWidth;
  /** The value written; a bigint or a safe integer that fits the width (unsigned). */
  readonly value: number | bigint;
}

/** What an Ioeventfd needs from its region and device. */
export interface IoeventfdHost {
  readonly label: string;
  readonly regionIndex: number;
  readonly regionName: string;
  readonly regionSize: bigint;
  /** The region's offset in the device fd, from REGION_INFO. */
  readonly regionOffset: bigint;
  fd(op: string): number;
  own(res: { close(): void }): void;
  disown(res: { close(): void }): void;
}

const WIDTH_FLAG: Record<IoeventfdWidth, number> = { 1: 1 << 0, 2: 1 << 1, 4: 1 << 2, 8: 1 << 3 };

/** The validated request: offset and value as bigints, the width's flag. */
export function checkIoeventfd(
  op: string,
  o: IoeventfdOptions,
  regionSize: bigint,
  device?: string,
): { offset: bigint; value: bigint; flags: number } {
  const width = o?.width;
  if (!(width === 1 || width === 2 || width === 4 || width === 8)) {
    throw invalidArgument(op, `width ${String(width)} is not 1, 2, 4 or 8 bytes`, { device });
  }
  const offset = toBigInt(o.offset);
  if (offset === undefined || offset < 0n)
    throw invalidArgument(op, `offset ${String(o.offset)} is not a non-negative integer`, { device });
  if (offset + BigInt(width) > regionSize) {
    throw invalidArgument(
      op,
      `offset 0x${offset.toString(16)} + ${width} is outside the 0x${regionSize.toString(16)}-byte region`,
      { code: 'ERANGE', device },
    );
  }
  if (offset % BigInt(width) !== 0n)
    throw invalidArgument(op, `offset 0x${offset.toString(16)} is not ${width}-byte aligned`, { device });
  const value = toBigInt(o.value);
  if (value === undefined || value < 0n || value >= 1n << BigInt(8 * width)) {
    throw invalidArgument(op, `value ${String(o.value)} does not fit in ${8 * width} unsigned bits`, { device });
  }
  return { offset, value, flags: WIDTH_FLAG[width] };
}

function toBigInt(v: unknown): bigint | undefined {
  if (typeof v === 'bigint') return v;
  if (typeof v === 'number' && Number.isSafeInteger(v)) return BigInt(v);
  return undefined;
}

/** The fix for what the kernel refused, as far as the errno says. */
function hintFor(code: string, host: IoeventfdHost, offset: bigint): string | undefined {
  switch (code) {
    case 'EEXIST':
      return 'an ioeventfd with this offset, width and value is already registered on the device: close that one first, or reuse it';
    case 'ENOSPC':
      return 'vfio-pci allows 1000 ioeventfds per device: close some';
    case 'EINVAL':
      return `the kernel refuses ioeventfds outside BARs, over the MSI-X table, and 8-byte ones where it has no 64-bit MMIO write; ${host.regionName} +0x${offset.toString(16)} is one of those`;
    case 'ENOTTY':
      return "the device's driver offers no ioeventfds (vfio-pci does)";
    case 'EBUSY':
    case 'ENOMEM':
    case 'EIO':
      return `the driver could not map ${host.regionName} in the kernel for the write (a variant driver may have taken the BAR over)`;
    default:
      return undefined;
  }
}

/**
 * A registered ioeventfd ({@link Region.ioeventfd}): signalling its eventfd makes the kernel
 * write {@link Ioeventfd.value} of {@link Ioeventfd.width} bytes at {@link Ioeventfd.offset} of
 * the region. Owned by the device, which closes it before its own fd; after close, `fd` and
 * `trigger()` throw {@link ClosedError}.
 */
export class Ioeventfd implements Disposable {
  /** Index of the region (BAR) it writes to. */
  readonly regionIndex: number;
  /** Offset within the region. */
  readonly offset: bigint;
  /** Bytes written each time: 1, 2, 4 or 8. */
  readonly width: IoeventfdWidth;
  /** The value written, unsigned, fitting {@link Ioeventfd.width}. */
  readonly value: bigint;
  private eventfd: number | undefined;
  private readonly host: IoeventfdHost;
  private readonly flags: number;

  /** @internal Region.ioeventfd() makes these. */
  constructor(host: IoeventfdHost, o: IoeventfdOptions) {
    const op = `Region(${host.regionName}).ioeventfd`;
    const { offset, value, flags } = checkIoeventfd(op, o, host.regionSize, host.label);
    this.host = host;
    this.regionIndex = host.regionIndex;
    this.offset = offset;
    this.width = o.width;
    this.value = value;
    this.flags = flags;
    const n = native();
    const devFd = host.fd(op);
    const efd = check(n.eventfd(0, n.constants.EFD_CLOEXEC | n.constants.EFD_NONBLOCK), 'eventfd', {
      device: host.label,
    });
    const r = n.VFIO_DEVICE_IOEVENTFD(devFd, flags, host.regionOffset + offset, value, efd);
    if (r < 0) {
      n.close(efd);
      const code = errnoName(-r);
      throw errnoError(-r, 'VFIO_DEVICE_IOEVENTFD', {
        device: host.label,
        detail: `${host.regionName} +0x${offset.toString(16)}, ${o.width} bytes, value 0x${value.toString(16)}`,
        hint: hintFor(code, host, offset),
      });
    }
    this.eventfd = efd;
    try {
      host.own(this);
    } catch (e) {
      this.close();
      throw e;
    }
  }

  /** True after close() (its own, or the device's). */
  get closed(): boolean {
    return this.eventfd === undefined;
  }

  /**
   * The eventfd: signal it (write an 8-byte count) from another process or a worker to make the
   * kernel write the value. Owned by this object: dup it if it must outlive it.
   */
  get fd(): number {
    if (this.eventfd === undefined) throw closedError('Ioeventfd.fd', this.describe(), this.host.label);
    return this.eventfd;
  }

  /** Signals the eventfd: the kernel writes the value (asynchronously, soon after). */
  trigger(): void {
    const fd = this.fd;
    const one = new Uint8Array(8);
    one[0] = 1;
    check(native().write(fd, one), 'write', { device: this.host.label, detail: `eventfd of ${this.describe()}` });
  }

  /** Drops the registration in the kernel, then closes the eventfd. Idempotent. */
  close(): void {
    const efd = this.eventfd;
    if (efd === undefined) return;
    this.eventfd = undefined;
    this.host.disown(this);
    const n = native();
    let r: number;
    try {
      r = n.VFIO_DEVICE_IOEVENTFD(
        this.host.fd('Ioeventfd.close'),
        this.flags,
        this.host.regionOffset + this.offset,
        this.value,
        -1,
      );
    } finally {
      n.close(efd);
    }
    if (r < 0)
      throw errnoError(-r, 'VFIO_DEVICE_IOEVENTFD', { device: this.host.label, detail: `removing ${this.describe()}` });
  }

  /** `using io = …`: the same as {@link Ioeventfd.close}. */
  [Symbol.dispose](): void {
    this.close();
  }

  private describe(): string {
    return `the ioeventfd at ${this.host.regionName} +0x${this.offset.toString(16)} (${this.width} bytes, 0x${this.value.toString(16)})`;
  }
}
