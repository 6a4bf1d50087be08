/** Tests run from the compiled output (npm test builds first). */
module.exports = {
  rootDir: '.',
  roots: ['<rootDir>/dist/test'],
  testMatch: ['**/*.test.js'],
  testEnvironment: 'node',
  moduleNameMapper: { '^@azure/functions-core$': '<rootDir>/dist/dev/host/core.js' },
  testTimeout: 60000,
  maxWorkers: 2,
  reporters: ['default', '<rootDir>/dev/jest-summary.js'],
};
