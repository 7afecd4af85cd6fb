// A cookie registry on the host for tests: ordinary files stand in for the device fd,
// `resource2_wc` and dma-bufs (real mmaps of them), fixture sysfs/proc/debugfs trees, and a PAT
// list the test writes the way the kernel would; feature SETs are recorded.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { DmaBuf } from '../../lib/dma/dmabuf';
import { CookieHost, CookieRegistry } from '../../lib/cookie/registry';
import { FeatureProbeAnswers } from '../../lib/cookie/facts';
import { MemattrTables, WcRegionType } from '../../lib/cookie/model';
import { decodeRegionInfo } from '../../lib/decode';
import * as abi from '../../lib/abi';
import { Mapping } from '../../lib/memory/mapping';
import { native } from '../../lib/addon/native';
import { Region, RegionHost } from '../../lib/device/region';
import { patLine, regionInfo, typeCap } from '../fixtures/build';
import { FIXTURE_WC_SUBTYPE, FIXTURE_WC_TYPE, ivshmemResourceFile } from '../fixtures/devices';

export const PAGE = BigInt(native().constants.PAGE_SIZE);
export const BDF = '0000:00:04.0';
export const BAR = 0x800000000n;
export const MiB = 0x100000;
export const RW = abi.VFIO_REGION_INFO_FLAG_READ | abi.VFIO_REGION_INFO_FLAG_WRITE | abi.VFIO_REGION_INFO_FLAG_MMAP;
export const BAR2_OFFSET = 0x2000000n; // small file offsets: the stand-in device fd is an ordinary sparse file
export const WC9_OFFSET = 0x3000000n;
export const WC_TYPE: WcRegionType = { name: 'fixture-wc', type: FIXTURE_WC_TYPE, subtype: FIXTURE_WC_SUBTYPE, bar: 2 };

export interface World {
  root: string;
  devFd: number;
  devFile: string;
  wcFile: string;
  registry: CookieRegistry;
  bar2: Region;
  wc9: Region;
  owned: Set<{ close(): void }>;
  tracked: Set<Mapping>;
  featureSets: { index: number; payload: Uint8Array }[];
  exported: DmaBuf[];
  setPat(...lines: [bigint, bigint, string][]): void;
  setCmdline(s: string): void;
}

const open: World[] = [];

export function world(
  o: { features?: Record<number, FeatureProbeAnswers>; wcRegion?: boolean; tables?: Partial<MemattrTables> } = {},
): World {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'vfio-cookie-'));
  const dev = path.join(root, 'sys/bus/pci/devices', BDF);
  fs.mkdirSync(dev, { recursive: true });
  fs.writeFileSync(path.join(dev, 'resource'), ivshmemResourceFile());
  const wcFile = path.join(dev, 'resource2_wc');
  fs.writeFileSync(wcFile, Buffer.alloc(4 * MiB));
  fs.mkdirSync(path.join(root, 'proc'));
  fs.mkdirSync(path.join(root, 'debug/x86'), { recursive: true });
  const devFile = path.join(root, 'vfio-device');
  fs.writeFileSync(devFile, '');
  fs.truncateSync(devFile, Number(WC9_OFFSET) + 4 * MiB);
  const devFd = native().open(devFile, native().constants.O_RDWR | native().constants.O_CLOEXEC);
  expect(devFd).toBeGreaterThanOrEqual(0);

  const tracked = new Set<Mapping>();
  const owned = new Set<{ close(): void }>();
  const exported: DmaBuf[] = [];
  const regionHost: RegionHost = {
    label: BDF,
    fd: () => devFd,
    track: (m) => {
      tracked.add(m);
      registry.noticeMapping(m);
    },
    untrack: (m) => tracked.delete(m),
    exportDmaBuf: (index, ranges) => {
      // A dma-buf stand-in: an fd of its own whose offset 0 is the range's first byte.
      const file = path.join(root, `dmabuf-${exported.length}`);
      fs.writeFileSync(file, Buffer.alloc(Number(ranges[0].length)));
      const fd = native().open(file, native().constants.O_RDWR | native().constants.O_CLOEXEC);
      const buf = new DmaBuf(fd, {
        label: BDF,
        regionIndex: index,
        regionName: 'BAR2',
        ranges: [{ offset: BigInt(ranges[0].offset), length: BigInt(ranges[0].length) }],
      });
      exported.push(buf);
      return buf;
    },
  };
  const bar2 = new Region(
    decodeRegionInfo(regionInfo({ flags: RW, index: 2, size: BigInt(4 * MiB), offset: BAR2_OFFSET })),
    regionHost,
  );
  const wc9 = new Region(
    decodeRegionInfo(
      regionInfo({
        flags: RW | abi.VFIO_REGION_INFO_FLAG_CAPS,
        index: 9,
        size: BigInt(4 * MiB),
        offset: WC9_OFFSET,
        caps: [typeCap(FIXTURE_WC_TYPE, FIXTURE_WC_SUBTYPE)],
      }),
    ),
    regionHost,
  );
  const featureSets: { index: number; payload: Uint8Array }[] = [];
  const features = o.features ?? { 11: { probe: 'OK', get: 'OK', set: 'EINVAL' } };
  const host: CookieHost = {
    bdf: BDF,
    regions: o.wcRegion ? [bar2, wc9] : [bar2],
    fd: () => devFd,
    mappings: () => [...tracked],
    own: (r) => owned.add(r),
    disown: (r) => owned.delete(r),
    featureNumber: (name) => (name === 'DMA_BUF' ? 11 : undefined),
    probeFeature: (i) => features[i] ?? { probe: 'ENOTTY', get: 'ENOTTY', set: 'ENOTTY' },
    setFeature: (index, payload) => {
      featureSets.push({ index, payload: new Uint8Array(payload) });
    },
    getFeature: (index) => {
      throw new Error(`no GET of feature ${index} expected here`);
    },
    wcReservedBeforeOpen: () => false,
  };
  const registry = new CookieRegistry(host, {
    paths: {
      sysfs: path.join(root, 'sys'),
      proc: path.join(root, 'proc'),
      kernelConfig: [],
      pat: { debugfs: path.join(root, 'debug'), mountDebugfs: false },
    },
    tables: { ...(o.wcRegion ? { wcRegionTypes: [WC_TYPE] } : {}), ...o.tables },
    pageSize: PAGE,
  });
  const w: World = {
    root,
    devFd,
    devFile,
    wcFile,
    registry,
    bar2,
    wc9,
    owned,
    tracked,
    featureSets,
    exported,
    setPat: (...lines) =>
      fs.writeFileSync(
        path.join(root, 'debug/x86/pat_memtype_list'),
        ['PAT memtype list:', ...lines.map(([s, e, t]) => patLine(s, e, t))].join('\n') + '\n',
      ),
    setCmdline: (s) => fs.writeFileSync(path.join(root, 'proc/cmdline'), `${s}\n`),
  };
  w.setPat();
  w.setCmdline('console=ttyS0 iomem=relaxed');
  open.push(w);
  return w;
}

/** Closes every world's cookies, mappings and fd (call from afterEach). */
export function cleanupWorlds(): void {
  for (const w of open.splice(0)) {
    for (const c of w.registry.cookies) c.close();
    for (const m of [...w.tracked]) m.close();
    native().close(w.devFd);
    fs.rmSync(w.root, { recursive: true, force: true });
  }
}

/** What /proc/self/fd/N points at now, or undefined when N is closed. */
export function fdTarget(fd: number): string | undefined {
  try {
    return fs.readlinkSync(`/proc/self/fd/${fd}`);
  } catch {
    return undefined;
  }
}
