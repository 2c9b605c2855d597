import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { JWK } from 'jose';
import { normalizeFhirBase } from '../fhir/fhir-base-url.js';
import { badRequest, conflict } from '../fhir/outcomes.js';
import { backendServicesTokens, defaultScope } from './backend-auth.js';
import type { ExportScope } from './bulk-client.js';
import { runScreeningJob, type JobDeps } from './run-job.js';
import type { ScreeningJob } from './screening-job.js';

/** What starts a job: the server, who is exported, which trials, and whether to ask only what changed. */
export interface StartJob {
  fhirServer: string;
  groupId?: string;
  trialIds?: string[];
  /** Default true: ask `_since` the last completed export of this server and scope. */
  incremental?: boolean;
}

/** How a job's chunks run: in this process, or on the PostgreSQL job queue (src/bulk/job-queue.ts). */
export interface JobRunner {
  readonly mode: ScreeningJob['mode'];
  start(job: ScreeningJob): Promise<void>;
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]']);

export function isLoopback(fhirServer: string): boolean {
  try {
    return LOOPBACK.has(new URL(fhirServer).hostname);
  } catch {
    return false;
  }
}

/** SMART Backend Services credentials from the configuration (BULK_CLIENT_ID, BULK_PRIVATE_KEY_FILE, BULK_SCOPE). */
export interface BackendCredentials {
  clientId: string;
  privateKeyFile: string;
  scope?: string;
}

/**
 * The token source for a server: none on loopback without credentials (a test server), SMART Backend
 * Services otherwise; a server that is neither is refused before any request (fail closed).
 */
export function tokenSourceFor(credentials: BackendCredentials | undefined, timeoutMs: number, fetchImpl?: typeof fetch): NonNullable<JobDeps['accessToken']> {
  return (fhirServer, types) => {
    if (!credentials) {
      if (isLoopback(fhirServer)) return undefined;
      throw new Error('this FHIR server is not on this machine: SMART Backend Services credentials (BULK_CLIENT_ID, BULK_PRIVATE_KEY_FILE) are required');
    }
    const privateJwk = JSON.parse(readFileSync(credentials.privateKeyFile, 'utf8')) as JWK;
    return backendServicesTokens({ clientId: credentials.clientId, privateJwk, scope: credentials.scope ?? defaultScope(types) }, fhirServer, {
      timeoutMs,
      ...(fetchImpl ? { fetch: fetchImpl } : {}),
    });
  };
}

/** The in-process runner: the job runs in the background of this process; its state is in the job store. */
export class InProcessRunner implements JobRunner {
  readonly mode = 'in-process' as const;
  private readonly running = new Set<Promise<unknown>>();

  constructor(private readonly deps: JobDeps) {}

  async start(job: ScreeningJob): Promise<void> {
    const run = runScreeningJob(job, this.deps).finally(() => this.running.delete(run));
    this.running.add(run);
  }

  /** Waits for the jobs still running (on close, and in tests). */
  async settle(): Promise<void> {
    await Promise.all([...this.running]);
  }
}

/** Creates a job (one running job per server and scope) and hands it to the runner. */
export async function startScreeningJob(request: StartJob, deps: Pick<JobDeps, 'jobs' | 'mappings' | 'clock'>, runner: JobRunner): Promise<ScreeningJob> {
  const fhirServer = normalizeFhirBase(request.fhirServer);
  if (!fhirServer) throw badRequest('fhirServer is not a URL', ['fhirServer']);
  const known = new Set(deps.mappings.trials.map((t) => t.id));
  const unknown = (request.trialIds ?? []).filter((id) => !known.has(id));
  if (unknown.length > 0) throw badRequest(`no trial ${unknown.map((u) => `"${u}"`).join(', ')}`, ['trialIds']);
  const scope: ExportScope = request.groupId ? { kind: 'group', groupId: request.groupId } : { kind: 'patients' };
  const busy = await deps.jobs.running(fhirServer, scope);
  if (busy) throw conflict(`job ${busy.id} is still screening this server and scope`);
  const last = request.incremental === false || request.trialIds ? undefined : await deps.jobs.lastCompleted(fhirServer, scope);
  const now = deps.clock().toISOString();
  const job: ScreeningJob = {
    id: randomUUID(),
    fhirServer,
    scope,
    ...(request.trialIds ? { trialIds: request.trialIds } : {}),
    state: 'queued',
    mode: runner.mode,
    createdAt: now,
    updatedAt: now,
    ...(last?.transactionTime ? { since: last.transactionTime } : {}),
  };
  await deps.jobs.create(job);
  await runner.start(job);
  return job;
}
