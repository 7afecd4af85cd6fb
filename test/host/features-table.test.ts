// The feature-number table, probe interpretation and the probe report: pure functions.
import { InvalidArgumentError } from '../../lib/errors';
import * as abi from '../../lib/abi';
import {
  DEFAULT_FEATURE_NUMBERS,
  FeatureAnswers,
  KNOWN_FEATURE_NAMES,
  answered,
  featureIndexIn,
  featureNameIn,
  featureNumbers,
  formatIndexList,
  formatProbeReport,
  interpretProbe,
  probeReport,
} from '../../lib/features/table';

describe('the default table', () => {
  it('is the 7.3 header: the same names and numbers as abi', () => {
    expect([...KNOWN_FEATURE_NAMES]).toEqual([...abi.KNOWN_FEATURES]);
    for (const name of KNOWN_FEATURE_NAMES) {
      expect(DEFAULT_FEATURE_NUMBERS[name]).toBe(
        (abi as unknown as Record<string, number>)[`VFIO_DEVICE_FEATURE_${name}`],
      );
    }
    expect(DEFAULT_FEATURE_NUMBERS.DMA_BUF).toBe(11);
    expect(DEFAULT_FEATURE_NUMBERS.ZPCI_ERROR).toBe(13);
    expect(Object.isFrozen(DEFAULT_FEATURE_NUMBERS)).toBe(true);
  });

  it('looks names up both ways, with the uAPI prefix or the feature<N> spelling', () => {
    expect(featureNameIn(DEFAULT_FEATURE_NUMBERS, 3)).toBe('LOW_POWER_ENTRY');
    expect(featureNameIn(DEFAULT_FEATURE_NUMBERS, 14)).toBe('feature14');
    expect(featureIndexIn(DEFAULT_FEATURE_NUMBERS, 'VFIO_DEVICE_FEATURE_DMA_BUF')).toBe(11);
    expect(featureIndexIn(DEFAULT_FEATURE_NUMBERS, 'feature42')).toBe(42);
    expect(featureIndexIn(DEFAULT_FEATURE_NUMBERS, 'DMA_BUF_MEMATTR')).toBeUndefined();
  });
});

describe('overrides for kernels that number things differently', () => {
  it("adds a pending series' feature and renames the number it takes", () => {
    // A kernel carrying the dma-buf attribute series at 13/14 and no zPCI error feature.
    const t = featureNumbers({ ZPCI_ERROR: null, DMA_BUF_REVOKE: 13, VFIO_DEVICE_FEATURE_DMA_BUF_MEMATTR: 14 });
    expect(t.DMA_BUF_REVOKE).toBe(13);
    expect(t.DMA_BUF_MEMATTR).toBe(14);
    expect('ZPCI_ERROR' in t).toBe(false);
    expect(featureNameIn(t, 13)).toBe('DMA_BUF_REVOKE');
    expect(featureNameIn(t, 14)).toBe('DMA_BUF_MEMATTR');
    expect(t.DMA_BUF).toBe(11);
    // The default is untouched.
    expect(DEFAULT_FEATURE_NUMBERS.ZPCI_ERROR).toBe(13);
  });

  it('moves a known feature', () => {
    const t = featureNumbers({ ZPCI_ERROR: 20, DMA_BUF_MEMATTR: 13 });
    expect([t.ZPCI_ERROR, t.DMA_BUF_MEMATTR]).toEqual([20, 13]);
  });

  it('refuses two names on one number, naming both', () => {
    expect(() => featureNumbers({ DMA_BUF_MEMATTR: 13 })).toThrow(
      /ZPCI_ERROR and DMA_BUF_MEMATTR would both be number 13/,
    );
    expect(() => featureNumbers({ DMA_BUF: 3 })).toThrow(/LOW_POWER_ENTRY and DMA_BUF/);
  });

  it('refuses numbers outside 16 bits and names that are not identifiers', () => {
    expect(() => featureNumbers({ X: 0x10000 })).toThrow(/outside 0..0xffff/);
    expect(() => featureNumbers({ X: -1 })).toThrow(InvalidArgumentError);
    expect(() => featureNumbers({ X: 1.5 })).toThrow(InvalidArgumentError);
    expect(() => featureNumbers({ 'a b': 20 })).toThrow(/not an identifier/);
  });

  it('applies on top of another table', () => {
    const base = featureNumbers({ ZPCI_ERROR: null, DMA_BUF_REVOKE: 13 });
    const t = featureNumbers({ DMA_BUF_MEMATTR: 14 }, base);
    expect([t.DMA_BUF_REVOKE, t.DMA_BUF_MEMATTR, t.ZPCI_ERROR]).toEqual([13, 14, undefined]);
  });
});

