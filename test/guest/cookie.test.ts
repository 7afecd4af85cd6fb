// mmap cookies against the real kernel: which route each request gets, the attribute the PAT
// list shows for it, bytes seen by the host through ivshmem's backing file, the dma-buf export,
// lookup by offset and close. Runs in every guest configuration and branches on iomem=relaxed.
import * as fs from 'fs';
import { ClosedError, NotSupportedError, VfioError } from '../../lib';
import { PatReader } from '../../lib/cookie';
import { MemTypeEntry, parseResourceFile } from '../../lib/decode';
import { native } from '../../lib/addon/native';
import { describeIf, guestEnv, kernelArg, openDevice } from './env';
import { SERIES, kernelFacts, unmeasured } from './kernel-facts';
import { rejection, thrown } from '../support/errors';
import { must } from '../support/must';

const env = guestEnv();
const RELAXED = kernelArg('iomem=relaxed');
const PAGE = BigInt(native().constants.PAGE_SIZE);

/** Physical start of a BAR, from sysfs. */
function barStart(bdf: string, bar: number): bigint {
  return parseResourceFile(fs.readFileSync(`/sys/bus/pci/devices/${bdf}/resource`, 'utf8'))[bar].start;
}

/** The kernel's PAT entries overlapping [offset, offset+length) of a BAR (debugfs mounted if it is not). */
function patEntries(bdf: string, bar: number, offset: number, length: number): MemTypeEntry[] {
  const start = barStart(bdf, bar) + BigInt(offset);
  const end = start + BigInt(length);
  const snap = new PatReader().read();
  if (!snap.ok) throw new Error(`the PAT list must be readable in the emulated host: ${snap.reason}`);
  return snap.entries.filter((e) => e.start < end && e.end > start);
}

/** Whether one PAT type covers the whole range. */
function patCovers(bdf: string, bar: number, offset: number, length: number, type: string): boolean {
  const start = barStart(bdf, bar) + BigInt(offset);
  return patEntries(bdf, bar, offset, length).some(
    (e) => e.type === type && e.start <= start && e.end >= start + BigInt(length),
  );
}

const hostFile = () => fs.readFileSync(env.ivshmemFile);
const fdTarget = (fd: number) => {
  try {
    return fs.readlinkSync(`/proc/self/fd/${fd}`);
  } catch {
    return undefined;
  }
};

it('the configuration and the kernel command line agree about iomem=relaxed', () => {
  expect(RELAXED).toBe(env.config === 'relaxed');
});

describe('edu BAR0 (not prefetchable)', () => {
  it('a UC- cookie maps through vfio-region; PAT confirms uncached-minus', async () => {
    await using dev = await openDevice(env.edu);
    const c = dev.bar(0).cookie({ offset: 0, length: 0x1000, memattr: 'uc-' });
    expect(c.route.name).toBe('vfio-region');
    expect(c.backing).toEqual({ kind: 'vfio-region', fd: dev.fd('test'), pgoff: dev.bar(0).offset / PAGE });
    const m = c.map();
    expect([m.effective, m.downgraded]).toEqual(['uc-', undefined]);
    expect(patCovers(env.edu, 0, 0, 0x1000, 'uc-')).toBe(true);
    expect(m.read32(0)).toBe(0x010000ed);
  });

  it('strict WC is refused with the reason; nothing offers a WC route', async () => {
    await using dev = await openDevice(env.edu);
    const err = thrown(() => dev.bar(0).cookie({ memattr: 'wc', length: 0x1000 }));
    expect(err).toBeInstanceOf(NotSupportedError);
    expect(err.message).toMatch(/sysfs: BAR0 is not prefetchable/);
    // The hint names the routes that could give WC, never a BAR property the user cannot change.
    expect(err.hint).toMatch(/would give write-combining here: a driver that offers/);
    expect(err.hint).not.toMatch(/prefetchable BAR/);
    expect(err.hint).not.toMatch(/writeCombine/);
    const report = dev.memattrRoutes(0);
    expect(report.wc).toEqual([]);
    expect(report.why).toMatch(/vfio-region: gives uc-/);
    expect(dev.cookies).toEqual([]);
  });

  it('cannot be reserved WC before the open either, and the refused open holds nothing', async () => {
    const err = await rejection(openDevice(env.edu, { writeCombine: [0] }));
    expect(err).toBeInstanceOf(NotSupportedError);
    expect(err.message).toMatch(/cannot reserve BAR0 write-combining: BAR0 is not prefetchable/);
    await using dev = await openDevice(env.edu);
    expect(dev.bar(0).read32(0)).toBe(0x010000ed);
  });
});

describeIf(kernelFacts, unmeasured)('ivshmem BAR2 after a plain open', () => {
  it(`the open itself reserves the whole BAR UC- in PAT on ${SERIES}: ${kernelFacts?.patReserveAtOpen}`, async () => {
    await using _dev = await openDevice(env.ivshmem);
    expect(patCovers(env.ivshmem, 2, 0, 4 << 20, 'uc-')).toBe(must(kernelFacts, 'kernelFacts').patReserveAtOpen);
  });
});

