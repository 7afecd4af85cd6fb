// Reserving write-combining before the device is opened: which BARs can be, and what a
// reservation holds (one read-only page of resourceN_wc, released once) on a fixture sysfs tree.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { reserveProblem, reserveWcBeforeOpen } from '../../lib/cookie/reserve';
import { InvalidArgumentError, NotSupportedError } from '../../lib/errors';
import { ivshmemResourceFile } from '../fixtures/devices';
import { eduResourceFile } from './cookie-fixtures';

const BDF = '0000:00:04.0';

function tree(withWc: boolean): { sysfs: string; wc: string } {
  const sysfs = fs.mkdtempSync(path.join(os.tmpdir(), 'vfio-reserve-'));
  const dev = path.join(sysfs, 'bus/pci/devices', BDF);
  fs.mkdirSync(dev, { recursive: true });
  fs.writeFileSync(path.join(dev, 'resource'), ivshmemResourceFile());
  const wc = path.join(dev, 'resource2_wc');
  if (withWc) fs.writeFileSync(wc, Buffer.alloc(0x4000));
  return { sysfs, wc };
}

/** Lines of /proc/self/maps that map `file`. */
const mapsOf = (file: string) =>
  fs
    .readFileSync('/proc/self/maps', 'utf8')
    .split('\n')
    .filter((l) => l.endsWith(file));

describe('which BARs can be reserved WC', () => {
  it.each([
    [2, ivshmemResourceFile(), true, undefined],
    [
      0,
      ivshmemResourceFile(),
      true,
      'BAR0 is not prefetchable: the kernel creates resource0_wc only for prefetchable memory BARs',
    ],
    [1, ivshmemResourceFile(), true, 'BAR1 is not implemented'],
    [
      0,
      eduResourceFile(),
      false,
      'BAR0 is not prefetchable: the kernel creates resource0_wc only for prefetchable memory BARs',
    ],
    [2, ivshmemResourceFile(), false, 'there is no resource2_wc in sysfs'],
    [2, undefined, true, 'the sysfs resource file is not readable'],
    [6, ivshmemResourceFile(), true, 'BAR index 6 is not 0-5'],
  ])('BAR%s', (bar, text, exists, problem) => {
    expect(reserveProblem(bar, text, exists)).toBe(problem);
  });
});

describe('reserveWcBeforeOpen', () => {
  it('maps one read-only page of resource2_wc and releases it once', () => {
    const t = tree(true);
    const [r, ...rest] = reserveWcBeforeOpen(BDF, [2, 2], { sysfs: t.sysfs });
    expect(rest).toEqual([]);
    expect([r.bar, r.path, r.start, r.closed]).toEqual([2, t.wc, 0x800000000n, false]);
    const maps = mapsOf(t.wc);
    expect(maps).toHaveLength(1);
    expect(maps[0]).toMatch(/^([0-9a-f]+)-([0-9a-f]+) r--s 00000000 /);
    const [lo, hi] = maps[0]
      .split(' ')[0]
      .split('-')
      .map((h) => BigInt(`0x${h}`));
    expect(hi - lo).toBe(BigInt(4096));
    r.close();
    r.close();
    expect(r.closed).toBe(true);
    expect(mapsOf(t.wc)).toEqual([]);
  });

  it('refuses a BAR that cannot be reserved, holding nothing', () => {
    const t = tree(true);
    expect(() => reserveWcBeforeOpen(BDF, [2, 0], { sysfs: t.sysfs })).toThrow(NotSupportedError);
    expect(mapsOf(t.wc)).toEqual([]);
    expect(() => reserveWcBeforeOpen(BDF, [9], { sysfs: t.sysfs })).toThrow(InvalidArgumentError);
    const none = tree(false);
    expect(() => reserveWcBeforeOpen(BDF, [2], { sysfs: none.sysfs })).toThrow(
      /cannot reserve BAR2 write-combining: there is no resource2_wc in sysfs/,
    );
  });
});
