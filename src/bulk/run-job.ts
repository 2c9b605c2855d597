import { mkdir, rm } from 'node:fs/promises';
import { createReadStream } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { MappingSet } from '../mappings/compiled.js';
import type { ScreeningResultsStore } from '../population/screening-entry.js';
import { ownerOfResource } from '../population/group-by-patient.js';
import { screenNdjsonFiles } from '../population/screen-files.js';
import type { KeptPool, ScreenOptions, ScreenSummary } from '../population/screen-patients.js';
import { BulkClient, type BulkClientOptions, type ExportManifest, type KickOff } from './bulk-client.js';
import { exportRequest } from './export-request.js';
import { newGroupMembers } from './group-members.js';
import { inlineReferencedMedications } from './referenced-medications.js';
import type { JobStore, ScreeningJob } from './screening-job.js';

/** What a job needs around it; the clock and the logger come from the caller (the evaluator stays pure). */
export interface JobDeps {
  mappings: MappingSet;
  jobs: JobStore;
  screening: ScreeningResultsStore;
  /** The Bulk Data client's settings except the server (the job's) and its token source. */
  client: Omit<BulkClientOptions, 'baseUrl' | 'accessToken'>;
  /** The token source for this server (SMART Backend Services), or none (a loopback server). */
  accessToken?: (fhirServer: string, types: readonly string[]) => (() => Promise<string | undefined>) | undefined;
  /** A folder for the job's files (one subfolder per job, removed when the job ends). */
  workDir: string;
  clock: () => Date;
  /** Counts and durations only (house rule 8). */
  log: { info: (data: object, msg: string) => void; warn: (data: object, msg: string) => void };
}

/** What a job screens: the export's output files (to download), and what the manifest said. */
export interface ExportPlan {
  transactionTime: string;
  requiresAccessToken: boolean;
  outputs: { type: string; url: string }[];
  /** The OperationOutcome files the server reported (Bulk Data 2.0 manifest `error`). */
  serverErrors: number;
  /** With `since`: the patients the changes name, exported again whole. */
  changedPatients?: number;
  /** The exports' status URLs, deleted when the job ends (Bulk Data 2.0 §Delete a Bulk Data Request). */
  statusUrls: string[];
}

async function exportManifest(job: ScreeningJob, kick: KickOff, client: BulkClient, deps: Pick<JobDeps, 'jobs' | 'clock'>): Promise<{ manifest: ExportManifest; statusUrl: string }> {
  await deps.jobs.update(job.id, { state: 'exporting' }, deps.clock());
  const statusUrl = await client.kickOff(kick);
  const manifest = await client.waitForManifest(statusUrl, (progress) => void deps.jobs.update(job.id, { progress }, deps.clock()));
  return { manifest, statusUrl };
}

/** Downloads a manifest's outputs into `dir`, one at a time, each streamed (memory: one network chunk). */
export async function downloadAll(outputs: ExportPlan['outputs'], requiresAccessToken: boolean, client: BulkClient, dir: string): Promise<{ files: string[]; bytes: number }> {
  await mkdir(dir, { recursive: true });
  const files: string[] = [];
  let bytes = 0;
  for (const [i, out] of outputs.entries()) {
    const got = await client.download(out.url, requiresAccessToken, dir, fileName(i, out.type));
    files.push(got.path);
    bytes += got.bytes;
  }
  return { files, bytes };
}

export function fileName(index: number, type: string): string {
  return `${String(index).padStart(4, '0')}-${type.replace(/[^A-Za-z]/g, '')}.ndjson`;
}

/**
 * Kick-off and poll; with `since` (incremental), the changed resources are downloaded to `dir` only to learn
 * which patients they name, and those patients are exported again whole: a patient's criteria read their
 * whole record, and a `_since` export holds only what changed.
 */
export async function planExport(job: ScreeningJob, client: BulkClient, dir: string, deps: Pick<JobDeps, 'jobs' | 'clock' | 'mappings' | 'log' | 'screening'>): Promise<ExportPlan> {
  const { types, typeFilters } = exportRequest(deps.mappings);
  const first = await exportManifest(job, { scope: job.scope, types, typeFilters, ...(job.since ? { since: job.since } : {}) }, client, deps);
  // Bulk Data 2.0 §Response - Complete Status: the server's own errors, as OperationOutcome files; counted
  // (they name resources the server could not export, so those patients' records may be incomplete).
  if (first.manifest.error.length > 0) deps.log.warn({ jobId: job.id, serverErrors: first.manifest.error.length }, 'the export reported errors');
  const plan: ExportPlan = {
    transactionTime: first.manifest.transactionTime,
    requiresAccessToken: first.manifest.requiresAccessToken,
    outputs: first.manifest.output.map(({ type, url }) => ({ type, url })),
    serverErrors: first.manifest.error.length,
    statusUrls: [first.statusUrl],
  };
  if (!job.since) return plan;
  await deps.jobs.update(job.id, { state: 'downloading' }, deps.clock());
  const changedDir = join(dir, 'changes');
  const { files } = await downloadAll(plan.outputs, plan.requiresAccessToken, client, changedDir);
  // Members added to the Group since are exported whole too: their older data is not in a _since export.
  const changed = [...new Set([...(await patientsIn(files)), ...(await newGroupMembers(job, client, deps.screening))])].sort();
  await rm(changedDir, { recursive: true, force: true });
  plan.outputs = [];
  plan.changedPatients = changed.length;
  for (let i = 0; i < changed.length; i += PATIENTS_PER_KICKOFF) {
    const part = await exportManifest(job, { scope: { kind: 'patients' }, types, typeFilters, patients: changed.slice(i, i + PATIENTS_PER_KICKOFF) }, client, deps);
    plan.outputs.push(...part.manifest.output.map(({ type, url }) => ({ type, url })));
    plan.requiresAccessToken ||= part.manifest.requiresAccessToken;
    plan.serverErrors += part.manifest.error.length;
    plan.statusUrls.push(part.statusUrl);
  }
  return plan;
}

