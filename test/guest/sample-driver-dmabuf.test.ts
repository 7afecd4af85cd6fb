// Design 3 of the sample driver against the real kernel: mmappable dma-bufs of ivshmem's BAR2 with
// a memory attribute, and their revocation (configuration "sample": custom kernel, ivshmem bound
// to the sample driver). What is checked: the driver announces its feature numbers and the
// library finds the dmabuf route with them (discovered or told); a strict WC dma-buf cookie is WC
// in PAT and its flushed bytes reach the host's backing file; NC is the default and the attribute
// applies to later mappings; the kernel's errnos; a revoke, a reset and the device closing each
// leave the library's mappings throwing typed errors, and the kernel refusing new mappings; a
// revoke the library did not make is SIGBUS (the documented limit); cycles leak nothing.
// Skipped in every other configuration.
import { spawn } from 'child_process';
import { once } from 'events';
import * as fs from 'fs';
import * as path from 'path';
import { ClosedError, Device, NotSupportedError, RevokedError, VfioError } from '../../lib';
import {
  SAMPLE_DMABUF_MEMATTR_FEATURE,
  SAMPLE_DMABUF_REVOKE_FEATURE,
  SAMPLE_FEATURES_ATTR,
  SAMPLE_MEMATTR_NC,
  SAMPLE_MEMATTR_WC,
  announcedFeatureNumbers,
  encodeDmaBufMemattr,
  encodeDmaBufRevoke,
  sampleDriverTables,
} from '../../lib/cookie';
import { native } from '../../lib/addon/native';
import { describeIf, guestEnv, openDevice } from './env';
import { MiB, patIn, thrown } from './sample-helpers';
import { must } from '../support/must';

const DRIVER = process.env.VFIO_VM_SAMPLE_DRIVER;
const describeSample = describeIf(DRIVER, 'VFIO_VM_SAMPLE_DRIVER is not set (the sample configuration sets it)');
const env = guestEnv();
const PAGE = native().constants.PAGE_SIZE;
const open = () => openDevice(env.ivshmem, { memattrTables: sampleDriverTables() });
const hostFile = () => fs.readFileSync(env.ivshmemFile);
const memattr = (dev: Device, fd: number, value: number) =>
  dev.feature(SAMPLE_DMABUF_MEMATTR_FEATURE).set(encodeDmaBufMemattr(fd, value), { unsafe: true });
const revoke = (dev: Device, fd: number) =>
  dev.feature(SAMPLE_DMABUF_REVOKE_FEATURE).set(encodeDmaBufRevoke(fd), { unsafe: true });
/** An mmap of a dma-buf fd at a page offset, bookkept as a BAR2 mapping at `barOffset`. */
const mapFd = (dev: Device, fd: number, length: number, fileOffset = 0, barOffset = fileOffset) =>
  dev.bar(2).mapRange(BigInt(barOffset), length, fd, BigInt(fileOffset));

describeSample('design 3: the driver announces its features; the library finds them', () => {
  it("the device's sysfs file lists the numbers the driver answers", () => {
    const text = fs.readFileSync(`/sys/bus/pci/devices/${env.ivshmem}/${SAMPLE_FEATURES_ATTR}`, 'utf8');
    expect(text).toBe('DMA_BUF 11\nWC_SAMPLE_MMAP_COOKIE 64513\nDMA_BUF_MEMATTR 64514\nDMA_BUF_REVOKE 64515\n');
  });

  it('discovered: opened with the announced numbers, the dmabuf route gives WC and probes 64514', async () => {
    await using dev = await openDevice(env.ivshmem, { featureNumbers: announcedFeatureNumbers(env.ivshmem) });
    const p = must(
      dev.memattrRoutes(2).routes.find((r) => r.route === 'dmabuf'),
      "dev.memattrRoutes(2).routes.find((r) => r.route === 'dmabuf')",
    );
    expect([p.available, p.gives]).toEqual([true, 'wc']);
    expect(p.reason).toMatch(/DMA_BUF_MEMATTR \(feature 64514\) is offered/);
    const f = dev.feature(SAMPLE_DMABUF_MEMATTR_FEATURE);
    expect([f.probe(), f.probe({ get: true }), f.probe({ set: true })]).toEqual([true, false, true]);
  });

  it('told: the sample tables give the same numbers', async () => {
    await using dev = await open();
    expect(dev.memattrRoutes(2).routes.find((r) => r.route === 'dmabuf')).toMatchObject({
      available: true,
      gives: 'wc',
    });
  });
});

