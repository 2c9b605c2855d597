import { mkdir, rm } from 'node:fs/promises';
import { createReadStream } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { Resource } from '@medplum/fhirtypes';
import type { MappingSet } from '../mappings/compiled.js';
import type { ScreeningResultsStore } from '../population/screening-entry.js';
import { patientOf, screenNdjsonFiles } from '../population/screen-files.js';
import type { ScreenSummary } from '../population/screen-patients.js';
import { BulkClient, type BulkClientOptions, type ExportManifest, type KickOff } from './bulk-client.js';
import { exportRequest } from './export-request.js';
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

export interface ExportedFiles {
  manifest: ExportManifest;
  files: string[];
  bytes: number;
}

/** Kick-off, poll, download every output file to `dir`, streamed; the job's state follows each phase. */
export async function exportToDisk(job: ScreeningJob, kick: KickOff, client: BulkClient, dir: string, deps: JobDeps): Promise<ExportedFiles> {
  await deps.jobs.update(job.id, { state: 'exporting' }, deps.clock());
  const statusUrl = await client.kickOff(kick);
  const manifest = await client.waitForManifest(statusUrl, (progress) => void deps.jobs.update(job.id, { progress }, deps.clock()));
  await deps.jobs.update(job.id, { state: 'downloading' }, deps.clock());
  await mkdir(dir, { recursive: true });
  const files: string[] = [];
  let bytes = 0;
  // One file at a time: each is streamed to disk, so memory stays at one network chunk whatever the size.
  for (const [i, out] of manifest.output.entries()) {
    const name = `${String(i).padStart(4, '0')}-${out.type.replace(/[^A-Za-z]/g, '')}.ndjson`;
    const got = await client.download(out.url, manifest.requiresAccessToken, dir, name);
    files.push(got.path);
    bytes += got.bytes;
  }
  // Bulk Data 2.0 §Response - Complete Status: the server's own errors, as OperationOutcome files; counted
  // (they name resources the server could not export, so those patients' records may be incomplete).
  if (manifest.error.length > 0) deps.log.warn({ jobId: job.id, serverErrors: manifest.error.length }, 'the export reported errors');
  await client.cancel(statusUrl); // §Delete: the files are on disk now, the server may drop its copy
  return { manifest, files, bytes };
}

/** The patients an export's files name (an incremental export's changed patients), streamed. */
export async function patientsIn(files: readonly string[]): Promise<Set<string>> {
  const ids = new Set<string>();
  for (const file of files) {
    for await (const line of createInterface({ input: createReadStream(file, 'utf8'), crlfDelay: Infinity })) {
      if (line.trim() === '') continue;
      try {
        const id = patientOf(JSON.parse(line) as Resource);
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
  const { types, typeFilters } = exportRequest(deps.mappings);
  const token = deps.accessToken?.(job.fhirServer, types);
  const client = new BulkClient({ ...deps.client, baseUrl: job.fhirServer, ...(token ? { accessToken: token } : {}) });
  try {
    const first = await exportToDisk(job, { scope: job.scope, types, typeFilters, ...(job.since ? { since: job.since } : {}) }, client, join(dir, 'export'), deps);
    let files = first.files;
    let bytes = first.bytes;
    let changedPatients: number | undefined;
    if (job.since) {
      // A `_since` export holds only what changed; a patient's criteria read their whole record, so the changed
      // patients are exported again whole (Bulk Data 2.0 `patient` parameter of Patient/$export).
      const changed = [...(await patientsIn(first.files))].sort();
      changedPatients = changed.length;
      files = [];
      for (let i = 0; i < changed.length; i += PATIENTS_PER_KICKOFF) {
        const part = await exportToDisk(job, { scope: { kind: 'patients' }, types, typeFilters, patients: changed.slice(i, i + PATIENTS_PER_KICKOFF) }, client, join(dir, `changed-${i}`), deps);
        files.push(...part.files);
        bytes += part.bytes;
      }
    }
    await deps.jobs.update(job.id, { state: 'screening', files: files.length, bytes, serverErrors: first.manifest.error.length, ...(changedPatients !== undefined ? { changedPatients } : {}) }, deps.clock());
    const summary = await screenFiles(job, files, deps);
    const done = await deps.jobs.update(job.id, { state: 'completed', transactionTime: first.manifest.transactionTime, summary }, deps.clock());
    deps.log.info({ jobId: job.id, files: files.length, bytes, ...summary, seconds: Math.round((performance.now() - started) / 100) / 10 }, 'population screening job completed');
    return done ?? job;
  } catch (err) {
    const error = err instanceof Error ? err.message : String(err);
    deps.log.warn({ jobId: job.id, error }, 'population screening job failed');
    return (await deps.jobs.update(job.id, { state: 'failed', error }, deps.clock())) ?? job;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Screens the files into the store, skipping patients whose digest is unchanged. */
export async function screenFiles(job: ScreeningJob, files: readonly string[], deps: Pick<JobDeps, 'mappings' | 'screening' | 'clock'>): Promise<ScreenSummary> {
  return screenNdjsonFiles(
    files,
    {
      mappings: deps.mappings,
      ...(job.trialIds ? { trialIds: job.trialIds } : {}),
      now: deps.clock(),
      fhirServer: job.fhirServer,
      jobId: job.id,
      previousDigests: (ids) => deps.screening.digests(job.fhirServer, ids),
    },
    async (entries) => {
      await deps.screening.put(entries);
    },
  );
}
