import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { finished } from 'node:stream/promises';
import type { Pool } from 'pg';
import PgBoss from 'pg-boss';
import { ownerOfResource } from '../population/group-by-patient.js';
import { emptySummary, startScreenPool, type KeptPool, type ScreenSummary } from '../population/screen-patients.js';
import { inTransaction } from '../store/postgres/transaction.js';
import type { JobRunner } from './population-jobs.js';
import type { PostgresJobStore } from './postgres-job-store.js';
import { clientFor, fileName, inlineMedications, jobScreenOptions, planExport, screenFiles, type ExportPlan, type JobDeps } from './run-job.js';
import type { ScreeningJob } from './screening-job.js';

/**
 * With DATABASE_URL, a job's work goes through a PostgreSQL job queue (pg-boss) in chunks, so every replica
 * takes a share and a chunk whose replica died is retried (issue #19 item 1):
 *  1. `export`: kick-off and poll (incremental: learn the changed patients and export them whole); then one
 *     `file` chunk per output file.
 *  2. `file` (one NDJSON file, as the issue asks): download it streamed, and stage each resource under its
 *     patient's bucket (a hash of the patient id), in one transaction with the chunk's done row. Type-split
 *     files must be joined by patient before evaluation: the buckets do that.
 *  3. `bucket`: read one bucket's resources (every type of its patients), screen them, store the entries.
 * A chunk's done row (population_chunks) is written in the same transaction as its effect, so a chunk retried
 * after it committed does nothing again; the last chunk of a phase (the one replica whose conditional update
 * moves the job on) queues the next phase.
 */
export const QUEUES = { export: 'population-export', file: 'population-file', bucket: 'population-bucket' } as const;

export interface QueueOptions {
  /** Patient buckets per job: the screening phase's parallelism across replicas. */
  buckets: number;
  /** A chunk not finished within this is taken as lost (its replica died) and retried. */
  chunkExpireSeconds: number;
  /** Retries of a failed or lost chunk before the job fails. */
  chunkRetries: number;
  /** How often a replica looks for chunks and for lost ones (pg-boss polling and supervision). */
  pollSeconds: number;
}

interface ChunkData {
  jobId: string;
  index?: number;
  bucket?: number;
}

export function bucketOf(patientId: string, buckets: number): number {
  return createHash('sha256').update(patientId).digest().readUInt32BE(0) % buckets;
}

/** Any fixed number, the same on every replica (the migrations use 7_412_001). */
const QUEUE_LOCK = 7_412_004;

/** Rows staged per insert statement (bind parameters stay well under PostgreSQL's 65,535). */
const STAGE_BATCH = 500;
/** Staged rows read per query by a screening chunk. */
const STAGE_PAGE = 2000;
/** A replica's screening threads for a job are closed when no bucket of it came for this long. */
const KEPT_THREADS_IDLE_MS = 30_000;

/** This replica's screening threads for one job, as of the instant its first bucket here began. */
interface KeptThreads {
  jobId: string;
  now: Date;
  pool: KeptPool;
  idle?: NodeJS.Timeout;
}

export class QueueRunner implements JobRunner {
  readonly mode = 'queue' as const;
  private readonly boss: PgBoss;
  /**
   * The screening threads are kept across the buckets of one job this replica takes: starting them costs about
   * 1.7 s of CPU a thread (modules and mappings), which 16 buckets paid 16 times. A bucket of another job, the
   * job's end, an idle spell or close() closes them.
   */
  private kept: KeptThreads | undefined;

  constructor(
    private readonly pool: Pool,
    databaseUrl: string,
    private readonly jobs: PostgresJobStore,
    private readonly deps: JobDeps,
    private readonly options: QueueOptions,
  ) {
    this.boss = new PgBoss({
      connectionString: databaseUrl,
      schema: 'pgboss',
      max: 4,
      // Lost chunks (past their expiry) are found by the maintenance pass: as often as the queue is polled.
      maintenanceIntervalSeconds: Math.max(1, Math.round(options.pollSeconds)),
    });
    this.boss.on('error', (err: Error) => deps.log.warn({ error: err.message }, 'job queue error'));
  }

