// DeviceFeatures against a scripted kernel (the dispatch rules of vfio_check_feature): probing
// and its cache, the raw handle, the typed wrappers, errors, and dma-buf export and ownership.
import * as abi from '../../lib/abi';
import { InvalidArgumentError, NotSupportedError, VfioError } from '../../lib/errors';
import {
  BusMasterFeature,
  DeviceFeatures,
  DmaBufFeature,
  DmaLoggingReportFeature,
  DmaLoggingStartFeature,
  Feature,
  LowPowerEntryFeature,
  LowPowerWakeupFeature,
  MigrationFlagsFeature,
  VfTokenFeature,
  isFeatureError,
} from '../../lib/features/device-features';
import { featureNumbers } from '../../lib/features/table';
import { E, ScriptedKernel, fakeHost, vfioPci734 } from './features-kernel';
import { must } from '../support/must';

const { VFIO_DEVICE_FEATURE_GET: GET, VFIO_DEVICE_FEATURE_SET: SET, VFIO_DEVICE_FEATURE_PROBE: PROBE } = abi;

function setup(script = vfioPci734(), numbers = featureNumbers()) {
  const kernel = new ScriptedKernel(script);
  const host = fakeHost();
  return { kernel, host, features: new DeviceFeatures(host, numbers, kernel) };
}

describe('features(): every number of the table, probed once per open device', () => {
  it('gives the typed list 7.3.4 vfio-pci answers', () => {
    const { features } = setup();
    const list = features.list();
    expect(list.map((f) => f.index)).toEqual(Array.from({ length: 14 }, (_, i) => i));
    const offered = list.filter((f) => f.supported).map(({ name, index, get, set }) => ({ name, index, get, set }));
    expect(offered).toEqual([
      { name: 'LOW_POWER_ENTRY', index: 3, get: false, set: true },
      { name: 'LOW_POWER_ENTRY_WITH_WAKEUP', index: 4, get: false, set: true },
      { name: 'LOW_POWER_EXIT', index: 5, get: false, set: true },
      { name: 'DMA_BUF', index: 11, get: true, set: false },
    ]);
    expect(
      must(
        list.find((f) => f.name === 'BUS_MASTER'),
        "list.find((f) => f.name === 'BUS_MASTER')",
      ).answers,
    ).toEqual({
      probe: 'ENOTTY',
      get: 'ENOTTY',
      set: 'ENOTTY',
    });
    expect(
      must(
        list.find((f) => f.name === 'MIG_PRECOPY_INFOv2'),
        "list.find((f) => f.name === 'MIG_PRECOPY_INFOv2')",
      ).answers,
    ).toEqual({
      probe: 'EINVAL',
      get: 'EINVAL',
      set: 'EINVAL',
    });
  });

  it('probes PROBE, PROBE|GET and PROBE|SET with no payload, and caches the answers', () => {
    const { features, kernel } = setup();
    features.list();
    expect(kernel.calls).toHaveLength(14 * 3);
    expect(kernel.calls.slice(33, 36)).toEqual([
      { flags: PROBE | 11, payload: null },
      { flags: PROBE | GET | 11, payload: null },
      { flags: PROBE | SET | 11, payload: null },
    ]);
    features.list();
    expect(features.feature('DMA_BUF').probe({ get: true })).toBe(true);
    expect(kernel.calls).toHaveLength(42);
    features.list({ refresh: true });
    expect(kernel.calls).toHaveLength(84);
  });

  it('probes extra numbers and a table given for one call', () => {
    const { features } = setup(vfioPci734({ 14: { ops: SET, minsz: 8 } }));
    const list = features.list({ numbers: { ZPCI_ERROR: null, DMA_BUF_MEMATTR: 14 }, extraIndices: [20] });
    expect(list.map((f) => `${f.index}:${f.name}`).slice(-2)).toEqual(['14:DMA_BUF_MEMATTR', '20:feature20']);
    expect(list.find((f) => f.index === 14)).toMatchObject({ supported: true, get: false, set: true });
    expect(list.some((f) => f.name === 'ZPCI_ERROR')).toBe(false);
    // The device's own table is unchanged.
    expect(features.feature(14).name).toBe('feature14');
    expect(features.feature(13).name).toBe('ZPCI_ERROR');
  });

  it('a device whose table was overridden names and types by it', () => {
    const { features } = setup(
      vfioPci734({ 12: { ops: GET, minsz: 16 } }),
      featureNumbers({ MIG_PRECOPY_INFOv2: null, DMA_BUF: 12, DMA_BUF_OLD: 11 }),
    );
    expect(features.feature('DMA_BUF')).toBeInstanceOf(DmaBufFeature);
    expect(features.feature('DMA_BUF').index).toBe(12);
    expect(features.feature(11).name).toBe('DMA_BUF_OLD');
    expect(features.feature(11)).not.toBeInstanceOf(DmaBufFeature);
  });
});

