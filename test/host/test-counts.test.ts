// npm test's honest counts (scripts/test/counts.js) and its matrix (scripts/test/configs.js):
// what a jest run records, how a run is judged against its declaration, and that the declared
// files are the guest suite's real files.
import * as fs from 'fs';
import * as path from 'path';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const counts = require('../../scripts/test/counts');
// eslint-disable-next-line @typescript-eslint/no-require-imports
const configs = require('../../scripts/test/configs');

const root = path.resolve(__dirname, '..', '..');

/** jest's aggregated results, as much of them as the reporter reads. */
function results(files: Record<string, Array<[string, string, string[]?]>>) {
  const testResults = Object.entries(files).map(([file, tests]) => ({
    testFilePath: path.join(root, file),
    testResults: tests.map(([title, status, ancestorTitles = []]) => ({ title, status, ancestorTitles })),
  }));
  const all = testResults.flatMap((f) => f.testResults);
  const n = (s: string) => all.filter((t) => t.status === s).length;
  return {
    testResults,
    numPassedTests: n('passed'),
    numFailedTests: n('failed'),
    numPendingTests: n('pending'),
    numTodoTests: n('todo'),
    numTotalTests: all.length,
    numRuntimeErrorTestSuites: 0,
  };
}

const RUN = results({
  'dist/test/guest/dma.test.js': [
    ['maps', 'passed'],
    ['unmaps', 'passed'],
    ['cdev only', 'pending', ['iommufd [skipped: no /dev/iommu]']],
    ['cdev too', 'pending', ['iommufd [skipped: no /dev/iommu]']],
  ],
  'dist/test/guest/smoke.test.js': [
    ['boots', 'passed'],
    ['later', 'todo'],
  ],
});

describe('the counts reporter', () => {
  it('records files, counts, skip reasons (from the nearest title that gives one) and missing gating variables', () => {
    const rec = counts.summariseRun(RUN, { rootDir: root, requireEnv: ['A', 'B'], env: { A: '1' } });
    expect(rec).toMatchObject({ numPassedTests: 3, numPendingTests: 2, numTodoTests: 1, numTotalTests: 6 });
    expect(rec.files).toEqual(['dist/test/guest/dma.test.js', 'dist/test/guest/smoke.test.js']);
    expect(rec.skips).toEqual({ 'no /dev/iommu': 2, [counts.NO_REASON]: 1 });
    expect(rec.missingEnv).toEqual(['B']);
    expect(counts.skipReason(['a [skipped: outer]', 'b [skipped: inner]'])).toBe('inner');
  });

  it('writes its record to the file it is given, as jest calls it', () => {
    const out = path.join(root, '.vm-work', `counts-test-${process.pid}.json`);
    fs.mkdirSync(path.dirname(out), { recursive: true });
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const Reporter = require('../../scripts/test/reporter');
    new Reporter({ rootDir: root }, { outputFile: out, requireEnv: [] }).onRunComplete(new Set(), RUN);
    expect(counts.readRecord(out).numPassedTests).toBe(3);
    fs.rmSync(out);
  });
});

