// What the sample-driver guest tests share: the PAT list for a BAR range, the module's debugfs
// counters, the kernel log, and raw calls of the cookie feature (to see the kernel's own answers,
// below the library's checks).
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import { Device, Mapping } from '../../lib';
import {
  PatReader,
  SAMPLE_COOKIE_FEATURE,
  SAMPLE_COOKIE_FEATURE_TABLE,
  decodeSampleCookieOffset,
  encodeSampleCookie,
} from '../../lib/cookie';
import { MemTypeEntry, parseResourceFile } from '../../lib/decode';
import { thrown } from '../support/errors';
import { must } from '../support/must';

export { thrown };

export const MiB = 1 << 20;

/** Physical start of a BAR, from sysfs. */
export function barStart(bdf: string, bar: number): bigint {
  return parseResourceFile(fs.readFileSync(`/sys/bus/pci/devices/${bdf}/resource`, 'utf8'))[bar].start;
}

/** The kernel's PAT entries overlapping a BAR range, as [offset in the BAR, length, type]. */
export function patIn(bdf: string, bar: number, offset = 0, length = 4 * MiB): Array<[number, number, string]> {
  const base = barStart(bdf, bar);
  const start = base + BigInt(offset);
  const end = start + BigInt(length);
  const snap = new PatReader().read();
  if (!snap.ok) throw new Error(`the PAT list must be readable in the emulated host: ${snap.reason}`);
  return snap.entries
    .filter((e: MemTypeEntry) => e.start < end && e.end > start)
    .map((e) => [Number(e.start - base), Number(e.end - e.start), e.type] as [number, number, string])
    .sort((a, b) => a[0] - b[0] || a[1] - b[1]);
}

export interface CookieStats {
  created: number;
  freed: number;
  live: number;
}

/** The module's counters (debugfs vfio_pci_wc_sample/stats). */
export function cookieStats(driver: string): CookieStats {
  const text = fs.readFileSync(`/sys/kernel/debug/${driver}/stats`, 'utf8');
  const get = (k: string) =>
    Number(must(new RegExp(`^${k} (-?\\d+)$`, 'm').exec(text), "new RegExp(`^${k} (-?\\\\d+)$`, 'm').exec(text)")[1]);
  return { created: get('created'), freed: get('freed'), live: get('live') };
}

/** The kernel log (busybox dmesg), as lines. */
export function kernelLog(): string[] {
  return execFileSync('dmesg').toString().split('\n');
}

/** The driver a device is bound to, or undefined. */
export function boundDriver(bdf: string): string | undefined {
  try {
    return fs.readlinkSync(`/sys/bus/pci/devices/${bdf}/driver`).split('/').pop();
  } catch {
    return undefined;
  }
}

/** GET of the cookie feature: the mmap offset the kernel allocated. */
export function createCookie(dev: Device, bar: number, memattr: number, offset: number, length: number): bigint {
  const out = dev
    .feature(SAMPLE_COOKIE_FEATURE)
    .get(encodeSampleCookie({ bar, memattr, offset: BigInt(offset), length: BigInt(length) }), { unsafe: true });
  return decodeSampleCookieOffset(out);
}

/** SET of the cookie feature: releases the cookie at an mmap offset. */
export function releaseCookie(dev: Device, mmapOffset: bigint): void {
  dev.feature(SAMPLE_COOKIE_FEATURE).set(SAMPLE_COOKIE_FEATURE_TABLE.encodeRelease(mmapOffset), { unsafe: true });
}

/** An mmap of the device fd at a cookie offset (bookkept as a BAR2 mapping at `barOffset`). */
export function mapAt(dev: Device, mmapOffset: bigint, length: number, barOffset = 0): Mapping {
  return dev.bar(2).mapRange(BigInt(barOffset), length, dev.fd('test'), mmapOffset);
}
