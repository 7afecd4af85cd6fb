// What routes decide from: the device's regions, its BARs in sysfs, the kernel's command line and
// configuration, feature probes and the PAT list. Routes see the RouteFacts interface only, so
// their decisions are unit-tested on fixtures; DeviceFacts reads the running system, each fact at
// most once per decision (probe every time a cookie is made, never cache across cookies).
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as zlib from 'zlib';
import { PciResource, parseResourceFile } from '../decode';
import * as sysfs from '../system/sysfs';
import { MemattrTables, RegionView } from './model';
import { PatReader, PatReaderOptions, PatSnapshot } from './pat';

/** Whether sysfs BAR mappings survive (and can be made) while a driver such as vfio-pci owns the BAR. */
export interface DevmemPolicy {
  /** true: iomem=relaxed or no IO_STRICT_DEVMEM; false: strict; undefined: could not tell. */
  readonly relaxed: boolean | undefined;
  /** What the decision rests on, in words. */
  readonly reason: string;
}

/**
 * The kernel's rule: CONFIG_IO_STRICT_DEVMEM makes strict the default; `iomem=relaxed` or
 * `iomem=strict` on the command line overrides it (the last one wins, as the kernel parses it).
 */
export function devmemPolicy(cmdline: string | undefined, ioStrictDevmem: string | undefined): DevmemPolicy {
  const iomem = (cmdline ?? '')
    .split(/\s+/)
    .filter((t) => t.startsWith('iomem='))
    .pop();
  if (iomem === 'iomem=relaxed') return { relaxed: true, reason: 'the kernel runs with iomem=relaxed' };
  if (iomem === 'iomem=strict') return { relaxed: false, reason: 'the kernel runs with iomem=strict' };
  if (ioStrictDevmem === 'y')
    return { relaxed: false, reason: 'CONFIG_IO_STRICT_DEVMEM=y and no iomem=relaxed on the kernel command line' };
  if (ioStrictDevmem === 'n') return { relaxed: true, reason: 'CONFIG_IO_STRICT_DEVMEM is not set' };
  return {
    relaxed: undefined,
    reason:
      'no iomem=relaxed on the kernel command line, and the kernel configuration is not readable to tell whether ' +
      'CONFIG_IO_STRICT_DEVMEM (set by most distributions) is on',
  };
}

/** A symbol's value in kernel config text: 'y', 'm', 'n' (for "is not set"), or undefined when absent. */
export function kernelConfigValue(text: string, symbol: string): string | undefined {
  const name = symbol.startsWith('CONFIG_') ? symbol : `CONFIG_${symbol}`;
  for (const line of text.split('\n')) {
    if (line === `# ${name} is not set`) return 'n';
    if (line.startsWith(`${name}=`)) return line.slice(name.length + 1).replace(/^"|"$/g, '');
  }
  return undefined;
}

/** One probe of a feature for one operation. */
export interface FeatureAnswer {
  /** The probe answered 0. */
  readonly supported: boolean;
  /** 'OK', or the errno name the kernel answered (ENOTTY: no such feature here). */
  readonly answer: string;
}

/** What VFIO_DEVICE_FEATURE answered to PROBE, PROBE|GET and PROBE|SET ('OK' or an errno name). */
export interface FeatureProbeAnswers {
  /** PROBE alone. */
  readonly probe: string;
  /** PROBE|GET. */
  readonly get: string;
  /** PROBE|SET. */
  readonly set: string;
}

/** Everything a cookie route decides from, read lazily (each fact at most once per decision). */
export interface RouteFacts {
  /** The device's label. */
  readonly device: string;
  /** The device's regions. */
  readonly regions: readonly RegionView[];
  /** The tables in force for this device. */
  readonly tables: MemattrTables;
  /** The BAR's line of the sysfs `resource` file (physical address, prefetchable flag). */
  resource(bar: number): PciResource | undefined;
  /** The path of `resourceN_wc` when the kernel created that file. */
  sysfsWcPath(bar: number): string | undefined;
  /** Whether sysfs BAR mappings are allowed next to vfio-pci's. */
  devmem(): DevmemPolicy;
  /** The kernel's PAT memtype list, read now. */
  pat(): PatSnapshot;
  /** The number of a feature in the device's feature table (names without the prefix). */
  featureNumber(name: string): number | undefined;
  /** VFIO_DEVICE_FEATURE with PROBE and the given operation. */
  feature(index: number, op: 'get' | 'set'): FeatureAnswer;
  /** Whether this device reserved the BAR write-combining before its fd was opened (reserve.ts). */
  wcReservedBeforeOpen(bar: number): boolean;
}