describe('judging a run against its declaration', () => {
  const rec = counts.summariseRun(RUN, { rootDir: root, requireEnv: [], env: {} });
  const decl = { files: ['guest/dma.test', 'guest/smoke.test'], minTests: 3 };

  it('is green when the declared files ran and enough tests executed', () => {
    const r = counts.judge('x/type1', decl, rec, 0);
    expect(r).toMatchObject({ passed: 3, failed: 0, skipped: 3, executed: 3, problems: [] });
    expect(r.skips['no /dev/iommu']).toBe(2);
  });

  it('fails a run that executed fewer tests than declared, even with no failing test', () => {
    const r = counts.judge('x', { ...decl, minTests: 4 }, rec, 0);
    expect(r.failed).toBe(1);
    expect(r.problems).toEqual(['3 tests executed, fewer than the 4 declared']);
  });

  it('counts skipped tests as not executed', () => {
    const skippedAll = counts.summariseRun(results({ 'dist/test/guest/dma.test.js': [['a', 'pending']] }), {
      rootDir: root,
    });
    expect(counts.judge('x', { minTests: 1 }, skippedAll, 0).problems).toEqual([
      '0 tests executed, fewer than the 1 declared',
    ]);
  });

  it('fails when a declared file did not run, when jest found no tests, or a gating variable is missing', () => {
    expect(counts.judge('x', { files: ['guest/reset.test'] }, rec, 0).problems).toEqual([
      'declared test files that did not run: guest/reset.test',
    ]);
    const none = counts.summariseRun(results({}), { rootDir: root });
    expect(counts.judge('x', {}, none, 1).problems).toEqual(['jest found no tests', 'jest exited 1']);
    const gated = counts.summariseRun(RUN, { rootDir: root, requireEnv: ['VFIO_VM_SAMPLE_DRIVER'], env: {} });
    expect(counts.judge('x', {}, gated, 0).problems).toEqual(['gating variables not set: VFIO_VM_SAMPLE_DRIVER']);
  });

  it('fails a run with no record, and one where jest failed outside any test', () => {
    expect(counts.judge('x', decl, undefined, 0)).toMatchObject({
      failed: 1,
      problems: ['no results (the run did not complete)'],
    });
    expect(counts.judge('x', decl, rec, 1).problems).toEqual(['jest exited 1']);
  });

  it('prints counts, time, problems and skip reasons, most frequent first', () => {
    const lines = counts.summaryLines({ ...counts.judge('6.1/type1', { minTests: 9 }, rec, 0), ms: 61_000 });
    expect(lines[0]).toMatch(/^6\.1\/type1 +3 passed, 1 failed, 3 skipped, 61 s$/);
    expect(lines[1]).toMatch(/FAILED: 3 tests executed, fewer than the 9 declared/);
    expect(lines[2]).toMatch(/skipped 2: no \/dev\/iommu/);
    expect(lines[3]).toMatch(/skipped 1: no reason given/);
  });
});

describe('the matrix of guest configurations', () => {
  const guestFiles = fs
    .readdirSync(path.join(root, 'test', 'guest'))
    .filter((f) => f.endsWith('.test.ts'))
    .map((f) => `guest/${f.replace(/\.ts$/, '')}`)
    .sort();

  it('declares every guest test file, in the suite, the heavy list, the sample driver list or a device of its own', () => {
    expect(
      [...configs.GUEST_SUITE, ...configs.HEAVY_SUITE, ...configs.SAMPLE_SUITE, ...configs.OWN_DEVICE_SUITE].sort(),
    ).toEqual(guestFiles);
  });

  it('runs the heavy files in the default configuration only', () => {
    const runs = (pass: { all?: boolean; files: string[] }, file: string) => {
      const patterns: string[] = configs.passPattern(pass);
      return patterns.length === 0 || patterns.some((p) => new RegExp(p, 'i').test(`dist/test/${file}.js`));
    };
    for (const c of configs.GUEST_CONFIGS)
      for (const p of c.passes)
        for (const f of configs.HEAVY_SUITE)
          expect([c.name, p.name, f, runs(p, f)]).toEqual([c.name, p.name, f, c.name === 'default']);
    // A whole-suite pass that leaves the heavy files out still runs every other file.
    const sixOne = configs.GUEST_CONFIGS.find((c: { name: string }) => c.name === '6.1').passes[0];
    for (const f of [...configs.GUEST_SUITE, ...configs.SAMPLE_SUITE]) expect([f, runs(sixOne, f)]).toEqual([f, true]);
  });

  it('gives every pass a minimum, declared files that exist, and boots a pinned kernel or the custom one', () => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const pins = require('../../vm/kernels.json');
    const names = new Set([...pins.kernels.map((k: { name: string }) => k.name), 'custom']);
    for (const c of configs.GUEST_CONFIGS) {
      expect([c.name, names.has(c.kernel)]).toEqual([c.name, true]);
      expect(configs.runOptions(c).kernel).toBe(c.kernel);
      for (const p of c.passes) {
        expect([c.name, p.name, p.minTests > 0]).toEqual([c.name, p.name, true]);
        for (const f of p.files) expect(guestFiles).toContain(f);
      }
    }
    expect(configs.GUEST_CONFIGS.find((c: { name: string }) => c.name === 'sample').passes[0].requireEnv).toEqual([
      'VFIO_VM_SAMPLE_DRIVER',
    ]);
  });

  it("selects exactly a pass's files with its path pattern", () => {
    const re = new RegExp(configs.pattern(['guest/dma.test', 'guest/irq.test']));
    expect(re.test('/p/dist/test/guest/dma.test.js')).toBe(true);
    expect(re.test('/p/dist/test/guest/irq.test.js')).toBe(true);
    expect(re.test('/p/dist/test/guest/dma-edu.js')).toBe(false);
    expect(re.test('/p/dist/test/guest/sample-driver-dmabuf.test.js')).toBe(false);
  });
});
