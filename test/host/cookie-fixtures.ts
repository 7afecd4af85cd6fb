// Fixture facts for the cookie routes: the ivshmem and edu devices as vfio-pci reports them, their
// sysfs resource files, a kernel command line, feature probe answers and PAT lists, all canned.
import { RouteFacts, DevmemPolicy, FeatureAnswer } from '../../lib/cookie/facts';
import {
  CookieMemAttr,
  CookieRequest,
  MemattrTables,
  RegionView,
  WcRegionType,
  memattrTables,
} from '../../lib/cookie/model';
import { PatSnapshot } from '../../lib/cookie/pat';
import {
  PciResource,
  decodeRegionInfo,
  mappableAreas,
  parsePatMemtypeList,
  parseResourceFile,
  regionName,
} from '../../lib/decode';
import { patLine, resourceLine } from '../fixtures/build';
import {
  eduBar0,
  ivshmemBar2,
  ivshmemResourceFile,
  wcRegion,
  FIXTURE_WC_SUBTYPE,
  FIXTURE_WC_TYPE,
} from '../fixtures/devices';

export { FIXTURE_WC_SUBTYPE, FIXTURE_WC_TYPE };

export function view(buf: Uint8Array): RegionView {
  const info = decodeRegionInfo(buf);
  return {
    index: info.index,
    name: regionName(info.index, info.caps),
    size: info.size,
    offset: info.offset,
    flags: { read: info.flags.read, write: info.flags.write, mmap: info.flags.mmap },
    caps: info.caps,
    mappableAreas: mappableAreas(info),
  };
}

export const IVSHMEM_BAR2 = (): RegionView => view(ivshmemBar2());
export const EDU_BAR0 = (): RegionView => view(eduBar0());
export const WC_REGION = (): RegionView => view(wcRegion());
/** Where the fixture firmware placed ivshmem BAR2 (its sysfs resource line). */
export const IVSHMEM_BAR2_PHYS = 0x800000000n;

/** edu's resource file: BAR0 is 32-bit, non-prefetchable MMIO. */
export const eduResourceFile = (): string =>
  [resourceLine(0xfea00000n, 0xfeafffffn, 0x40200), ...Array.from({ length: 12 }, () => resourceLine(0n, 0n, 0))].join(
    '\n',
  ) + '\n';

export const RELAXED: DevmemPolicy = { relaxed: true, reason: 'the kernel runs with iomem=relaxed' };
export const STRICT: DevmemPolicy = {
  relaxed: false,
  reason: 'CONFIG_IO_STRICT_DEVMEM=y and no iomem=relaxed on the kernel command line',
};
export const UNTOLD: DevmemPolicy = {
  relaxed: undefined,
  reason: 'no iomem=relaxed on the kernel command line, and the kernel configuration is not readable',
};

export function pat(...lines: [bigint, bigint, string][]): PatSnapshot {
  return {
    ok: true,
    entries: parsePatMemtypeList(['PAT memtype list:', ...lines.map(([s, e, t]) => patLine(s, e, t))].join('\n')),
  };
}
export const NO_PAT: PatSnapshot = {
  ok: false,
  reason: 'debugfs is not mounted at /sys/kernel/debug (mounting it was not allowed)',
};

/** vfio-pci on 7.3.4: DMA_BUF (11) offers GET; nothing answers at 14. */
export const FEATURES_73: Record<number, { probe: string; get: string; set: string }> = {
  11: { probe: 'OK', get: 'OK', set: 'EINVAL' },
};
/** A kernel with the memory-attribute series: 14 offers SET. */
export const FEATURES_MEMATTR: Record<number, { probe: string; get: string; set: string }> = {
  ...FEATURES_73,
  14: { probe: 'OK', get: 'EINVAL', set: 'OK' },
};

export interface FactsSpec {
  device?: string;
  regions: RegionView[];
  resourceFile?: string | undefined;
  wcFiles?: number[];
  devmem?: DevmemPolicy;
  pat?: PatSnapshot;
  features?: Record<number, { probe: string; get: string; set: string }>;
  featureNumbers?: Record<string, number>;
  tables?: Partial<MemattrTables>;
  /** BARs reserved write-combining before the device was opened. */
  reserved?: number[];
}

/** RouteFacts from a spec, recording which facts were asked for. */
export class FixtureFacts implements RouteFacts {
  readonly device: string;
  readonly regions: readonly RegionView[];
  readonly tables: MemattrTables;
  readonly asked: string[] = [];
  private readonly spec: FactsSpec;
  private readonly resources: PciResource[] | undefined;

  constructor(spec: FactsSpec) {
    this.spec = spec;
    this.device = spec.device ?? '0000:00:04.0';
    this.regions = spec.regions;
    this.tables = memattrTables(spec.tables);
    const file = 'resourceFile' in spec ? spec.resourceFile : ivshmemResourceFile();
    this.resources = file === undefined ? undefined : parseResourceFile(file);
  }

  resource(bar: number): PciResource | undefined {
    this.asked.push(`resource${bar}`);
    return this.resources?.[bar];
  }

  sysfsWcPath(bar: number): string | undefined {
    return (this.spec.wcFiles ?? [2]).includes(bar)
      ? `/sys/bus/pci/devices/${this.device}/resource${bar}_wc`
      : undefined;
  }

  devmem(): DevmemPolicy {
    this.asked.push('devmem');
    return this.spec.devmem ?? STRICT;
  }

  pat(): PatSnapshot {
    this.asked.push('pat');
    return this.spec.pat ?? pat();
  }

  featureNumber(name: string): number | undefined {
    return (this.spec.featureNumbers ?? { DMA_BUF: 11 })[name];
  }

  feature(index: number, op: 'get' | 'set'): FeatureAnswer {
    this.asked.push(`feature${index}/${op}`);
    const a = (this.spec.features ?? FEATURES_73)[index];
    const answer = a ? a[op] : 'ENOTTY';
    return { supported: answer === 'OK', answer };
  }

  wcReservedBeforeOpen(bar: number): boolean {
    return (this.spec.reserved ?? []).includes(bar);
  }
}

/** The WC region type the fixtures announce for BAR2. */
export const WC_TYPE: WcRegionType = { name: 'fixture-wc', type: FIXTURE_WC_TYPE, subtype: FIXTURE_WC_SUBTYPE, bar: 2 };

/** A cookie request for the first page of `region`. */
export function req(region: RegionView, memattr: CookieMemAttr = 'wc', o: Partial<CookieRequest> = {}): CookieRequest {
  return { region, offset: 0n, length: 0x1000, memattr, strict: memattr === 'wc', route: undefined, ...o };
}