describe('ivshmem BAR2 after a plain open (uncached-minus)', () => {
  it('strict WC fails, and the hint names the open option (and iomem=relaxed where it is missing)', async () => {
    await using dev = await openDevice(env.ivshmem);
    const err = thrown(() => dev.bar(2).cookie({ offset: 0, length: 0x1000, memattr: 'wc', strict: true }));
    expect(err).toBeInstanceOf(NotSupportedError);
    expect(err.hint).toMatch(/Device\.open\(bdf, \{ writeCombine: \[2\] \}\)/);
    if (RELAXED) {
      expect(err.message).toMatch(/sysfs: PAT already holds uc- for .*a WC mapping would silently be uc-/);
    } else {
      expect(err.message).toMatch(
        /sysfs: [^;]*no iomem=relaxed on the kernel command line.*refuses sysfs mappings of it \(EINVAL\)/,
      );
      expect(err.hint).toMatch(/iomem=relaxed/);
    }
  });

  it('non-strict: vfio-region, effective uc- from PAT, with the reason', async () => {
    await using dev = await openDevice(env.ivshmem);
    const c = dev.bar(2).cookie({ offset: 0x1000, length: 0x1000, memattr: 'wc', strict: false });
    expect(c.route.name).toBe('vfio-region');
    const m = c.map();
    expect(m.effective).toBe('uc-');
    expect(m.downgraded).toMatch(/^no route gives write-combining \(.*\); vfio-region gives uc-$/);
    expect(patCovers(env.ivshmem, 2, 0x1000, 0x1000, 'uc-')).toBe(true);
    m.write32(0, 0x0c0ffee0);
    expect(hostFile().readUInt32LE(0x1000)).toBe(0x0c0ffee0);
  });
});

describeIf(
  kernelFacts && !kernelFacts.wcBeforeOpenCoversBar,
  'a WC reservation before the open covers the whole BAR here',
)('ivshmem BAR2 reserved write-combining before the open, on a kernel where that reservation is partial', () => {
  it('PAT does not hold WC for the whole BAR', async () => {
    await using _dev = await openDevice(env.ivshmem, { writeCombine: [2] });
    expect(patCovers(env.ivshmem, 2, 0, 4 << 20, 'wc')).toBe(false);
  });
});