/** Where the running system keeps what DeviceFacts reads; tests point these at fixture trees. */
export interface HostPaths {
  /** Root of sysfs; default /sys. */
  sysfs?: string;
  /** Root of procfs; default /proc. */
  proc?: string;
  /** Kernel config files to try (plain or .gz); default /boot/config-$(uname -r), /proc/config.gz. */
  kernelConfig?: readonly string[];
  /** Where the PAT list is and whether debugfs may be mounted to read it. */
  pat?: PatReaderOptions;
}

/** What DeviceFacts needs from the device. */
export interface FactsSource {
  /** The device's address. */
  readonly bdf: string;
  /** Its regions. */
  readonly regions: readonly RegionView[];
  /** A feature's number in the device's table, by name. */
  featureNumber(name: string): number | undefined;
  /** The device's probe answers for a feature number (features.ts caches them per open device). */
  probeFeature(index: number): FeatureProbeAnswers;
  /** Whether the device reserved the BAR write-combining before its fd was opened. */
  wcReservedBeforeOpen(bar: number): boolean;
}

function once<T>(f: () => T): () => T {
  let done = false;
  let value: T;
  return () => {
    if (!done) {
      value = f();
      done = true;
    }
    return value;
  };
}

function readConfig(files: readonly string[]): string | undefined {
  for (const f of files) {
    try {
      const raw = fs.readFileSync(f);
      return (f.endsWith('.gz') ? zlib.gunzipSync(raw) : raw).toString('utf8');
    } catch {
      // try the next place
    }
  }
  return undefined;
}

/** The {@link RouteFacts} of a real device on the running system. */
export class DeviceFacts implements RouteFacts {
  /** The device's address. */
  readonly device: string;
  /** Its regions. */
  readonly regions: readonly RegionView[];
  /** The tables in force. */
  readonly tables: MemattrTables;
  private readonly src: FactsSource;
  private readonly paths: HostPaths;
  /** The PAT list, read on first call and then kept for this decision. */
  readonly pat: () => PatSnapshot;
  /** The devmem policy, read on first call and then kept. */
  readonly devmem: () => DevmemPolicy;
  private readonly resources: () => PciResource[] | undefined;

  constructor(src: FactsSource, tables: MemattrTables, paths: HostPaths, pat: PatReader) {
    this.src = src;
    this.device = src.bdf;
    this.regions = src.regions;
    this.tables = tables;
    this.paths = paths;
    this.pat = once(() => pat.read());
    this.devmem = once(() => this.readDevmem());
    this.resources = once(() => {
      const text = sysfs.resourceText(src.bdf, { sysfs: paths.sysfs });
      if (text === undefined) return undefined;
      try {
        return parseResourceFile(text);
      } catch {
        return undefined;
      }
    });
  }

  resource(bar: number): PciResource | undefined {
    return this.resources()?.[bar];
  }

  sysfsWcPath(bar: number): string | undefined {
    const p = path.join(sysfs.devicePath(this.src.bdf, { sysfs: this.paths.sysfs }), `resource${bar}_wc`);
    return fs.existsSync(p) ? p : undefined;
  }

  featureNumber(name: string): number | undefined {
    return this.src.featureNumber(name);
  }

  feature(index: number, op: 'get' | 'set'): FeatureAnswer {
    const answer = this.src.probeFeature(index)[op];
    return { supported: answer === 'OK', answer };
  }

  wcReservedBeforeOpen(bar: number): boolean {
    return this.src.wcReservedBeforeOpen(bar);
  }

  private readDevmem(): DevmemPolicy {
    const proc = this.paths.proc ?? '/proc';
    let cmdline: string | undefined;
    try {
      cmdline = fs.readFileSync(path.join(proc, 'cmdline'), 'utf8').trim();
    } catch {
      cmdline = undefined;
    }
    const files = this.paths.kernelConfig ?? [`/boot/config-${os.release()}`, path.join(proc, 'config.gz')];
    const config = readConfig(files);
    return devmemPolicy(
      cmdline,
      config === undefined ? undefined : (kernelConfigValue(config, 'IO_STRICT_DEVMEM') ?? 'n'),
    );
  }
}
