import type { Pool } from 'pg';
import type { ExportScope } from './bulk-client.js';
import { scopeKey, type JobStore, type ScreeningJob } from './screening-job.js';

/** The jobs in PostgreSQL (migration 004): every replica sees every job; one running job per server and scope. */
export class PostgresJobStore implements JobStore {
  constructor(private readonly pool: Pool) {}

  async create(job: ScreeningJob): Promise<void> {
    await this.pool.query('insert into population_jobs (id, fhir_server, scope, state, job, updated_at) values ($1, $2, $3, $4, $5, $6)', [
      job.id,
      job.fhirServer,
      scopeKey(job.scope),
      job.state,
      JSON.stringify(job),
      job.updatedAt,
    ]);
  }

  async update(id: string, patch: Partial<Omit<ScreeningJob, 'id'>>, now: Date): Promise<ScreeningJob | undefined> {
    // A finished job stays finished: a late progress note from a chunk retried after the end cannot reopen it.
    const next = { ...patch, updatedAt: now.toISOString() };
    const res = await this.pool.query<{ job: ScreeningJob }>(
      `update population_jobs set job = job || $2::jsonb, state = coalesce($3, state), transaction_time = coalesce($4, transaction_time), updated_at = $5
       where id = $1 and (state not in ('completed', 'failed') or $3::text is null)
       returning job`,
      [id, JSON.stringify(next), patch.state ?? null, patch.transactionTime ?? null, next.updatedAt],
    );
    return res.rows[0]?.job ?? (await this.get(id));
  }

  /** Moves a job from one state to the next only if it is still in the first: the one replica that wins acts. */
  async advance(id: string, from: ScreeningJob['state'], patch: Partial<Omit<ScreeningJob, 'id'>>, now: Date): Promise<ScreeningJob | undefined> {
    const next = { ...patch, updatedAt: now.toISOString() };
    const res = await this.pool.query<{ job: ScreeningJob }>(
      `update population_jobs set job = job || $3::jsonb, state = coalesce($4, state), transaction_time = coalesce($5, transaction_time), updated_at = $6
       where id = $1 and state = $2 returning job`,
      [id, from, JSON.stringify(next), patch.state ?? null, patch.transactionTime ?? null, next.updatedAt],
    );
    return res.rows[0]?.job;
  }

  async get(id: string): Promise<ScreeningJob | undefined> {
    const res = await this.pool.query<{ job: ScreeningJob }>('select job from population_jobs where id = $1', [id]);
    return res.rows[0]?.job;
  }

  async lastCompleted(fhirServer: string, scope: ExportScope): Promise<ScreeningJob | undefined> {
    const res = await this.pool.query<{ job: ScreeningJob }>(
      "select job from population_jobs where fhir_server = $1 and scope = $2 and state = 'completed' and transaction_time is not null order by transaction_time desc limit 1",
      [fhirServer, scopeKey(scope)],
    );
    return res.rows[0]?.job;
  }

  async running(fhirServer: string, scope: ExportScope): Promise<ScreeningJob | undefined> {
    const res = await this.pool.query<{ job: ScreeningJob }>("select job from population_jobs where fhir_server = $1 and scope = $2 and state not in ('completed', 'failed') limit 1", [
      fhirServer,
      scopeKey(scope),
    ]);
    return res.rows[0]?.job;
  }
}