describe('the raw handle', () => {
  it('probe() answers per operation', () => {
    const { features } = setup();
    const lp = features.feature(3);
    expect([lp.probe(), lp.probe({ set: true }), lp.probe({ get: true }), lp.probe({ get: true, set: true })]).toEqual([
      true,
      true,
      false,
      false,
    ]);
    expect(features.feature(10).probe()).toBe(false);
  });

  it("get() sends the payload with GET and returns what the kernel wrote (a driver's own feature: the unsafe path)", () => {
    const { features, kernel } = setup(
      vfioPci734({
        20: {
          ops: GET,
          minsz: 8,
          handler: (_f, p) => {
            must(p, 'p')[0] = 0xab;
            return 0;
          },
        },
      }),
    );
    const out = features.feature(20).get(8, { unsafe: true });
    expect(out[0]).toBe(0xab);
    expect(kernel.realCalls).toEqual([{ flags: GET | 20, payload: new Uint8Array(8) }]);
    expect(kernel.unsafeCalls).toEqual([GET | 20]);
    const given = new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]);
    features.feature(20).get(given, { unsafe: true });
    expect(given[0]).toBe(1); // a copy goes to the kernel; the caller's bytes stay theirs
  });

  it('a payload for a feature not known to carry plain values is refused unless the caller says unsafe', () => {
    const { features, kernel } = setup(vfioPci734({ 20: { ops: GET, minsz: 8, handler: () => 0 } }));
    const err = (() => {
      try {
        features.feature(20).get(8);
      } catch (e) {
        return e;
      }
    })() as VfioError;
    expect(err).toBeInstanceOf(InvalidArgumentError);
    expect(err).toMatchObject({
      code: 'EINVAL',
      errno: undefined,
      op: 'Feature(feature20).get',
      device: '0000:00:04.0',
    });
    expect(err.hint).toMatch(/\{ unsafe: true \}/);
    expect(kernel.realCalls).toEqual([]);
    // Without a payload (a probe, a SET that takes none) any feature may be called.
    expect(() => features.feature(20).ioctl({ probe: true, get: true })).not.toThrow();
    // The known features with plain payloads take the safe path, no option needed (the
    // scripted vfio-pci answers ENOTTY for migration: the call reached it).
    expect(() => features.feature('MIG_DATA_SIZE').ioctl({ probe: true, get: true }, new Uint8Array(8))).toThrow(
      /ENOTTY/,
    );
    expect(kernel.calls.at(-1)).toEqual({ flags: PROBE | GET | 9, payload: new Uint8Array(8) });
    expect(kernel.unsafeCalls).toEqual([]);
  });

  it('set() sends SET and returns the ioctl result; ioctl() passes any flags', () => {
    const { features, kernel } = setup();
    expect(features.feature('LOW_POWER_EXIT').set()).toBe(0);
    expect(features.feature(3).ioctl({ probe: true, set: true })).toBe(0);
    expect(kernel.calls.map((c) => c.flags)).toEqual([SET | 5, PROBE | SET | 3]);
  });

  it('an unknown number is a not-supported error naming the op and the number', () => {
    const { features } = setup();
    const err = (() => {
      try {
        features.feature(42).get(8, { unsafe: true });
      } catch (e) {
        return e;
      }
    })() as VfioError;
    expect(err).toBeInstanceOf(NotSupportedError);
    expect(err).toMatchObject({ code: 'ENOTTY', errno: E.ENOTTY, op: 'VFIO_DEVICE_FEATURE', device: '0000:00:04.0' });
    expect(isFeatureError(err) && err.feature).toEqual({ index: 42, name: 'feature42', ops: 'GET' });
    expect(err.message).toContain('(feature 42 (feature42), GET)');
    expect(err.hint).toMatch(/not implemented by this kernel or driver/);
    expect(err.hint).toMatch(/numbers from 13 up differ/);
  });

  it("a GET the feature does not offer is the kernel's EINVAL, with a hint to probe", () => {
    const { features } = setup();
    const err = (() => {
      try {
        features.feature(3).get();
      } catch (e) {
        return e;
      }
    })() as VfioError;
    expect(err).toBeInstanceOf(InvalidArgumentError);
    expect(err.errno).toBe(E.EINVAL);
    expect(err.hint).toMatch(/probe\(\{ get: true \}\)/);
  });

  it('refuses names outside the table and numbers outside 16 bits', () => {
    const { features } = setup();
    expect(() => features.feature('DMA_BUF_MEMATTR')).toThrow(/no feature named 'DMA_BUF_MEMATTR'/);
    expect(() => features.feature(0x10000)).toThrow(InvalidArgumentError);
  });
});

