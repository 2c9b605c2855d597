import { defineConfig } from 'vitest/config';

// One `npm test` runs five projects: unit (the app through app.inject), integration (against a real HAPI
// FHIR server that the global setup provides), replicas (two service processes on a real PostgreSQL),
// browser (the demo page in headless Chromium) and docker (the Dockerfile's image and docker-compose.yml, run
// on a Docker engine: test/docker/, issue #22).
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/**/*.test.ts'],
          exclude: ['test/integration/**', 'test/browser/**', 'test/replicas/**', 'test/docker/**'],
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
      {
        // Builds images and starts containers: one file at a time, with room for a cold build.
        test: {
          name: 'docker',
          include: ['test/docker/**/*.test.ts'],
          testTimeout: 300_000,
          hookTimeout: 1_800_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
