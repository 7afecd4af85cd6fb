// The sample driver's side of the cookie layer, without a kernel: its numbers agree with the
// kernel module's header, its cookie payloads have the header's layout, and route choice with its
// region type and feature answers picks the kernel routes (and says why when it cannot).
import { InvalidArgumentError } from '../../lib/errors';
import * as fs from 'fs';
import * as path from 'path';
import { DEFAULT_ROUTES } from '../../lib/cookie/registry';
import { wcRegionRoute, wcRegionsFor } from '../../lib/cookie/routes';
import { chooseRoute } from '../../lib/cookie/choose';
import { cookieFeatureRoute } from '../../lib/cookie/cookie-feature-route';
import { CookieMemAttr, CookieRequest, RegionView } from '../../lib/cookie/model';
import * as os from 'os';
import {
  SAMPLE_COOKIE_FEATURE,
  SAMPLE_COOKIE_FEATURE_TABLE,
  SAMPLE_COOKIE_SIZE,
  SAMPLE_DMABUF_MEMATTR_FEATURE,
  SAMPLE_DMABUF_MEMATTR_TABLE,
  SAMPLE_DMABUF_REVOKE_FEATURE,
  SAMPLE_DMABUF_REVOKE_TABLE,
  SAMPLE_FEATURES_ATTR,
  SAMPLE_MAX_COOKIES,
  SAMPLE_MEMATTR_NC,
  SAMPLE_MEMATTR_WC,
  SAMPLE_REGION_SUBTYPE_BASE,
  SAMPLE_REGION_TYPE,
  announcedFeatureNumbers,
  decodeSampleCookieOffset,
  encodeSampleCookie,
  parseAnnouncedFeatures,
  sampleDriverTables,
} from '../../lib/cookie/sample-driver';
import { encodeDmaBufMemattr, encodeDmaBufRevoke } from '../../lib/cookie/model';
import * as abi from '../../lib/abi';
import { NotSupportedError } from '../../lib/errors';
import { regionInfo, typeCap } from '../fixtures/build';
import { regionOffset } from '../fixtures/devices';
import {
  EDU_BAR0,
  FixtureFacts,
  IVSHMEM_BAR2,
  IVSHMEM_BAR2_PHYS,
  RELAXED,
  STRICT,
  eduResourceFile,
  pat,
  view,
} from './cookie-fixtures';
import { must } from '../support/must';

const HEADER = path.join(__dirname, '..', '..', 'kernel', 'vfio-pci-wc-sample', 'vfio_pci_wc_sample.h');
const MAIN_C = path.join(__dirname, '..', '..', 'kernel', 'vfio-pci-wc-sample', 'main.c');

