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

/** The embedded mode's jobs: one process, lost on restart (the next job then screens everything, unchanged patients skipped by digest). */
export class MemoryJobStore implements JobStore {
  private readonly jobs = new Map<string, ScreeningJob>();

  async create(job: ScreeningJob): Promise<void> {
    this.jobs.set(job.id, { ...job });
  }

  async update(id: string, patch: Partial<Omit<ScreeningJob, 'id'>>, now: Date): Promise<ScreeningJob | undefined> {
    const job = this.jobs.get(id);
    if (!job) return undefined;
    const next = { ...job, ...patch, updatedAt: now.toISOString() };
    this.jobs.set(id, next);
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
}
