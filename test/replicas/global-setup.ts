/**
 * Gets the two-replica tests a real PostgreSQL (test/support/postgres.ts) and stops it after. Without one the
 * tests are skipped with the reason, unless REQUIRE_POSTGRES=1 (CI, .ci/run): then the run fails.
 */
import type { TestProject } from 'vitest/node';
import { startTestPostgres } from '../support/postgres.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** A PostgreSQL URL (database `postgres`); '' when there is none. */
    postgresUrl: string;
    /** Why there is no PostgreSQL ('' when there is one). */
    postgresUnavailable: string;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const started = await startTestPostgres();
  if ('unavailable' in started) {
    if (process.env.REQUIRE_POSTGRES === '1') throw new Error(`REQUIRE_POSTGRES=1 but no PostgreSQL: ${started.unavailable}`);
    console.log(`[postgres] none: ${started.unavailable}; the replica tests are skipped`);
    project.provide('postgresUrl', '');
    project.provide('postgresUnavailable', started.unavailable);
    return async () => {};
  }
  console.log(`[postgres] ${started.how}`);
  project.provide('postgresUrl', started.url);
  project.provide('postgresUnavailable', '');
  return async () => started.stop();
}