/** The #define values of the header that are plain numbers or the vendor-type expression. */
function headerDefines(): Map<string, number> {
  const out = new Map<string, number>();
  for (const m of fs.readFileSync(HEADER, 'utf8').matchAll(/^#define\s+(VFIO_WC_SAMPLE_\w+)\s+(.+?)\s*$/gm)) {
    const text = m[2].replace(/\/\*.*\*\//, '').trim();
    const vendor = /^\(VFIO_REGION_TYPE_PCI_VENDOR_TYPE \| (0x[0-9a-f]+)\)$/i.exec(text);
    if (vendor) out.set(m[1], (abi.VFIO_REGION_TYPE_PCI_VENDOR_TYPE | Number(vendor[1])) >>> 0);
    else if (/^(0x[0-9a-f]+|\d+)$/i.test(text)) out.set(m[1], Number(text));
  }
  return out;
}

/** The sample's WC region for BAR2, as REGION_INFO reports it: index 9, TYPE capability. */
const SAMPLE_WC_REGION = (): RegionView =>
  view(
    regionInfo({
      flags:
        abi.VFIO_REGION_INFO_FLAG_READ |
        abi.VFIO_REGION_INFO_FLAG_WRITE |
        abi.VFIO_REGION_INFO_FLAG_MMAP |
        abi.VFIO_REGION_INFO_FLAG_CAPS,
      index: 9,
      size: 0x400000n,
      offset: regionOffset(9),
      caps: [typeCap(SAMPLE_REGION_TYPE, SAMPLE_REGION_SUBTYPE_BASE + 2)],
    }),
  );

/** What the sample driver answers: the cookie feature GET and SET; DMA_BUF GET; its dma-buf features SET. */
const SET_ONLY = { probe: 'OK', get: 'EINVAL', set: 'OK' };
const SAMPLE_FEATURES = {
  11: { probe: 'OK', get: 'OK', set: 'EINVAL' },
  [SAMPLE_COOKIE_FEATURE]: { probe: 'OK', get: 'OK', set: 'OK' },
  [SAMPLE_DMABUF_MEMATTR_FEATURE]: SET_ONLY,
  [SAMPLE_DMABUF_REVOKE_FEATURE]: SET_ONLY,
};

function req(region: RegionView, memattr: CookieMemAttr = 'wc', o: Partial<CookieRequest> = {}): CookieRequest {
  return { region, offset: 0n, length: 0x1000, memattr, strict: memattr === 'wc', route: undefined, ...o };
}

describe('the sample values agree with the kernel module header', () => {
  const defines = headerDefines();

  it('region type and subtype, feature number, attributes, cookie limit', () => {
    expect(defines.get('VFIO_WC_SAMPLE_REGION_TYPE')).toBe(SAMPLE_REGION_TYPE);
    expect(SAMPLE_REGION_TYPE).toBe(0x8000ffff);
    expect(defines.get('VFIO_WC_SAMPLE_REGION_SUBTYPE_BASE')).toBe(SAMPLE_REGION_SUBTYPE_BASE);
    expect(defines.get('VFIO_WC_SAMPLE_FEATURE_MMAP_COOKIE')).toBe(SAMPLE_COOKIE_FEATURE);
    expect(defines.get('VFIO_WC_SAMPLE_MEMATTR_NC')).toBe(SAMPLE_MEMATTR_NC);
    expect(defines.get('VFIO_WC_SAMPLE_MEMATTR_WC')).toBe(SAMPLE_MEMATTR_WC);
    expect(defines.get('VFIO_WC_SAMPLE_MAX_COOKIES')).toBe(SAMPLE_MAX_COOKIES);
    expect(defines.get('VFIO_WC_SAMPLE_FEATURE_DMA_BUF_MEMATTR')).toBe(SAMPLE_DMABUF_MEMATTR_FEATURE);
    expect(defines.get('VFIO_WC_SAMPLE_FEATURE_DMA_BUF_REVOKE')).toBe(SAMPLE_DMABUF_REVOKE_FEATURE);
    expect([SAMPLE_DMABUF_MEMATTR_TABLE.number, SAMPLE_DMABUF_REVOKE_TABLE.number]).toEqual([0xfc02, 0xfc03]);
    // The dma-buf attribute values are the cookie's (and upstream's v3): 0 NC, 1 WC.
    expect(SAMPLE_DMABUF_MEMATTR_TABLE.values).toEqual({ 'uc-': SAMPLE_MEMATTR_NC, wc: SAMPLE_MEMATTR_WC });
    expect(
      must(
        /^#define\s+VFIO_WC_SAMPLE_FEATURES_ATTR\s+"(\w+)"/m.exec(fs.readFileSync(HEADER, 'utf8')),
        'the VFIO_WC_SAMPLE_FEATURES_ATTR define in the sample header',
      )[1],
    ).toBe(SAMPLE_FEATURES_ATTR);
    // The feature numbers fit the 16-bit index and stay clear of the header's own numbers.
    for (const n of [SAMPLE_COOKIE_FEATURE, SAMPLE_DMABUF_MEMATTR_FEATURE, SAMPLE_DMABUF_REVOKE_FEATURE]) {
      expect(n).toBeLessThanOrEqual(abi.VFIO_DEVICE_FEATURE_MASK);
    }
  });

  it("the dma-buf feature payloads have the header's layout (s32 fd, u32 memattr; s32 fd)", () => {
    const text = fs.readFileSync(HEADER, 'utf8');
    const fields = (name: string) =>
      [
        ...must(
          new RegExp(`struct ${name} \\{([^}]*)\\}`).exec(text),
          `struct ${name} in the sample header`,
        )[1].matchAll(/^\s*(__s32|__u32)\s+(\w+);/gm),
      ].map((m) => [m[1], m[2]]);
    expect(fields('vfio_wc_sample_dma_buf_memattr')).toEqual([
      ['__s32', 'dmabuf_fd'],
      ['__u32', 'memattr'],
    ]);
    expect(fields('vfio_wc_sample_dma_buf_revoke')).toEqual([['__s32', 'dmabuf_fd']]);
    expect([...encodeDmaBufMemattr(-2, 1)]).toEqual([0xfe, 0xff, 0xff, 0xff, 1, 0, 0, 0]);
    expect([...encodeDmaBufRevoke(9)]).toEqual([9, 0, 0, 0]);
  });

  it("the module announces the names the library's tables use, in the order of its format string", () => {
    const fmt = must(
      /sysfs_emit\(\s*buf,\s*"([^"]+)"/.exec(fs.readFileSync(MAIN_C, 'utf8')),
      'the sysfs_emit format in the sample driver',
    )[1];
    expect(
      fmt
        .split('\\n')
        .filter(Boolean)
        .map((l) => l.split(' ')[0]),
    ).toEqual([
      'DMA_BUF',
      SAMPLE_COOKIE_FEATURE_TABLE.name,
      SAMPLE_DMABUF_MEMATTR_TABLE.name,
      SAMPLE_DMABUF_REVOKE_TABLE.name,
    ]);
  });

  it("the cookie struct has the header's fields in order (u32, u32, u64, u64, u64)", () => {
    const body = must(
      /struct vfio_wc_sample_cookie \{([^}]*)\}/.exec(fs.readFileSync(HEADER, 'utf8')),
      'struct vfio_wc_sample_cookie in the sample header',
    )[1];
    const fields = [...body.matchAll(/^\s*(__u32|__aligned_u64)\s+(\w+);/gm)].map((m) => [m[1], m[2]]);
    expect(fields).toEqual([
      ['__u32', 'region_index'],
      ['__u32', 'memattr'],
      ['__aligned_u64', 'offset'],
      ['__aligned_u64', 'length'],
      ['__aligned_u64', 'mmap_offset'],
    ]);
    expect(SAMPLE_COOKIE_SIZE).toBe(4 + 4 + 8 + 8 + 8);
  });
});

