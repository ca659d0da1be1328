// Jest runs in native ESM mode (NestJS 12 is ESM-only). ts-jest transpiles each file on its own
// (tsconfig's isolatedModules: fast, no type check; `npm test` type-checks separately with tsc) and keeps
// decorator metadata, so Nest DI works in tests exactly as in the tsc build.
const tsJest = ['ts-jest', { useESM: true, tsconfig: './tsconfig.json' }];
const common = {
  extensionsToTreatAsEsm: ['.ts'],
  transform: { '^.+\\.ts$': tsJest },
  moduleNameMapper: {
    '^#libs/(.*)\\.js$': '<rootDir>/libs/$1.ts',
    '^(\\.{1,2}/.*)\\.js$': '$1',
  },
  testEnvironment: 'node',
};
export default {
  projects: [
    { ...common, displayName: 'unit', testMatch: ['<rootDir>/{apps,libs,bench,scripts,packages}/**/*.spec.ts'] },
    { ...common, displayName: 'e2e', testMatch: ['<rootDir>/test/**/*.e2e.ts'] },
  ],
  reporters: ['default', '<rootDir>/test/support/summary-reporter.cjs'],
  // Every suite closes what it opened (Stack.stop closes its tabs, apps and servers), but a suite
  // whose setup failed halfway can leave a client retrying forever; the run must still end.
  forceExit: true,
  // The e2e suites mostly wait (cleanup timeouts, TTLs, servers starting): two at a time keep a
  // 2-core machine busy without starving the processes whose timings the suites assert. Jest's
  // default there is one (cores - 1).
  maxWorkers: 2,
};
