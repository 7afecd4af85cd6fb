// Write-combining reserved before the VFIO device is opened: the one order that works on stock
// kernels. Measured on 7.3: opening the device makes vfio-pci map every BAR (an ioremap that
// reserves the BAR's memory type in PAT until the device is closed). PAT gives a reservation the
// type of any reservation already there, so one page of `resourceN_wc` mapped before the open
// turns vfio-pci's whole-BAR reservation write-combining, and with it every later mapping of the
// BAR through the device fd. With IO_STRICT_DEVMEM the sysfs mapping itself is revoked by the
// open; it is never touched, only kept (its reservation is what counts) until the device closes.
import * as fs from 'fs';
import * as path from 'path';
import { parseResourceFile } from '../decode';
import { checkValue, check, invalidArgument, notSupported } from '../errors';
import { Mapped, native } from '../addon/native';
import * as sysfs from '../system/sysfs';

/** A BAR reserved write-combining through sysfs before the device fd opened ({@link DeviceOpenOptions.writeCombine}). */
export interface WcReservation {
  /** The BAR (0-5). */
  readonly bar: number;
  /** The `resourceN_wc` file mapped to hold the reservation. */
  readonly path: string;
  /** Physical address of the reserved page (the BAR's start). */
  readonly start: bigint;
  /** True after close(). */
  readonly closed: boolean;
  /** Unmaps the page that holds the reservation (the device does it when it closes). Idempotent. */
  close(): void;
}

/** Why a BAR cannot be reserved WC through sysfs, or undefined when it can. */
export function reserveProblem(bar: number, resourceText: string | undefined, wcExists: boolean): string | undefined {
  if (!Number.isInteger(bar) || bar < 0 || bar > 5) return `BAR index ${bar} is not 0-5`;
  if (resourceText === undefined) return 'the sysfs resource file is not readable';
  const res = parseResourceFile(resourceText)[bar];
  if (res.size === 0n) return `BAR${bar} is not implemented`;
  if (!res.mem) return `BAR${bar} is not a memory BAR`;
  if (!res.prefetch)
    return `BAR${bar} is not prefetchable: the kernel creates resource${bar}_wc only for prefetchable memory BARs`;
  if (!wcExists) return `there is no resource${bar}_wc in sysfs`;
  return undefined;
}

/**
 * Maps one page of `resourceN_wc` (read-only, never accessed) for each BAR. Call before the VFIO
 * device fd is opened; close the reservations after the device is closed. Throws, holding
 * nothing, when a BAR cannot be reserved.
 */
export function reserveWcBeforeOpen(bdf: string, bars: readonly number[], o: sysfs.SysfsOptions = {}): WcReservation[] {
  const op = 'Device.open';
  const text = sysfs.resourceText(bdf, o);
  const out: WcReservation[] = [];
  try {
    for (const bar of [...new Set(bars)]) {
      const file = path.join(sysfs.devicePath(bdf, o), `resource${bar}_wc`);
      const problem = reserveProblem(bar, text, fs.existsSync(file));
      // reserveProblem reports an unreadable resource file; the second test narrows text.
      if (problem !== undefined || text === undefined) {
        const why = problem ?? 'the sysfs resource file is not readable';
        const err = why.startsWith('BAR index')
          ? invalidArgument(op, `writeCombine: ${why}`, { device: bdf })
          : notSupported(op, `cannot reserve BAR${bar} write-combining: ${why}`, { device: bdf });
        throw err;
      }
      out.push(reserveOne(bdf, bar, file, parseResourceFile(text)[bar].start));
    }
    return out;
  } catch (e) {
    out.forEach((r) => r.close());
    throw e;
  }
}

function reserveOne(bdf: string, bar: number, file: string, start: bigint): WcReservation {
  const n = native();
  const fd = check(n.open(file, n.constants.O_RDONLY | n.constants.O_CLOEXEC), 'open', {
    device: bdf,
    detail: file,
    hint: 'sysfs resource files are root-only (CAP_SYS_ADMIN)',
  });
  let mapped: Mapped;
  try {
    mapped = checkValue<Mapped>(n.mmap(fd, 0n, n.constants.PAGE_SIZE, n.constants.PROT_READ, 0), 'mmap', {
      device: bdf,
      detail: file,
      hint: 'mapping resourceN_wc needs the BAR to be free: is the VFIO device already open (here or in another process)?',
    });
  } finally {
    n.close(fd); // the mapping keeps the reservation; the fd is not needed
  }
  let closed = false;
  return {
    bar,
    path: file,
    start,
    get closed() {
      return closed;
    },
    close() {
      if (closed) return;
      closed = true;
      n.munmap(mapped.handle);
    },
  };
}
