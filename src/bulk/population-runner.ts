import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Config } from '../config.js';
import type { MappingSet } from '../mappings/compiled.js';
import type { ScreeningResultsStore } from '../population/screening-entry.js';
import { InProcessRunner, tokenSourceFor, type JobRunner } from './population-jobs.js';
import type { JobDeps } from './run-job.js';
import { MemoryJobStore, type JobStore } from './screening-job.js';
import pg from 'pg';
import { QueueRunner } from './job-queue.js';
import { PostgresJobStore } from './postgres-job-store.js';

export interface PopulationSetup {
  jobs: JobStore;
  runner: JobRunner;
  close: () => Promise<void>;
}

/**
 * The job store and runner the configuration selects: in this process without DATABASE_URL (jobs in memory),
 * else the PostgreSQL job queue shared by replicas (src/bulk/job-queue.ts), whose workers start here, so every
 * replica takes chunks from the moment it is up. The tables are migration 004, applied with the shared state.
 */
export async function createPopulationSetup(deps: {
  config: Config;
  mappings: MappingSet;
  /** The shared state's screening store, read when a job needs it (the state opens after the routes are built). */
  screening: () => ScreeningResultsStore;
  clock: () => Date;
  log: JobDeps['log'];
  fetch?: typeof fetch;
}): Promise<PopulationSetup> {
  const { config } = deps;
  const credentials = config.bulkClientId && config.bulkPrivateKeyFile ? { clientId: config.bulkClientId, privateKeyFile: config.bulkPrivateKeyFile, ...(config.bulkScope ? { scope: config.bulkScope } : {}) } : undefined;
  const screening: ScreeningResultsStore = {
    put: (entries) => deps.screening().put(entries),
    forTrial: (trialId, fhirServer) => deps.screening().forTrial(trialId, fhirServer),
    digests: (fhirServer, ids) => deps.screening().digests(fhirServer, ids),
  };
  const pool = config.databaseUrl ? new pg.Pool({ connectionString: config.databaseUrl, max: 4, connectionTimeoutMillis: 10_000 }) : undefined;
  pool?.on('error', (err) => deps.log.warn({ error: err.message }, 'PostgreSQL: an idle connection of the population jobs failed'));
  const jobs = pool ? new PostgresJobStore(pool) : new MemoryJobStore(config.populationJobsFile);
  const jobDeps: JobDeps = {
    mappings: deps.mappings,
    jobs,
    screening,
    client: {
      requestTimeoutMs: config.fhirTimeoutMs,
      minPollMs: config.bulkPollMinMs,
      maxPollMs: config.bulkPollMaxMs,
      jobTimeoutMs: config.bulkJobTimeoutMs,
      maxFileBytes: config.bulkMaxFileBytes,
      ...(deps.fetch ? { fetch: deps.fetch } : {}),
    },
    accessToken: tokenSourceFor(credentials, config.fhirTimeoutMs, deps.fetch),
    workDir: config.bulkWorkDir ?? join(tmpdir(), 'trialmatch-bulk'),
    clock: deps.clock,
    log: deps.log,
  };
  if (pool && config.databaseUrl) {
    const runner = new QueueRunner(pool, config.databaseUrl, jobs as PostgresJobStore, jobDeps, {
      buckets: config.bulkBuckets,
      chunkExpireSeconds: config.bulkChunkExpireSeconds,
      chunkRetries: config.bulkChunkRetries,
      pollSeconds: config.bulkQueuePollSeconds,
    });
    await runner.open();
    return {
      jobs,
      runner,
      close: async () => {
        await runner.close();
        await pool.end();
      },
    };
  }
  const runner = new InProcessRunner(jobDeps);
  return { jobs, runner, close: () => runner.settle() };
}