/** The Medications the records reference, put inside them (src/bulk/referenced-medications.ts); counted. */
export async function inlineMedications(job: ScreeningJob, files: readonly { path: string; type: string }[], client: BulkClient, deps: Pick<JobDeps, 'log'>): Promise<void> {
  const { referenced, found } = await inlineReferencedMedications(files, client);
  if (referenced > found) deps.log.warn({ jobId: job.id, referenced, found }, 'referenced Medications the server did not give: those records are read by their display');
}

/** The Bulk Data client for a job's server, with its token source (SMART Backend Services off loopback). */
export function clientFor(job: ScreeningJob, deps: Pick<JobDeps, 'accessToken' | 'client' | 'mappings'>): BulkClient {
  const token = deps.accessToken?.(job.fhirServer, exportRequest(deps.mappings).types);
  return new BulkClient({ ...deps.client, baseUrl: job.fhirServer, ...(token ? { accessToken: token } : {}) });
}

/** The patients an export's files name (an incremental export's changed patients), streamed. */
export async function patientsIn(files: readonly string[]): Promise<Set<string>> {
  const ids = new Set<string>();
  for (const file of files) {
    for await (const line of createInterface({ input: createReadStream(file, 'utf8'), crlfDelay: Infinity })) {
      if (line.trim() === '') continue;
      try {
        const id = ownerOfResource(JSON.parse(line) as Record<string, unknown>);
        if (id) ids.add(id);
      } catch {
        // an unreadable line names no patient; the screen counts it as a fault
      }
    }
  }
  return ids;
}

/** Patients per `patient`-restricted kick-off (a POST body of references; servers bound its size). */
const PATIENTS_PER_KICKOFF = 500;

/**
 * Runs one job in this process (no DATABASE_URL): export, download, screen, store. Incremental when an
 * earlier job of the same server and scope completed: the export asks `_since` its transactionTime, and the
 * patients it names are exported again whole (`patient` parameter) and screened; a patient whose data
 * digest did not change is skipped, and the store marks who is new. Never throws: a failure is the job's
 * state, with why.
 */
export async function runScreeningJob(job: ScreeningJob, deps: JobDeps): Promise<ScreeningJob> {
  const started = performance.now();
  const dir = join(deps.workDir, job.id);
  let client: BulkClient | undefined;
  let plan: ExportPlan | undefined;
  try {
    client = clientFor(job, deps);
    plan = await planExport(job, client, dir, deps);
    await deps.jobs.update(job.id, { state: 'downloading' }, deps.clock());
    const { files, bytes } = await downloadAll(plan.outputs, plan.requiresAccessToken, client, join(dir, 'export'));
    await inlineMedications(job, files.map((path, i) => ({ path, type: plan!.outputs[i]!.type })), client, deps);
    await deps.jobs.update(
      job.id,
      { state: 'screening', files: files.length, bytes, serverErrors: plan.serverErrors, ...(plan.changedPatients !== undefined ? { changedPatients: plan.changedPatients } : {}) },
      deps.clock(),
    );
    const summary = await screenFiles(job, files, deps);
    const done = await deps.jobs.update(job.id, { state: 'completed', transactionTime: plan.transactionTime, summary }, deps.clock());
    deps.log.info({ jobId: job.id, files: files.length, bytes, ...summary, seconds: Math.round((performance.now() - started) / 100) / 10 }, 'population screening job completed');
    return done ?? job;
  } catch (err) {
    const error = err instanceof Error ? err.message : String(err);
    deps.log.warn({ jobId: job.id, error }, 'population screening job failed');
    return (await deps.jobs.update(job.id, { state: 'failed', error }, deps.clock())) ?? job;
  } finally {
    await rm(dir, { recursive: true, force: true });
    for (const url of plan?.statusUrls ?? []) await client?.cancel(url);
  }
}

/** What a job's patients are screened with, as of `now` (the threads kept for a job are started with the same). */
export function jobScreenOptions(job: ScreeningJob, deps: Pick<JobDeps, 'mappings'>, now: Date): ScreenOptions {
  return { mappings: deps.mappings, ...(job.trialIds ? { trialIds: job.trialIds } : {}), now, fhirServer: job.fhirServer, jobId: job.id };
}

/**
 * Screens the files into the store (an incremental job skips patients whose digest is unchanged). `kept`:
 * threads already started for this job as of its `now` (jobScreenOptions), which the caller keeps and closes.
 */
export async function screenFiles(
  job: ScreeningJob,
  files: readonly string[],
  deps: Pick<JobDeps, 'mappings' | 'screening' | 'clock'>,
  kept?: { now: Date; pool: KeptPool },
): Promise<ScreenSummary> {
  return screenNdjsonFiles(
    files,
    {
      ...jobScreenOptions(job, deps, kept?.now ?? deps.clock()),
      ...(kept ? { pool: kept.pool } : {}),
      // Only an incremental job skips a patient whose data did not change. A full job re-evaluates everyone at
      // today's date: a result leaves its window and a child has a birthday without any change to the record,
      // so a site runs a full job now and then (--full) to keep the worklist true to the date.
      ...(job.since ? { previousDigests: (ids: readonly string[]) => deps.screening.digests(job.fhirServer, ids) } : {}),
    },
    async (entries) => {
      await deps.screening.put(entries);
    },
  );
}