  /** Starts the queue and this replica's workers for every kind of chunk. */
  async open(): Promise<void> {
    // Replicas starting together would create pg-boss's schema and queues at once, and its DDL then
    // deadlocks: one at a time, under a session advisory lock; a queue that exists gets this replica's settings.
    const lock = await this.pool.connect();
    try {
      await lock.query('select pg_advisory_lock($1)', [QUEUE_LOCK]);
      await this.boss.start();
      for (const name of Object.values(QUEUES)) {
        const settings = { name, retryLimit: this.options.chunkRetries, retryDelay: 1, expireInSeconds: this.options.chunkExpireSeconds };
        if (await this.boss.getQueue(name)) await this.boss.updateQueue(name, settings);
        else await this.boss.createQueue(name, settings);
      }
    } finally {
      await lock.query('select pg_advisory_unlock($1)', [QUEUE_LOCK]).catch(() => undefined);
      lock.release();
    }
    const work = { batchSize: 1, pollingIntervalSeconds: Math.max(0.5, this.options.pollSeconds), includeMetadata: true as const };
    const last = (chunk: PgBoss.JobWithMetadata<ChunkData>): boolean => chunk.retryCount >= chunk.retryLimit;
    await this.boss.work<ChunkData>(QUEUES.export, work, async ([chunk]) => this.exportChunk(chunk!.data, last(chunk!)));
    await this.boss.work<ChunkData>(QUEUES.file, work, async ([chunk]) => this.fileChunk(chunk!.data, last(chunk!)));
    await this.boss.work<ChunkData>(QUEUES.bucket, work, async ([chunk]) => this.bucketChunk(chunk!.data, last(chunk!)));
  }

  async close(): Promise<void> {
    await this.boss.stop({ graceful: true, wait: true, timeout: 10_000 });
    await this.dropThreads();
  }

  /**
   * The threads for this job's buckets: the kept ones, else new ones (closing another job's). Buckets come one
   * at a time on a replica (one pg-boss worker, batchSize 1), so a job's threads are never closed under it.
   */
  private async threadsFor(job: ScreeningJob): Promise<KeptThreads> {
    if (this.kept?.jobId === job.id) {
      clearTimeout(this.kept.idle);
      return this.kept;
    }
    await this.dropThreads();
    const now = this.deps.clock();
    this.kept = { jobId: job.id, now, pool: startScreenPool(jobScreenOptions(job, this.deps, now)) };
    return this.kept;
  }

  /** After a bucket: the threads wait a while for the job's next bucket on this replica. */
  private idleThreads(kept: KeptThreads): void {
    if (this.kept !== kept) return;
    clearTimeout(kept.idle);
    kept.idle = setTimeout(() => void this.dropThreads(kept.jobId).catch(() => undefined), KEPT_THREADS_IDLE_MS);
    kept.idle.unref();
  }

  private async dropThreads(jobId?: string): Promise<void> {
    const kept = this.kept;
    if (!kept || (jobId !== undefined && kept.jobId !== jobId)) return;
    this.kept = undefined;
    clearTimeout(kept.idle);
    await kept.pool.close();
  }

  async start(job: ScreeningJob): Promise<void> {
    await this.boss.send(QUEUES.export, { jobId: job.id } satisfies ChunkData, { singletonKey: `${job.id}:export` });
  }

  /** Runs a chunk; a failure on its last try fails the job (with why), earlier ones are retried by the queue. */
  private async guarded(jobId: string, what: string, run: (job: ScreeningJob) => Promise<void>): Promise<void> {
    const job = await this.jobs.get(jobId);
    if (!job || job.state === 'completed' || job.state === 'failed') return;
    try {
      await run(job);
    } catch (err) {
      const error = err instanceof Error ? err.message : String(err);
      this.deps.log.warn({ jobId, chunk: what, error }, 'population chunk failed');
      throw err;
    }
  }