describe('typed wrappers', () => {
  it('known names get their typed handle', () => {
    const { features } = setup();
    expect(features.feature('LOW_POWER_ENTRY')).toBeInstanceOf(LowPowerEntryFeature);
    expect(features.feature(4)).toBeInstanceOf(LowPowerWakeupFeature);
    expect(features.feature('VFIO_DEVICE_FEATURE_MIGRATION')).toBeInstanceOf(MigrationFlagsFeature);
    expect(features.feature('ZPCI_ERROR').constructor).toBe(Feature);
  });

  it('low power: entry, entry with wakeup (eventfd then a reserved word), exit', () => {
    const { features, kernel } = setup();
    (features.feature('LOW_POWER_ENTRY') as LowPowerEntryFeature).enter();
    (features.feature('LOW_POWER_ENTRY_WITH_WAKEUP') as LowPowerWakeupFeature).enter(9);
    expect(kernel.realCalls).toEqual([
      { flags: SET | 3, payload: null },
      { flags: SET | 4, payload: new Uint8Array([9, 0, 0, 0, 0, 0, 0, 0]) },
    ]);
    expect(() => (features.feature(4) as LowPowerWakeupFeature).enter(-1)).toThrow(InvalidArgumentError);
    expect(kernel.realCalls).toHaveLength(2);
  });

  it('migration flags decode from GET', () => {
    const { features, kernel } = setup(
      vfioPci734({
        1: {
          ops: GET,
          minsz: 8,
          handler: (_f, p) => {
            must(p, 'p')[0] = abi.VFIO_MIGRATION_STOP_COPY | abi.VFIO_MIGRATION_PRE_COPY;
            return 0;
          },
        },
      }),
    );
    const m = (features.feature('MIGRATION') as MigrationFlagsFeature).read();
    expect(m).toMatchObject({ stopCopy: true, p2p: false, preCopy: true });
    expect(m.states).toContain('PRE_COPY');
    expect(kernel.realCalls[0].flags).toBe(GET | 1);
  });

  it('migration on plain vfio-pci: ENOTTY with the variant-driver hint', () => {
    const { features } = setup();
    expect(() => (features.feature('MIGRATION') as MigrationFlagsFeature).read()).toThrow(
      /variant drivers with migration support/,
    );
  });

  it('VF token: a UUID in text byte order; anything else is refused before the kernel sees it', () => {
    const { features, kernel } = setup(vfioPci734({ 0: { ops: SET, minsz: 16 } }));
    const token = features.feature('PCI_VF_TOKEN') as VfTokenFeature;
    token.setToken('00112233-4455-6677-8899-aabbccddeeff');
    expect(kernel.realCalls[0]).toEqual({
      flags: SET | 0,
      payload: Uint8Array.from({ length: 16 }, (_, i) => i * 0x11),
    });
    expect(() => token.setToken('not-a-uuid')).toThrow(InvalidArgumentError);
    expect(() => token.setToken('00112233-4455-6677-8899-aabbccddeef')).toThrow(/is not a UUID/);
    expect(kernel.realCalls).toHaveLength(1);
  });

  it('bus master on a PCI device: ENOTTY whose hint points at the command register', () => {
    const { features } = setup();
    const err = (() => {
      try {
        (features.feature('BUS_MASTER') as BusMasterFeature).setMaster(true);
      } catch (e) {
        return e;
      }
    })() as VfioError;
    expect(err).toBeInstanceOf(NotSupportedError);
    expect(err.hint).toMatch(/CDX devices only.*dev\.config\.busMaster = true/);
  });

  it('bus master on a CDX device sends the op word', () => {
    const { features, kernel } = setup(vfioPci734({ 10: { ops: SET, minsz: 4 } }));
    (features.feature('BUS_MASTER') as BusMasterFeature).setMaster(true);
    (features.feature('BUS_MASTER') as BusMasterFeature).setMaster(false);
    expect(kernel.realCalls.map((c) => [...must(c.payload, 'c.payload')])).toEqual([
      [1, 0, 0, 0],
      [0, 0, 0, 0],
    ]);
  });

  it("DMA logging: start passes validated ranges; report decodes the kernel's bitmap", () => {
    const { features, kernel } = setup(vfioPci734({ 6: { ops: SET, minsz: 16 }, 8: { ops: GET, minsz: 32 } }));
    (features.feature('DMA_LOGGING_START') as DmaLoggingStartFeature).start([
      { start: 0x10000n, length: 0x4000n },
      { start: 0x100000n, length: 0x1000n },
    ]);
    expect(kernel.loggingStarts).toEqual([{ pageSize: 4096n, ranges: [0x10000n, 0x4000n, 0x100000n, 0x1000n] }]);
    kernel.reportBits = [0, 1, 2, 65];
    const rep = (features.feature('DMA_LOGGING_REPORT') as DmaLoggingReportFeature).report(0x10000n, 0x100000n);
    expect(rep.bitmap.length).toBe((256 / 8) * 1); // 256 pages → 4 u64 words
    expect(rep.dirty).toEqual([
      { start: 0x10000n, length: 0x3000n },
      { start: 0x10000n + 65n * 0x1000n, length: 0x1000n },
    ]);
    expect(rep.dirtyPages).toBe(4);
    expect(() =>
      (features.feature('DMA_LOGGING_START') as DmaLoggingStartFeature).start([{ start: 0x800n, length: 0x1000n }]),
    ).toThrow(InvalidArgumentError);
  });

  it("DMA logging renumbered by the table is refused (the addon issues the header's numbers)", () => {
    const { features } = setup(vfioPci734(), featureNumbers({ DMA_LOGGING_START: 30 }));
    expect(() =>
      (features.feature('DMA_LOGGING_START') as DmaLoggingStartFeature).start([{ start: 0n, length: 0x1000n }]),
    ).toThrow(NotSupportedError);
  });
});