// What 7.3.4's vfio-pci answered for every number 0..15 on edu, ivshmem and nvme alike.
const ENOTTY: FeatureAnswers = { probe: 'ENOTTY', get: 'ENOTTY', set: 'ENOTTY' };
const MEASURED: Record<number, FeatureAnswers> = {
  3: { probe: 'OK', get: 'EINVAL', set: 'OK' },
  4: { probe: 'OK', get: 'EINVAL', set: 'OK' },
  5: { probe: 'OK', get: 'EINVAL', set: 'OK' },
  11: { probe: 'OK', get: 'OK', set: 'EINVAL' },
  12: { probe: 'EINVAL', get: 'EINVAL', set: 'EINVAL' },
};
const infos = Array.from({ length: 16 }, (_, i) =>
  interpretProbe(featureNameIn(DEFAULT_FEATURE_NUMBERS, i), i, MEASURED[i] ?? ENOTTY),
);

describe('probe interpretation', () => {
  it('turns PROBE answers into get/set offers', () => {
    expect(infos[3]).toMatchObject({ name: 'LOW_POWER_ENTRY', supported: true, get: false, set: true });
    expect(infos[11]).toMatchObject({ name: 'DMA_BUF', supported: true, get: true, set: false });
    expect(infos[10]).toMatchObject({ name: 'BUS_MASTER', supported: false, get: false, set: false });
    // EINVAL to every probe: the kernel knows the number but offers nothing under it.
    expect(infos[12]).toMatchObject({ supported: false, get: false, set: false });
    expect(answered(infos[12])).toBe(true);
    expect(answered(infos[1])).toBe(false);
    expect(infos[15].name).toBe('feature15');
  });
});

describe('probe report', () => {
  const report = probeReport('0000:00:03.0', [...infos].reverse());

  it('says which numbers answered and which features are offered', () => {
    expect(report.entries.map((e) => e.index)).toEqual(Array.from({ length: 16 }, (_, i) => i));
    expect(report.answered).toEqual([3, 4, 5, 11, 12]);
    expect(report.silent).toEqual([0, 1, 2, 6, 7, 8, 9, 10, 13, 14, 15]);
    expect(report.supported).toEqual(['LOW_POWER_ENTRY', 'LOW_POWER_ENTRY_WITH_WAKEUP', 'LOW_POWER_EXIT', 'DMA_BUF']);
  });

  it('formats as a table with one line per number and a summary', () => {
    const text = formatProbeReport(report);
    const lines = text.split('\n');
    expect(lines[0]).toBe('VFIO_DEVICE_FEATURE probes on 0000:00:03.0');
    expect(lines[1]).toMatch(/index\s+name\s+PROBE\s+\+GET\s+\+SET\s+offers/);
    expect(lines).toHaveLength(2 + 16 + 2);
    expect(lines.find((l) => /\b11\s+DMA_BUF\b/.test(l))).toMatch(/DMA_BUF\s+OK\s+OK\s+EINVAL\s+get$/);
    expect(lines.find((l) => /\b3\s+LOW_POWER_ENTRY\b/.test(l))).toMatch(/OK\s+EINVAL\s+OK\s+set$/);
    expect(lines.find((l) => /\b10\s+BUS_MASTER\b/.test(l))).toMatch(/ENOTTY\s+ENOTTY\s+ENOTTY\s+-$/);
    expect(lines[lines.length - 2]).toBe('answered: 3–5, 11, 12');
    expect(lines[lines.length - 1]).toBe('ENOTTY (unknown to this kernel or driver): 0–2, 6–10, 13–15');
  });

  it('collapses runs of three or more numbers', () => {
    expect(formatIndexList([])).toBe('none');
    expect(formatIndexList([5, 3, 4])).toBe('3–5');
    expect(formatIndexList([1, 2, 4, 4])).toBe('1, 2, 4');
    expect(formatIndexList([0, 1, 2, 6, 7, 8, 9, 10, 13])).toBe('0–2, 6–10, 13');
  });
});