describeIf(
  kernelFacts?.wcBeforeOpenCoversBar,
  kernelFacts ? `a WC reservation before the open covers only part of the BAR on ${SERIES}` : unmeasured,
)('ivshmem BAR2 reserved write-combining before the open', () => {
  it('PAT holds WC for the whole BAR; a WC cookie maps, and flushed bytes reach the host file', async () => {
    await using dev = await openDevice(env.ivshmem, { writeCombine: [2] });
    expect(patCovers(env.ivshmem, 2, 0, 4 << 20, 'wc')).toBe(true);
    expect(patEntries(env.ivshmem, 2, 0, 4 << 20).map((e) => e.type)).not.toContain('uc-');
    const c = dev.bar(2).cookie({ offset: 0x10000, length: 0x4000, memattr: 'wc' });
    // With iomem=relaxed resource2_wc stays usable beside the open device; without it vfio's own
    // mapping is the route, WC because the open found the WC reservation.
    expect(c.route.name).toBe(RELAXED ? 'sysfs' : 'vfio-region');
    expect(c.backing.kind).toBe(RELAXED ? 'sysfs' : 'vfio-region');
    const m = c.map();
    expect([m.effective, m.downgraded]).toEqual(['wc', undefined]);
    expect(patCovers(env.ivshmem, 2, 0x10000, 0x4000, 'wc')).toBe(true);
    const bytes = Uint8Array.from({ length: 0x4000 }, (_, i) => (i * 7 + 3) & 0xff);
    m.copyIn(0, bytes);
    m.write64(0x3ff8, 0x1122334455667788n);
    m.flush();
    const file = hostFile();
    expect(Buffer.compare(file.subarray(0x10000, 0x13ff8), Buffer.from(bytes.subarray(0, 0x3ff8)))).toBe(0);
    expect(file.readBigUInt64LE(0x13ff8)).toBe(0x1122334455667788n);
    expect([...m.copyOut(0, 16)]).toEqual([...bytes.subarray(0, 16)]);
  });

  it('a plain mapping of the BAR inherits WC, and both mappings report the aliasing', async () => {
    await using dev = await openDevice(env.ivshmem, { writeCombine: [2] });
    const wc = dev.bar(2).cookie({ offset: 0, length: 0x1000, memattr: 'wc' }).map();
    const plain = dev.bar(2).map({ offset: 0, length: 0x2000 });
    expect(plain.effective).toBe('wc');
    expect(plain.aliases.map((a) => [a.with, a.attr])).toEqual([[wc, 'wc']]);
    expect(plain.aliases[0].reason).toMatch(/^asked for uc- but gets wc: cookie #1 .* reserved BAR2 .* as wc first/);
    expect(wc.aliases.map((a) => a.with)).toEqual([plain]);
    expect(wc.aliases[0].reason).toMatch(/asked for uc- but gets wc because of this mapping's reservation/);
  });

  it('a UC- cookie there is given what the kernel gives: WC, as a downgrade', async () => {
    await using dev = await openDevice(env.ivshmem, { writeCombine: [2] });
    const c = dev.bar(2).cookie({ offset: 0, length: 0x1000, memattr: 'uc-' });
    const m = c.map();
    expect(m.effective).toBe('wc');
    expect(m.downgraded).toMatch(/no route gives uncached-minus \(UC-\) .*vfio-region gives wc/);
    expect(thrown(() => dev.bar(2).cookie({ offset: 0, length: 0x1000, memattr: 'uc-', strict: true }))).toBeInstanceOf(
      NotSupportedError,
    );
  });

  it('the reservation ends with the device: a plain open afterwards is UC- again', async () => {
    const dev = await openDevice(env.ivshmem, { writeCombine: [2] });
    dev.close();
    expect(patEntries(env.ivshmem, 2, 0, 4 << 20)).toEqual([]);
    await using _again = await openDevice(env.ivshmem);
    expect(patCovers(env.ivshmem, 2, 0, 4 << 20, 'uc-')).toBe(true);
  });
});

describe('dma-buf route', () => {
  it("export succeeds, the mmap attempt reports the kernel's answer, and the fd closes with the cookie", async () => {
    await using dev = await openDevice(env.ivshmem);
    const offered = dev.feature('DMA_BUF').probe({ get: true });
    const routes = dev.memattrRoutes(2).routes;
    const dmabuf = must(
      routes.find((r) => r.route === 'dmabuf'),
      "routes.find((r) => r.route === 'dmabuf')",
    );
    if (!offered) {
      expect(dmabuf.available).toBe(false);
      return;
    }
    expect(dmabuf).toMatchObject({ available: true, gives: 'uc-', tentative: true });
    expect(dmabuf.reason).toMatch(/DMA_BUF_MEMATTR \(feature 14\) probe answered ENOTTY/);
    const c = dev.bar(2).cookie({ offset: 0x2000, length: 0x1000, memattr: 'uc-', route: 'dmabuf' });
    expect(c.backing).toMatchObject({ kind: 'dmabuf', pgoff: 0n });
    const fd = c.backing.fd;
    expect(fdTarget(fd)).toMatch(/dmabuf/);
    expect(fs.readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8')).toMatch(/exp_name:\s*vfio_pci_core/);
    expect(dev.cookieAt(fd)).toBe(c);
    let answer: string;
    try {
      const m = c.map();
      m.write32(0, 0x5eed5eed);
      answer = m.effective;
    } catch (e) {
      answer = (e as VfioError).code;
      expect((e as VfioError).hint).toMatch(/exports VFIO dma-bufs for importers/);
    }
    // 7.3 has no CPU mapping of vfio dma-bufs; a kernel with the memattr series would map it.
    expect(answer).toBe('EINVAL');
    c.close();
    expect(fdTarget(fd) ?? '').not.toMatch(/dmabuf/);
    expect(dev.cookieAt(fd)).toBeUndefined();
  });
});

describe('cookieAt and close', () => {
  it('cookieAt finds the cookie for an offset inside its range and nothing outside', async () => {
    await using dev = await openDevice(env.ivshmem);
    const bar2 = dev.bar(2);
    const c = bar2.cookie({ offset: 0x1000, length: 0x2000, memattr: 'uc-' });
    expect(dev.cookies).toEqual([c]);
    expect(dev.cookieAt(bar2.offset + 0x1000n)).toBe(c);
    expect(dev.cookieAt(bar2.offset + 0x2fffn)).toBe(c);
    expect(dev.cookieAt(bar2.offset + 0x3000n)).toBeUndefined();
    expect(dev.cookieAt(bar2.offset + 0xfffn)).toBeUndefined();
    expect(dev.cookieAt(dev.bar(0).offset + 0x1000n)).toBeUndefined();
  });

  it('closing the device closes its cookies and their mappings; accessors then throw', async () => {
    const dev = await openDevice(env.ivshmem, RELAXED ? { writeCombine: [2] } : {});
    const c = dev.bar(2).cookie({ offset: 0, length: 0x1000, memattr: RELAXED ? 'wc' : 'uc-' });
    const held = c.backing.kind === 'sysfs' ? c.backing.fd : undefined;
    const m = c.map();
    m.write32(0, 0xdeadbeef);
    dev.close();
    expect(c.closed).toBe(true);
    expect(m.closed).toBe(true);
    expect(() => m.read32(0)).toThrow(ClosedError);
    expect(() => m.write32(0, 1)).toThrow(ClosedError);
    expect(() => c.map()).toThrow(ClosedError);
    expect(dev.cookies).toEqual([]);
    if (held !== undefined) expect(fdTarget(held) ?? '').not.toMatch(/resource2_wc/);
    expect(hostFile().readUInt32LE(0)).toBe(0xdeadbeef);
  });
});
