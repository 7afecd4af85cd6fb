// Guest suite: runs inside the emulated VFIO host on JavaScript compiled on the host
// (`tsc` output under dist/), so the guest never spends its slow CPU on TypeScript.
/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  rootDir: __dirname,
  roots: ['<rootDir>/dist/test/guest'],
  testMatch: ['**/*.test.js'],
  // Shared helpers (test/support/) are modules the tests import, never tests themselves.
  testPathIgnorePatterns: ['/node_modules/', '/test/support/'],
  transform: {},
  testTimeout: 60000,
  maxWorkers: 1,
  cacheDirectory: '<rootDir>/.jest-cache-guest',
};