  private async exportChunk(data: ChunkData, last: boolean): Promise<void> {
    await this.guarded(data.jobId, 'export', async (job) => {
      const dir = join(this.deps.workDir, `${job.id}-export`);
      try {
        const plan = await planExport(job, clientFor(job, this.deps), dir, this.deps);
        const next = await this.jobs.advance(
          job.id,
          'exporting',
          { state: 'downloading', plan, files: plan.outputs.length, serverErrors: plan.serverErrors, ...(plan.changedPatients !== undefined ? { changedPatients: plan.changedPatients } : {}) },
          this.deps.clock(),
        );
        if (!next) return;
        if (plan.outputs.length === 0) {
          await this.finish(job.id, plan);
          return;
        }
        for (const [index] of plan.outputs.entries()) await this.boss.send(QUEUES.file, { jobId: job.id, index } satisfies ChunkData, { singletonKey: `${job.id}:file:${index}` });
      } catch (err) {
        await this.failIfLast(job.id, err, last);
        throw err;
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    });
  }

  private async fileChunk(data: ChunkData, last: boolean): Promise<void> {
    const index = data.index!;
    await this.guarded(data.jobId, `file ${index}`, async (job) => {
      const plan = job.plan!;
      const output = plan.outputs[index]!;
      const dir = join(this.deps.workDir, `${job.id}-file-${index}`);
      try {
        const client = clientFor(job, this.deps);
        await mkdir(dir, { recursive: true });
        const got = await client.download(output.url, plan.requiresAccessToken, dir, fileName(index, output.type));
        await inlineMedications(job, [{ path: got.path, type: output.type }], client, this.deps);
        const buckets = this.options.buckets;
        const committed = await inTransaction(this.pool, async (db) => {
          const chunk = await db.query('insert into population_chunks (job_id, chunk) values ($1, $2) on conflict do nothing', [job.id, `file:${index}`]);
          if (chunk.rowCount === 0) return false; // an earlier run of this chunk committed
          let rows: unknown[] = [];
          const flush = async (): Promise<void> => {
            if (rows.length === 0) return;
            const values = Array.from({ length: rows.length / 4 }, (_, i) => `($1, $${i * 4 + 2}::int, $${i * 4 + 3}::int, $${i * 4 + 4}, $${i * 4 + 5})`).join(',');
            await db.query(`insert into population_staging (job_id, bucket, file_index, patient_id, resource) values ${values}`, [job.id, ...rows]);
            rows = [];
          };
          for await (const line of createInterface({ input: createReadStream(got.path, 'utf8'), crlfDelay: Infinity })) {
            if (line.trim() === '') continue;
            let patientId: string | undefined;
            try {
              patientId = ownerOfResource(JSON.parse(line) as Record<string, unknown>);
            } catch {
              patientId = undefined;
            }
            if (!patientId) continue; // names no patient: no criterion can read it
            rows.push(bucketOf(patientId, buckets), index, patientId, line);
            if (rows.length >= STAGE_BATCH * 4) await flush();
          }
          await flush();
          return true;
        });
        if (!committed) return;
        await this.jobs.update(job.id, {}, this.deps.clock());
        const done = await this.pool.query<{ n: string }>("select count(*) as n from population_chunks where job_id = $1 and chunk like 'file:%'", [job.id]);
        if (Number(done.rows[0]!.n) < plan.outputs.length) return;
        const next = await this.jobs.advance(job.id, 'downloading', { state: 'screening' }, this.deps.clock());
        if (!next) return;
        for (let bucket = 0; bucket < buckets; bucket++) await this.boss.send(QUEUES.bucket, { jobId: job.id, bucket } satisfies ChunkData, { singletonKey: `${job.id}:bucket:${bucket}` });
      } catch (err) {
        await this.failIfLast(job.id, err, last);
        throw err;
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    });
  }

  private async bucketChunk(data: ChunkData, last: boolean): Promise<void> {
    const bucket = data.bucket!;
    await this.guarded(data.jobId, `bucket ${bucket}`, async (job) => {
      const already = await this.pool.query('select 1 from population_chunks where job_id = $1 and chunk = $2', [job.id, `bucket:${bucket}`]);
      if (already.rowCount) return;
      const dir = join(this.deps.workDir, `${job.id}-bucket-${bucket}`);
      try {
        await mkdir(dir, { recursive: true });
        // The bucket's resources to one local NDJSON file, then the same screening as in-process.
        const file = join(dir, 'bucket.ndjson');
        const out = createWriteStream(file);
        // In pages of rows, so a large bucket never sits in memory whole; the screen groups them by patient.
        for (let after = '0'; ; ) {
          const page = await this.pool.query<{ id: string; resource: string }>(
            'select id, resource from population_staging where job_id = $1 and bucket = $2 and id > $3 order by id limit $4',
            [job.id, bucket, after, STAGE_PAGE],
          );
          for (const row of page.rows) if (!out.write(`${row.resource}\n`)) await new Promise<void>((r) => out.once('drain', () => r()));
          if (page.rows.length < STAGE_PAGE) break;
          after = page.rows[page.rows.length - 1]!.id;
        }
        out.end();
        await finished(out);
        const threads = await this.threadsFor(job);
        let summary: ScreenSummary;
        try {
          summary = await screenFiles(job, [file], this.deps, threads);
        } finally {
          this.idleThreads(threads);
        }
        const recorded = await this.pool.query('insert into population_chunks (job_id, chunk, summary) values ($1, $2, $3) on conflict do nothing', [
          job.id,
          `bucket:${bucket}`,
          JSON.stringify(summary),
        ]);
        if (recorded.rowCount === 0) return;
        const done = await this.pool.query<{ n: string }>("select count(*) as n from population_chunks where job_id = $1 and chunk like 'bucket:%'", [job.id]);
        if (Number(done.rows[0]!.n) < this.options.buckets) return;
        await this.finish(job.id, job.plan!);
      } catch (err) {
        await this.failIfLast(job.id, err, last);
        throw err;
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    });
  }

  /** The job's summary (the buckets' sums), its watermark, and the staged resources removed. */
  private async finish(jobId: string, plan: ExportPlan): Promise<void> {
    const rows = await this.pool.query<{ summary: ScreenSummary | null }>("select summary from population_chunks where job_id = $1 and chunk like 'bucket:%'", [jobId]);
    const summary = emptySummary();
    // A bucket's summary written by an older replica has no failedBatches or tooLarge: it counts as none.
    for (const { summary: s } of rows.rows) if (s) for (const k of Object.keys(summary) as (keyof ScreenSummary)[]) summary[k] += s[k] ?? 0;
    const from = (await this.jobs.get(jobId))?.state;
    if (from !== 'screening' && from !== 'downloading') return;
    // Every bucket is screened: the staged resources (patient data) go before the job says it is done.
    await this.pool.query('delete from population_staging where job_id = $1', [jobId]);
    const done = await this.jobs.advance(jobId, from, { state: 'completed', transactionTime: plan.transactionTime, summary }, this.deps.clock());
    await this.dropThreads(jobId);
    if (!done) return;
    this.deps.log.info({ jobId, files: plan.outputs.length, ...summary }, 'population screening job completed');
    const job = await this.jobs.get(jobId);
    if (job) {
      const client = clientFor(job, this.deps);
      for (const url of plan.statusUrls) await client.cancel(url);
    }
  }

  /** The queue retries a failed chunk; one that failed on its last try fails the job, with why. */
  private async failIfLast(jobId: string, err: unknown, last: boolean): Promise<void> {
    const error = err instanceof Error ? err.message : String(err);
    await this.jobs.update(jobId, last ? { state: 'failed', error } : { error }, this.deps.clock());
  }
}
