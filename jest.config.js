/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: { '^.+\\.ts$': ['@swc/jest', { jsc: { target: 'es2022' } }] },
  // A bound for a hung test, not a speed check: real clusters on a loaded 2-core machine take their time.
  testTimeout: 60000,
  // Tests start real servers on loopback; two workers keep a 2-core machine responsive.
  maxWorkers: 2,
  verbose: false,
};