describe('cookie payloads', () => {
  it("encodes a request little-endian at the header's offsets", () => {
    const b = encodeSampleCookie(
      { bar: 2, memattr: SAMPLE_MEMATTR_WC, offset: 0x201000n, length: 0x3000n },
      0xa0000000000n,
    );
    const dv = new DataView(b.buffer);
    expect(b.length).toBe(32);
    expect([dv.getUint32(0, true), dv.getUint32(4, true)]).toEqual([2, 1]);
    expect([dv.getBigUint64(8, true), dv.getBigUint64(16, true), dv.getBigUint64(24, true)]).toEqual([
      0x201000n,
      0x3000n,
      0xa0000000000n,
    ]);
  });

  it('reads the offset the kernel wrote back, and refuses a short payload', () => {
    const b = encodeSampleCookie({ bar: 2, memattr: 0, offset: 0n, length: 0x1000n });
    new DataView(b.buffer).setBigUint64(24, 0xa0000003000n, true);
    expect(decodeSampleCookieOffset(b)).toBe(0xa0000003000n);
    expect(() => decodeSampleCookieOffset(new Uint8Array(24))).toThrow(InvalidArgumentError);
  });

  it('a release names the cookie by its mmap offset only', () => {
    const b = SAMPLE_COOKIE_FEATURE_TABLE.encodeRelease(0xa0000001000n);
    expect(decodeSampleCookieOffset(b)).toBe(0xa0000001000n);
    expect([...b.subarray(0, 24)].every((x) => x === 0)).toBe(true);
  });

  it("maps the cookie layer's attributes to the sample's values; nothing else", () => {
    expect(SAMPLE_COOKIE_FEATURE_TABLE.values).toEqual({ 'uc-': SAMPLE_MEMATTR_NC, wc: SAMPLE_MEMATTR_WC });
  });
});

describe('the announcement of feature numbers', () => {
  const TEXT = 'DMA_BUF 11\nWC_SAMPLE_MMAP_COOKIE 64513\nDMA_BUF_MEMATTR 64514\nDMA_BUF_REVOKE 64515\n';

  it('parses "NAME number" lines into feature-table overrides', () => {
    expect(parseAnnouncedFeatures(TEXT)).toEqual({
      DMA_BUF: 11,
      WC_SAMPLE_MMAP_COOKIE: 0xfc01,
      DMA_BUF_MEMATTR: 0xfc02,
      DMA_BUF_REVOKE: 0xfc03,
    });
    expect(() => parseAnnouncedFeatures('DMA_BUF eleven\n')).toThrow(/line 1 is not "NAME number"/);
  });

  it("reads the device's sysfs file; undefined where the driver announces nothing", () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'vfio-announce-'));
    try {
      fs.mkdirSync(path.join(root, '0000:00:04.0'));
      fs.mkdirSync(path.join(root, '0000:00:05.0'));
      fs.writeFileSync(path.join(root, '0000:00:04.0', SAMPLE_FEATURES_ATTR), TEXT);
      expect(announcedFeatureNumbers('0000:00:04.0', root)).toMatchObject({
        DMA_BUF_MEMATTR: 0xfc02,
        DMA_BUF_REVOKE: 0xfc03,
      });
      expect(announcedFeatureNumbers('0000:00:05.0', root)).toBeUndefined();
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });
});

