// Host suite: TypeScript through ts-jest; needs no VFIO device.
/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test/host'],
  testMatch: ['**/*.test.ts'],
  // Shared helpers (test/support/) are modules the tests import, never tests themselves.
  testPathIgnorePatterns: ['/node_modules/', '/test/support/'],
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.json' }] },
  testTimeout: 120000,
};
