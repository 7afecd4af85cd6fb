// Every skipped guest test says why: npm test's summary lists the reasons it reads from the
// titles ("[skipped: REASON]", scripts/test/counts.js), and a skip without one shows as "no
// reason given". Guest tests skip only through describeIf / itIf (test/guest/env.ts), which put
// the reason in the title; this static check refuses any other way to skip in test/guest.
import * as fs from 'fs';
import * as path from 'path';

const guestDir = path.resolve(__dirname, '..', 'guest');
const HELPERS = 'env.ts';

/** The source without comments and string contents, so prose about skips does not count. */
function code(source: string): string {
  return source
    .replace(/\/\*[\s\S]*?\*\//g, '')
    .replace(/\/\/[^\n]*/g, '')
    .replace(/'(?:[^'\\\n]|\\.)*'|"(?:[^"\\\n]|\\.)*"/g, "''");
}

const FORBIDDEN: [RegExp, string][] = [
  [/\b(?:it|test|describe)\s*\.\s*(?:skip|todo)\b/, 'a bare .skip/.todo (use describeIf/itIf with a reason)'],
  [/\b(?:xit|xtest|xdescribe)\b/, 'an x-prefixed skip (use describeIf/itIf with a reason)'],
  [/\?\s*(?:it|test|describe)\s*:|:\s*(?:it|test|describe)\s*[);,]/, 'a conditional it/describe (use itIf/describeIf)'],
  [/\b(?:it|test|describe)\s*\.\s*only\b/, 'a .only, which skips every other test silently'],
];

/** What is wrong with one guest file's way of skipping, one message per offending line. */
function problems(source: string): string[] {
  const out: string[] = [];
  code(source)
    .split('\n')
    .forEach((line, i) => {
      for (const [re, what] of FORBIDDEN) if (re.test(line)) out.push(`line ${i + 1}: ${what}`);
    });
  return out;
}

describe('guest tests skip only with a reason', () => {
  it('the check itself catches each bare form of skipping, and passes the helpers', () => {
    for (const bad of [
      "it.skip('x', () => {});",
      "describe.skip('x', () => {});",
      'const withIommu = hasIommu() ? describe : describe.skip;',
      '(cond ? it : it.skip)("x", f);',
      'const maybe = cond ? it : () => {};',
      "xit('x', f);",
      "test.todo('later');",
      "it.only('x', f);",
    ])
      expect(problems(bad)).not.toEqual([]);
    for (const good of [
      "itIf(cond, 'no second edu in this configuration')('x', f);",
      "describeIf(hasIommu(), 'no IOMMU')('x', () => {});",
      "// a comment that mentions it.skip and describe.skip\nit('x', f);",
      "it('says it.skip in a title', f);",
      "it.each([1, 2])('x %d', f);",
    ])
      expect(problems(good)).toEqual([]);
  });

  const files = fs.readdirSync(guestDir).filter((f) => f.endsWith('.ts') && f !== HELPERS);
  it('finds the guest test files', () => {
    expect(files.filter((f) => f.endsWith('.test.ts')).length).toBeGreaterThan(15);
  });

  it.each(files)('test/guest/%s skips only through describeIf / itIf', (file) => {
    expect(problems(fs.readFileSync(path.join(guestDir, file), 'utf8'))).toEqual([]);
  });

  it('the helpers put the reason in the title in the form the summary reads', () => {
    const env = fs.readFileSync(path.join(guestDir, HELPERS), 'utf8');
    const skips = code(env)
      .split('\n')
      .filter((l) => /\.skip\s*\(/.test(l));
    expect(skips.length).toBe(2); // describeIf and itIf
    for (const line of env.split('\n').filter((l) => /\.skip\s*\(/.test(l) && !l.trim().startsWith('//')))
      expect(line).toContain('`${title} [skipped: ${reason}]`');
    // The summary's reading of that title (scripts/test/counts.js).
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { summariseRun } = require('../../scripts/test/counts') as {
      summariseRun: (r: unknown, o: { rootDir: string }) => { skips: Record<string, number> };
    };
    const title = `t [skipped: no IOMMU here]`;
    const run = summariseRun(
      {
        testResults: [{ testFilePath: '/r/a.js', testResults: [{ status: 'pending', ancestorTitles: [], title }] }],
      },
      { rootDir: '/r' },
    );
    expect(run.skips).toEqual({ 'no IOMMU here': 1 });
  });
});
