// Honest counts for npm test (scripts/test.js): a jest reporter that records what a run really
// executed (each test file, each test's status, the reason of each skip, the gating variables
// present), and the judgement of a run against what its configuration declares: the test files
// it must run, a minimum number of tests that must execute, the variables that must be set.
'use strict';
const fs = require('fs');
const path = require('path');

/** The reason a skipped test gives: "[skipped: REASON]" in its own or an enclosing title. */
const SKIP_REASON = /\[skipped: ([^\]]+)\]/;
const NO_REASON = 'no reason given';

function skipReason(titles) {
  for (let i = titles.length - 1; i >= 0; i--) {
    const m = SKIP_REASON.exec(titles[i]);
    if (m) return m[1].trim();
  }
  return NO_REASON;
}

/**
 * What one jest run produced, from jest's aggregated results: counts, the files that ran
 * (relative to rootDir, '/'-separated), skip reasons with their counts, and which of the
 * `requireEnv` variables were missing in the process that ran the tests.
 */
function summariseRun(results, { rootDir, requireEnv = [], env = process.env }) {
  const files = [];
  const skips = {};
  for (const file of results.testResults ?? []) {
    files.push(path.relative(rootDir, file.testFilePath).split(path.sep).join('/'));
    for (const t of file.testResults ?? []) {
      if (t.status !== 'pending' && t.status !== 'todo' && t.status !== 'skipped') continue;
      const reason = skipReason([...(t.ancestorTitles ?? []), t.title]);
      skips[reason] = (skips[reason] ?? 0) + 1;
    }
  }
  return {
    numPassedTests: results.numPassedTests,
    numFailedTests: results.numFailedTests,
    numPendingTests: results.numPendingTests,
    numTodoTests: results.numTodoTests,
    numTotalTests: results.numTotalTests,
    numRuntimeErrorTestSuites: results.numRuntimeErrorTestSuites,
    files: files.sort(),
    skips,
    missingEnv: requireEnv.filter((name) => !env[name]),
  };
}

/**
 * A jest reporter writing summariseRun's record to options.outputFile. jest's own --json output
 * is not used: it serialises every failure's error object and crashes on circular ones (seen with
 * spawnSync errors), losing the whole result.
 */
class CountsReporter {
  constructor(globalConfig, options) {
    this.rootDir = globalConfig.rootDir;
    this.outputFile = options.outputFile;
    this.requireEnv = options.requireEnv ?? [];
  }

  onRunComplete(contexts, results) {
    const record = summariseRun(results, { rootDir: this.rootDir, requireEnv: this.requireEnv });
    fs.writeFileSync(this.outputFile, JSON.stringify(record) + '\n');
  }
}

/** Whether a run's file list has `declared` (a path under test/, e.g. "guest/dma.test"). */
const hasFile = (files, declared) => files.some((f) => f.replace(/\.(ts|js)$/, '').endsWith(declared));

/**
 * Judges one run (a pass of a configuration) against its declaration
 * { files: [...], minTests: N, requireEnv: [...] }: the run's counts plus every reason it is
 * not green. `record` is the reporter's record or undefined (the run did not complete);
 * `exitStatus` is jest's (or the harness's) exit status.
 */
function judge(name, decl, record, exitStatus) {
  if (!record) {
    return {
      name,
      passed: 0,
      failed: 1,
      skipped: 0,
      executed: 0,
      skips: {},
      problems: ['no results (the run did not complete)'],
    };
  }
  const problems = [];
  const failed = record.numFailedTests + record.numRuntimeErrorTestSuites;
  const executed = record.numPassedTests + record.numFailedTests;
  if (!record.numTotalTests) problems.push('jest found no tests');
  if (decl.minTests !== undefined && executed < decl.minTests) {
    problems.push(`${executed} tests executed, fewer than the ${decl.minTests} declared`);
  }
  const missingFiles = (decl.files ?? []).filter((f) => !hasFile(record.files ?? [], f));
  if (missingFiles.length) problems.push(`declared test files that did not run: ${missingFiles.join(', ')}`);
  if (record.missingEnv?.length) problems.push(`gating variables not set: ${record.missingEnv.join(', ')}`);
  // jest can fail without a failing test (e.g. an error outside any test): never report that green.
  if (exitStatus !== 0 && failed === 0) problems.push(`jest exited ${exitStatus}`);
  return {
    name,
    passed: record.numPassedTests,
    failed: failed + (problems.length ? 1 : 0),
    skipped: record.numPendingTests + record.numTodoTests,
    executed,
    skips: record.skips ?? {},
    problems,
  };
}

/** Reads a reporter record; undefined when missing or unreadable. */
function readRecord(file) {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch {
    return undefined;
  }
}

/** The summary lines of one judged run: counts, time, problems, then each skip reason. */
function summaryLines(r) {
  const time = r.ms !== undefined ? `, ${(r.ms / 1000).toFixed(0)} s` : '';
  const lines = [`${r.name.padEnd(24)} ${r.passed} passed, ${r.failed} failed, ${r.skipped} skipped${time}`];
  for (const p of r.problems ?? []) lines.push(`${''.padEnd(24)} FAILED: ${p}`);
  for (const [reason, n] of Object.entries(r.skips ?? {}).sort((a, b) => b[1] - a[1])) {
    lines.push(`${''.padEnd(24)} skipped ${n}: ${reason}`);
  }
  return lines;
}

module.exports = { CountsReporter, summariseRun, judge, readRecord, summaryLines, skipReason, NO_REASON };