describeSample('design 3: WC through an mmapped dma-buf', () => {
  it("a strict WC cookie: the dma-buf is the driver's, PAT lists write-combining, flushed bytes reach the host file", async () => {
    await using dev = await open();
    const c = dev.bar(2).cookie({ offset: MiB, length: MiB, memattr: 'wc', route: 'dmabuf' });
    expect([c.backing.kind, c.backing.pgoff, c.pgprot]).toEqual(['dmabuf', 0n, 'wc']);
    expect(dev.cookieAt(c.backing.fd)).toBe(c);
    const fdinfo = fs.readFileSync(`/proc/self/fdinfo/${c.backing.fd}`, 'utf8');
    expect(fdinfo).toMatch(new RegExp(`^exp_name:\\s+${DRIVER}$`, 'm'));
    expect(fdinfo).toMatch(/^size:\s+1048576$/m);
    const m = c.map();
    expect([m.effective, m.downgraded]).toEqual(['wc', undefined]);
    expect(patIn(env.ivshmem, 2)).toEqual([[MiB, MiB, 'wc']]);
    const bytes = Uint8Array.from({ length: 0x2000 }, (_, i) => (i * 7 + 3) & 0xff);
    m.copyIn(0x3000, bytes);
    m.write64(0x10, 0x0ddba11cafef00dn);
    m.flush();
    const file = hostFile();
    expect(file.readBigUInt64LE(MiB + 0x10)).toBe(0x0ddba11cafef00dn);
    expect(Buffer.compare(file.subarray(MiB + 0x3000, MiB + 0x5000), Buffer.from(bytes))).toBe(0);
    // And the other way: what the host side holds is what the mapping reads.
    expect(m.read64(0x10)).toBe(0x0ddba11cafef00dn);
    c.close();
    expect(patIn(env.ivshmem, 2)).toEqual([]);
  });

  it('NC is the default, and an attribute applies to later mappings only', async () => {
    await using dev = await open();
    using buf = dev.bar(2).exportDmaBuf([{ offset: 0, length: 2 * PAGE }]);
    const nc = mapFd(dev, buf.fd, PAGE);
    expect(patIn(env.ivshmem, 2)).toEqual([[0, PAGE, 'uc-']]);
    memattr(dev, buf.fd, SAMPLE_MEMATTR_WC);
    const wc = mapFd(dev, buf.fd, PAGE, PAGE);
    expect(patIn(env.ivshmem, 2)).toEqual([
      [0, PAGE, 'uc-'],
      [PAGE, PAGE, 'wc'],
    ]);
    memattr(dev, buf.fd, SAMPLE_MEMATTR_NC);
    nc.write32(0, 0x11);
    wc.write32(0, 0x22);
    wc.flush();
    expect([hostFile().readUInt32LE(0), hostFile().readUInt32LE(PAGE)]).toEqual([0x11, 0x22]);
    nc.close();
    wc.close();
  });

  it("the kernel's answers: ENOENT for an unknown attribute, EINVAL for a foreign fd or a two-range mmap", async () => {
    await using dev = await open();
    using buf = dev.bar(2).exportDmaBuf([{ offset: 0, length: PAGE }]);
    const unknown = thrown(() => memattr(dev, buf.fd, 7));
    expect([unknown instanceof VfioError, unknown.code]).toEqual([true, 'ENOENT']);
    const devnull = native().open('/dev/null', native().constants.O_RDWR | native().constants.O_CLOEXEC);
    try {
      expect(thrown(() => memattr(dev, devnull, SAMPLE_MEMATTR_WC)).code).toBe('EINVAL');
      expect(thrown(() => revoke(dev, devnull)).code).toBe('EINVAL');
    } finally {
      native().close(devnull);
    }
    using two = dev.bar(2).exportDmaBuf([
      { offset: 0, length: PAGE },
      { offset: 2 * PAGE, length: PAGE },
    ]);
    expect(two.size).toBe(BigInt(2 * PAGE));
    expect(thrown(() => mapFd(dev, two.fd, PAGE)).code).toBe('EINVAL');
    // Past the dma-buf's end (the dma-buf core's own check) and past the BAR at export.
    expect(thrown(() => mapFd(dev, buf.fd, PAGE, PAGE)).code).toBe('EINVAL');
    expect(thrown(() => dev.bar(2).exportDmaBuf([{ offset: 4 * MiB - PAGE, length: 2 * PAGE }])).code).toBe('EINVAL');
  });
});

