import { defineConfig } from 'vitest/config';

// One `npm test` runs four projects: unit (the app through app.inject), integration (against a real HAPI
// FHIR server that the global setup provides), replicas (two service processes on a real PostgreSQL) and
// browser (the demo page in headless Chromium).
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/**/*.test.ts'],
          exclude: ['test/integration/**', 'test/browser/**', 'test/replicas/**'],
          testTimeout: 20_000,
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          globalSetup: ['test/integration/global-setup.ts'],
          testTimeout: 120_000,
          hookTimeout: 300_000,
          fileParallelism: false,
        },
      },
      {
        // Two service processes on one PostgreSQL (issue #12 item 4); the global setup starts PostgreSQL.
        test: {
          name: 'replicas',
          include: ['test/replicas/**/*.test.ts'],
          globalSetup: ['test/replicas/global-setup.ts'],
          testTimeout: 120_000,
          hookTimeout: 180_000,
          fileParallelism: false,
        },
      },
      {
        test: {
          name: 'browser',
          include: ['test/browser/**/*.test.ts'],
          globalSetup: ['test/browser/global-setup.ts'],
          testTimeout: 60_000,
          hookTimeout: 120_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
