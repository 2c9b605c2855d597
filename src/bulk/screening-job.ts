import { existsSync, readFileSync } from 'node:fs';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { ScreenSummary } from '../population/screen-patients.js';
import type { ExportScope } from './bulk-client.js';
import type { ExportPlan } from './run-job.js';

/**
 * A population screening job (issue #19 item 1): one Bulk Data export of a FHIR server (all patients or one
 * Group), screened against the trials. It holds counts, times and the export's watermark, never patient data.
 */
export type JobState = 'queued' | 'exporting' | 'downloading' | 'screening' | 'completed' | 'failed';

export interface ScreeningJob {
  id: string;
  /** The normalised FHIR base URL (src/fhir/fhir-base-url.ts). */
  fhirServer: string;
  scope: ExportScope;
  /** The trials screened; absent: all. */
  trialIds?: string[];
  state: JobState;
  /** 'in-process' (no DATABASE_URL) or 'queue' (chunks on the PostgreSQL job queue, shared by replicas). */
  mode: 'in-process' | 'queue';
  createdAt: string;
  updatedAt: string;
  /** The previous export's transactionTime this job asked `_since` (incremental), if any. */
  since?: string;
  /** This export's transactionTime: the next job's `_since`, once this one completes. */
  transactionTime?: string;
  /** With `since`: the patients whose data changed since, re-exported whole and screened. */
  changedPatients?: number;
  files?: number;
  bytes?: number;
  /** The OperationOutcome files the server reported (Bulk Data 2.0 manifest `error`), counted. */
  serverErrors?: number;
  summary?: ScreenSummary;
  /** Why the job failed (the server's or the client's words about the request; no patient data). */
  error?: string;
  /** The server's X-Progress while exporting. */
  progress?: string;
  /** The queue mode's export plan (output file URLs, the export's watermark): chunks read it. Not served. */
  plan?: ExportPlan;
}

/** The key under which an export's watermark is kept: the server and the scope (a Group's export is its own). */
export function scopeKey(scope: ExportScope): string {
  return scope.kind === 'group' ? `Group/${scope.groupId}` : 'Patient';
}

/** Where jobs are kept: in memory on one process, in PostgreSQL (migration 004) across replicas. */
export interface JobStore {
  create(job: ScreeningJob): Promise<void>;
  update(id: string, patch: Partial<Omit<ScreeningJob, 'id'>>, now: Date): Promise<ScreeningJob | undefined>;
  get(id: string): Promise<ScreeningJob | undefined>;
  /** The latest completed job of this server and scope (its transactionTime is the next `_since`). */
  lastCompleted(fhirServer: string, scope: ExportScope): Promise<ScreeningJob | undefined>;
  /** A job of this server and scope still running, if any (one at a time per server and scope). */
  running(fhirServer: string, scope: ExportScope): Promise<ScreeningJob | undefined>;
}

/** Jobs kept in the embedded file: the latest ones are enough to find the next `_since` and to show recent jobs. */
const KEPT_JOBS = 200;

/**
 * The embedded mode's jobs: one process, in memory, and written to a small JSON file beside the journal when
 * one is given (POPULATION_JOBS_FILE's default), so the next run, or the CLI after the service, continues
 * incrementally from the last export. A job still running when its process ended is failed on load.
 */
export class MemoryJobStore implements JobStore {
  private readonly jobs = new Map<string, ScreeningJob>();
  private writing: Promise<void> = Promise.resolve();

  constructor(private readonly file?: string) {
    if (!file || !existsSync(file)) return;
    const saved = JSON.parse(readFileSync(file, 'utf8')) as { jobs?: ScreeningJob[] };
    for (const job of saved.jobs ?? []) {
      const ended = job.state === 'completed' || job.state === 'failed';
      this.jobs.set(job.id, ended ? job : { ...job, state: 'failed', error: 'the process ended during the job' });
    }
  }

  async create(job: ScreeningJob): Promise<void> {
    this.jobs.set(job.id, { ...job });
    await this.save();
  }

  async update(id: string, patch: Partial<Omit<ScreeningJob, 'id'>>, now: Date): Promise<ScreeningJob | undefined> {
    const job = this.jobs.get(id);
    if (!job) return undefined;
    const next = { ...job, ...patch, updatedAt: now.toISOString() };
    this.jobs.set(id, next);
    // Progress notes are not worth a write; a phase change is.
    if (patch.state || patch.summary || patch.error) await this.save();
    return { ...next };
  }

  async get(id: string): Promise<ScreeningJob | undefined> {
    const job = this.jobs.get(id);
    return job ? { ...job } : undefined;
  }

  async lastCompleted(fhirServer: string, scope: ExportScope): Promise<ScreeningJob | undefined> {
    const key = scopeKey(scope);
    return [...this.jobs.values()]
      .filter((j) => j.fhirServer === fhirServer && scopeKey(j.scope) === key && j.state === 'completed' && j.transactionTime)
      .sort((a, b) => (a.transactionTime! < b.transactionTime! ? 1 : -1))[0];
  }

  async running(fhirServer: string, scope: ExportScope): Promise<ScreeningJob | undefined> {
    const key = scopeKey(scope);
    return [...this.jobs.values()].find((j) => j.fhirServer === fhirServer && scopeKey(j.scope) === key && j.state !== 'completed' && j.state !== 'failed');
  }

  /** The latest jobs, written whole to a temporary file and renamed over the old one (never half a file). */
  private async save(): Promise<void> {
    const file = this.file;
    if (!file) return;
    const jobs = [...this.jobs.values()].sort((a, b) => (a.createdAt < b.createdAt ? 1 : -1)).slice(0, KEPT_JOBS);
    const text = JSON.stringify({ jobs: jobs.map(({ plan: _plan, ...j }) => j) });
    this.writing = this.writing.then(async () => {
      await mkdir(dirname(file), { recursive: true });
      await writeFile(`${file}.tmp`, text, { mode: 0o600 });
      await rename(`${file}.tmp`, file);
    });
    await this.writing;
  }
}