describeSample('design 3: revocation', () => {
  it("MmapCookie.revoke(): the library's mapping throws RevokedError; the kernel refuses new mappings (ENODEV)", async () => {
    await using dev = await open();
    const c = dev.bar(2).cookie({ offset: 0, length: 2 * PAGE, memattr: 'wc', route: 'dmabuf' });
    const m = c.map();
    m.write32(0, 0x600d);
    m.flush();
    c.revoke();
    for (const access of [() => m.read32(0), () => m.write32(4, 1), () => m.flush()]) {
      const err = thrown(access);
      expect([err instanceof RevokedError, err instanceof ClosedError, err.code]).toEqual([true, true, 'EREVOKED']);
    }
    expect(thrown(() => c.map())).toBeInstanceOf(RevokedError);
    // The mapping is gone from PAT with it; the kernel itself refuses to map the fd again.
    expect(patIn(env.ivshmem, 2)).toEqual([]);
    const raw = thrown(() => mapFd(dev, c.backing.fd, PAGE));
    expect([raw instanceof VfioError, raw.code]).toEqual([true, 'ENODEV']);
    expect(thrown(() => memattr(dev, c.backing.fd, SAMPLE_MEMATTR_WC)).code).toBe('ENODEV');
    revoke(dev, c.backing.fd); // revoking again is not an error
    expect(hostFile().readUInt32LE(0)).toBe(0x600d);
    c.close();
  });

  it('a revoke through the raw feature call: every accessor throws RevokedError (no SIGBUS), the kernel refuses new mappings', async () => {
    const child = spawn(process.execPath, [path.join(__dirname, 'sample-dmabuf-child.js'), env.ivshmem], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    const [code, signal] = await once(child, 'exit');
    expect(out).toBe(
      [
        'mapped wc',
        'revoked',
        'read32 RevokedError EREVOKED',
        'write32 RevokedError EREVOKED',
        'read64 RevokedError EREVOKED',
        'copyIn RevokedError EREVOKED',
        'flush RevokedError EREVOKED',
        'map RevokedError EREVOKED',
        'cookie revoked through Device.feature(64515).set()',
        'raw mmap ENODEV',
        '',
      ].join('\n'),
    );
    expect([code, signal]).toEqual([0, null]);
    expect(hostFile().readUInt32LE(0)).toBe(0x5a5a0001);
  }, 120_000);

  it('a reset: dma-buf mappings are taken down first and throw RevokedError; the kernel revoked the dma-buf', async () => {
    await using dev = await open();
    const c = dev.bar(2).cookie({ offset: 0, length: PAGE, memattr: 'wc', route: 'dmabuf' });
    const m = c.map();
    const plain = dev.bar(2).map({ offset: MiB, length: PAGE });
    await dev.reset();
    const err = thrown(() => m.read32(0));
    expect([err instanceof RevokedError, err.message]).toEqual([
      true,
      expect.stringMatching(/was revoked \(the device was reset \(function\)\)/),
    ]);
    expect(thrown(() => c.map())).toBeInstanceOf(RevokedError);
    expect(thrown(() => mapFd(dev, c.backing.fd, PAGE)).code).toBe('ENODEV');
    // Plain BAR mappings stay valid across a reset, as with vfio-pci.
    plain.write32(0, 0x77);
    expect(plain.read32(0)).toBe(0x77);
  });

  it('the device closing: the mapping throws ClosedError, the dma-buf fd is closed with it', async () => {
    const dev = await open();
    const c = dev.bar(2).cookie({ offset: 0, length: PAGE, memattr: 'wc', route: 'dmabuf' });
    const m = c.map();
    const fd = c.backing.fd;
    dev.close();
    const err = thrown(() => m.write32(0, 1));
    expect([err instanceof ClosedError, err.code]).toEqual([true, 'ECLOSED']);
    expect(
      fs.existsSync(`/proc/self/fdinfo/${fd}`) &&
        fs.readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8').includes(`exp_name:\t${DRIVER}`),
    ).toBe(false);
    expect(patIn(env.ivshmem, 2)).toEqual([]);
  });

  it('without a revoke number the library refuses to revoke, and changes nothing', async () => {
    await using dev = await openDevice(env.ivshmem, {
      memattrTables: { ...sampleDriverTables(), revokeFeature: undefined },
    });
    const c = dev.bar(2).cookie({ offset: 0, length: PAGE, memattr: 'wc', route: 'dmabuf' });
    const m = c.map();
    expect(thrown(() => c.revoke())).toBeInstanceOf(NotSupportedError);
    m.write32(0, 0x1234);
    expect(m.read32(0)).toBe(0x1234);
  });
});

describeSample('design 3: leaks', () => {
  it('200 export/attribute/map/revoke/close cycles leave no PAT entry, and the module unreferenced once closed', async () => {
    const refcnt = () => Number(fs.readFileSync(`/sys/module/${DRIVER}/refcnt`, 'utf8'));
    {
      await using dev = await open();
      for (let i = 0; i < 200; i++) {
        const c = dev
          .bar(2)
          .cookie({ offset: (i % 4) * MiB, length: 0x10000, memattr: i % 2 ? 'uc-' : 'wc', route: 'dmabuf' });
        const m = c.map();
        if (m.effective !== (i % 2 ? 'uc-' : 'wc')) throw new Error(`cycle ${i}: ${m.effective}`);
        m.write32(0, i);
        if (i % 3 === 0) c.revoke();
        c.close();
      }
      expect(hostFile().readUInt32LE(3 * MiB)).toBe(199);
      expect(patIn(env.ivshmem, 2)).toEqual([]);
      expect(refcnt()).toBe(1);
    }
    expect(refcnt()).toBe(0);
  }, 600_000);
});