describe('route choice on a device bound to the sample driver', () => {
  const facts = (o: Partial<ConstructorParameters<typeof FixtureFacts>[0]> = {}) =>
    new FixtureFacts({
      regions: [IVSHMEM_BAR2(), SAMPLE_WC_REGION()],
      devmem: STRICT,
      pat: pat(),
      features: SAMPLE_FEATURES,
      tables: sampleDriverTables(),
      ...o,
    });

  it('the sample region type names region 9 as the WC view of BAR2', () => {
    const found = wcRegionsFor(
      2,
      [IVSHMEM_BAR2(), SAMPLE_WC_REGION()],
      must(sampleDriverTables().wcRegionTypes, 'sampleDriverTables().wcRegionTypes'),
    );
    expect(found.map((f) => [f.region.index, f.type.name])).toEqual([[9, 'vfio-pci-wc-sample-bar2']]);
  });

  it('WC picks the WC region first, and the cookie feature is available too', () => {
    const { choice } = chooseRoute(req(IVSHMEM_BAR2()), facts(), DEFAULT_ROUTES, 'op');
    expect(choice.name).toBe('wc-region');
    expect(choice.reason).toMatch(
      /region 9 \(vfio-pci-wc-sample-bar2, TYPE 0x8000ffff\/0x57430002\) is a write-combining view of BAR2/,
    );
    expect(choice.considered.map((p) => [p.route, p.available, p.gives])).toEqual([
      ['wc-region', true, 'wc'],
      ['cookie-feature', true, 'wc'],
      ['dmabuf', true, 'wc'],
      ['sysfs', false, undefined],
      ['vfio-region', true, 'uc-'],
    ]);
    expect(choice.considered[1].reason).toMatch(/WC_SAMPLE_MMAP_COOKIE \(feature 64513\) answers GET and SET/);
  });

  it('kernel routes come before sysfs even when sysfs would give WC too (iomem=relaxed, nothing reserved)', () => {
    const { choice } = chooseRoute(req(IVSHMEM_BAR2()), facts({ devmem: RELAXED }), DEFAULT_ROUTES, 'op');
    expect(choice.name).toBe('wc-region');
    expect(choice.considered.find((p) => p.route === 'sysfs')).toMatchObject({ available: true, gives: 'wc' });
  });

  it('without the WC region (an older driver), the cookie feature is next', () => {
    const { choice } = chooseRoute(req(IVSHMEM_BAR2()), facts({ regions: [IVSHMEM_BAR2()] }), DEFAULT_ROUTES, 'op');
    expect(choice.name).toBe('cookie-feature');
  });

  it("an uncached-minus request takes the device's own mapping; the cookie feature can give it when asked by name", () => {
    expect(chooseRoute(req(IVSHMEM_BAR2(), 'uc-'), facts(), DEFAULT_ROUTES, 'op').choice.name).toBe('vfio-region');
    const forced = chooseRoute(
      req(IVSHMEM_BAR2(), 'uc-', { route: 'cookie-feature' }),
      facts(),
      DEFAULT_ROUTES,
      'op',
    ).choice;
    expect(forced).toMatchObject({ name: 'cookie-feature', gives: 'uc-', downgraded: undefined });
  });

  it('an attribute the feature has no value for is not offered', () => {
    const p = cookieFeatureRoute.probe(req(IVSHMEM_BAR2(), 'wt'), facts());
    expect(p).toMatchObject({ available: false, reason: 'WC_SAMPLE_MMAP_COOKIE (feature 64513) has no value for wt' });
  });

  it('without the sample tables the kernel routes say what would make them available', () => {
    const plain = facts({ tables: {} });
    const p = cookieFeatureRoute.probe(req(IVSHMEM_BAR2()), plain);
    expect(p.available).toBe(false);
    expect(p.reason).toMatch(/no cookie feature is configured .*sampleDriverTables\(\)/);
    expect(p.needs).toEqual([expect.stringMatching(/hands out mmap cookies through a device feature/)]);
    expect(() => chooseRoute(req(IVSHMEM_BAR2()), plain, DEFAULT_ROUTES, 'op')).toThrow(NotSupportedError);
  });

  it('a driver that does not answer the number (vfio-pci) is reported with the probe answers', () => {
    const p = cookieFeatureRoute.probe(req(IVSHMEM_BAR2()), facts({ features: { 11: SAMPLE_FEATURES[11] } }));
    expect(p).toMatchObject({
      available: false,
      reason: 'WC_SAMPLE_MMAP_COOKIE (feature 64513) probe answered GET ENOTTY, SET ENOTTY',
    });
  });

  it("the device's feature table renumbers the feature (probed at the new number)", () => {
    const f = facts({
      featureNumbers: { DMA_BUF: 11, WC_SAMPLE_MMAP_COOKIE: 0xfc05 },
      features: { 0xfc05: SAMPLE_FEATURES[SAMPLE_COOKIE_FEATURE] },
    });
    expect(cookieFeatureRoute.probe(req(IVSHMEM_BAR2()), f)).toMatchObject({ available: true, gives: 'wc' });
    expect(f.asked).toContain('feature64517/get');
    expect(f.asked).not.toContain(`feature${SAMPLE_COOKIE_FEATURE}/get`);
  });

  it('a BAR that is not prefetchable gets no cookie (the driver offers WC on prefetchable BARs only)', () => {
    const f = facts({ regions: [EDU_BAR0()], resourceFile: eduResourceFile() });
    expect(cookieFeatureRoute.probe(req(EDU_BAR0()), f)).toMatchObject({
      available: false,
      reason: 'BAR0 is not prefetchable, and WC_SAMPLE_MMAP_COOKIE makes cookies for prefetchable BARs only',
    });
  });

  it('where PAT already holds another type (a plain mapping came first), the driver routes say the mapping gets it', () => {
    const f = () =>
      facts({ pat: pat([IVSHMEM_BAR2_PHYS + 0x200000n, IVSHMEM_BAR2_PHYS + 0x300000n, 'uncached-minus']) });
    const there = req(IVSHMEM_BAR2(), 'wc', { offset: 0x200000n });
    for (const route of [wcRegionRoute, cookieFeatureRoute]) {
      const p = route.probe(there, f());
      expect(p).toMatchObject({ available: true, gives: 'uc-' });
      expect(p.reason).toMatch(
        /but PAT already holds uc- for \[0x800200000-0x800201000\) .*reserved first: the mapping gets that type/,
      );
      expect(p.needs).toEqual([
        expect.stringMatching(
          /^no other mapping of BAR2 0x200000\+0x1000 while the wc one is made .*unmap the others first/,
        ),
      ]);
    }
    let hint: string | undefined;
    expect(() => {
      try {
        chooseRoute(there, f(), DEFAULT_ROUTES, 'op');
      } catch (e) {
        hint = (e as NotSupportedError).hint;
        throw e;
      }
    }).toThrow(NotSupportedError);
    expect(hint).toMatch(/unmap the others first/);
    // The rest of the BAR is untouched: WC there.
    expect(
      chooseRoute(req(IVSHMEM_BAR2(), 'wc', { offset: 0x100000n }), f(), DEFAULT_ROUTES, 'op').choice,
    ).toMatchObject({ name: 'wc-region', gives: 'wc' });
  });

  it('a range across two reservations of different types cannot be reserved at all', () => {
    const f = facts({
      pat: pat(
        [IVSHMEM_BAR2_PHYS, IVSHMEM_BAR2_PHYS + 0x1000n, 'write-combining'],
        [IVSHMEM_BAR2_PHYS + 0x1000n, IVSHMEM_BAR2_PHYS + 0x2000n, 'uncached-minus'],
      ),
    });
    const p = cookieFeatureRoute.probe(req(IVSHMEM_BAR2(), 'wc', { length: 0x2000 }), f);
    expect(p).toMatchObject({ available: false });
    expect(p.reason).toMatch(/disagree .*the kernel refuses a reservation across them/);
  });

  it('the PAT physical range of a cookie is the BAR address plus its offset (as for every route)', () => {
    // A WC reservation of the first MiB: the vfio-region route reports what PAT holds there.
    const f = facts({ pat: pat([IVSHMEM_BAR2_PHYS, IVSHMEM_BAR2_PHYS + 0x100000n, 'write-combining']) });
    const { choice } = chooseRoute(req(IVSHMEM_BAR2(), 'uc-'), f, DEFAULT_ROUTES, 'op');
    expect(choice).toMatchObject({ name: 'vfio-region', gives: 'wc' });
    expect(choice.downgraded).toMatch(/no route gives uncached-minus/);
  });
});
