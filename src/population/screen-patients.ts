import { availableParallelism } from 'node:os';
import type { Resource } from '@medplum/fhirtypes';
import type { LoadedMappings } from '../mappings/load-mappings.js';
import type { PatientLines } from './group-by-patient.js';
import { compactEntry, entryExpander, narrowMappings, screenBatch, type BatchResult, type ScreenBatch } from './screen-batch.js';
import { faultEntries, type ScreenContext } from './screen-patient.js';
import type { ScreeningEntry } from './screening-entry.js';
import { InProcessPool, WORKER_HEAP_MB, WorkerPool, type ScreenPool } from './worker-pool.js';

export type { ScreenPool } from './worker-pool.js';

export interface PatientResources {
  patientId: string;
  /** The patient's resources, the Patient included. */
  resources: Resource[];
}

export interface ScreenOptions {
  /** src/mappings/load-mappings.ts; worker threads load the same files again (MappingSet.source). */
  mappings: LoadedMappings;
  /** Default: all trials. */
  trialIds?: readonly string[];
  now: Date;
  /** Normalised base, goes into each entry. */
  fhirServer: string;
  jobId: string;
  /** Default: os.availableParallelism(). 0, or mappings without a source, screens in the calling thread. */
  threads?: number;
  /** The digests held from earlier jobs: a patient whose digest is unchanged is skipped (incremental). */
  previousDigests?: (patientIds: readonly string[]) => Promise<Map<string, string>>;
  /**
   * Threads already started for these options (startScreenPool), kept by the caller and not closed here: a
   * caller that screens several times with the same trials, date and job pays the threads' start (about 1.7 s
   * of CPU each: modules and mappings) once. Without it each call starts and closes its own.
   */
  pool?: KeptPool;
  /**
   * Old-generation heap of each screening thread, MiB (default 256). A thread that outgrows it dies; its batch
   * becomes fault entries and a new thread takes its place (ScreenSummary.failedBatches).
   */
  threadHeapMb?: number;
}

/** Threads started for one set of options: what they screen with (trials, date, server, job) is fixed at their start. */
export interface KeptPool extends ScreenPool {
  readonly startedFor: string;
}

function startedFor(options: ScreenOptions): string {
  return JSON.stringify([options.trialIds ?? null, options.now.toISOString(), options.fhirServer, options.jobId, options.mappings.source ?? null]);
}

export interface ScreenSummary {
  patients: number;
  screened: number;
  unchanged: number;
  resources: number;
  faults: number;
  /**
   * Batches whose screening thread died (out of memory on a monstrous record, a defect): their patients are
   * fault entries, every criterion unknown, and counted in `faults` too. The job goes on.
   */
  failedBatches: number;
  /**
   * Patients whose record was larger than a screening thread can hold (patientCharLimit): given fault entries
   * without being sent to a thread, and counted in `faults` too. A thread that ran out of heap on one died
   * cleanly when the record was many resources, but one 200 MiB resource took the whole process down. From
   * NDJSON files (screenNdjsonFiles) such a record is measured in its bucket file and never decoded.
   */
  tooLarge: number;
}

/** A summary of nothing screened yet: every count zero (a job's buckets are summed into one). */
export function emptySummary(): ScreenSummary {
  return { patients: 0, screened: 0, unchanged: 0, resources: 0, faults: 0, failedBatches: 0, tooLarge: 0 };
}

/**
 * The most NDJSON (UTF-16 units) of one patient sent to a screening thread: a quarter of its heap (64 Mi with
 * the default 256 MiB). Measured on the large lupus record scaled up, one thread at the default heap: 53 MiB
 * of NDJSON (120,000 resources) screened in 2.3 s; 80 MiB ran the thread out of heap.
 */
export function patientCharLimit(options: Pick<ScreenOptions, 'threadHeapMb'>): number {
  return ((options.threadHeapMb ?? WORKER_HEAP_MB) * 1024 * 1024) / 4;
}

export type Sink = (entries: Omit<ScreeningEntry, 'isNew'>[]) => Promise<void>;

/** Patients per message to a thread: enough that messaging costs little, few enough that threads share the tail. */
const BATCH_PATIENTS = 64;
/** ... or fewer when their records are large (characters of NDJSON). */
const BATCH_CHARS = 4 * 1024 * 1024;

/** A population job's patients, given as resources (src/population/screen-files.ts reads them from NDJSON). */
export function screenPatients(patients: AsyncIterable<PatientResources>, options: ScreenOptions, sink: Sink): Promise<ScreenSummary> {
  return screenPatientLines(asLines(patients), options, sink);
}

async function* asLines(patients: AsyncIterable<PatientResources>): AsyncGenerator<PatientLines> {
  for await (const p of patients) yield { patientId: p.patientId, lines: p.resources.map((r) => JSON.stringify(r)) };
}

/** The threads screenPatientLines would start for these options, for a caller to keep (ScreenOptions.pool). */
export function startScreenPool(options: ScreenOptions): KeptPool {
  return Object.assign(startPool(options, screenContext(options)), { startedFor: startedFor(options) });
}

function screenContext(options: ScreenOptions): ScreenContext {
  return { mappings: narrowMappings(options.mappings, options.trialIds), now: options.now, fhirServer: options.fhirServer, jobId: options.jobId };
}

function startPool(options: ScreenOptions, ctx: ScreenContext): ScreenPool {
  const threads = options.threads ?? availableParallelism();
  const source = options.mappings.source;
  if (threads <= 0 || !source) return new InProcessPool((batch) => screenBatch(batch, ctx));
  return new WorkerPool(
    { source, ...(options.trialIds ? { trialIds: options.trialIds } : {}), now: options.now.toISOString(), fhirServer: options.fhirServer, jobId: options.jobId },
    threads,
    options.threadHeapMb,
  );
}

/**
 * Screens patients given as NDJSON lines: batches go to the worker threads, each thread's entries to the
 * sink as they come (one sink call at a time, in the order batches finish), with at most two batches per
 * thread waiting so memory stays bounded however many patients come. A batch whose thread died becomes
 * fault entries (every criterion unknown) for its patients: the job goes on.
 */
export async function screenPatientLines(patients: AsyncIterable<PatientLines>, options: ScreenOptions, sink: Sink): Promise<ScreenSummary> {
  const ctx = screenContext(options);
  const summary = emptySummary();
  const maxChars = patientCharLimit(options);
  // A kept pool screens with the job, date and trials it was started for: never with another's.
  if (options.pool && options.pool.startedFor !== startedFor(options)) throw new Error('the screening threads were started for another job, date, server or trials');
  const pool = options.pool ?? startPool(options, ctx);
  const maxInFlight = Math.max(2, pool.threads * 2);
  const inFlight = new Set<Promise<void>>();
  let sinking: Promise<void> = Promise.resolve();
  let nextId = 0;
  const expand = entryExpander(ctx.mappings);
  const settle = (result: BatchResult): Promise<void> => {
    summary.screened += result.screened;
    summary.unchanged += result.unchanged;
    summary.faults += result.faults;
    summary.resources += result.resources;
    if (result.entries.length === 0) return sinking;
    const entries = result.entries.map(expand);
    sinking = sinking.then(() => sink(entries));
    return sinking;
  };
  const dispatch = async (batch: ScreenBatch): Promise<void> => {
    if (options.previousDigests) {
      const held = await options.previousDigests(batch.patientIds);
      batch.previous = batch.patientIds.map((id) => held.get(id) ?? null);
    }
    const done = pool.run(batch).then(
      (result) => settle(result),
      () => {
        summary.failedBatches++;
        return settle(faultBatch(batch, ctx));
      },
    );
    inFlight.add(done);
    done.then(
      () => inFlight.delete(done),
      () => inFlight.delete(done),
    );
    while (inFlight.size >= maxInFlight) await Promise.race(inFlight);
  };
  try {
    let batch: ScreenBatch = { id: nextId++, patientIds: [], texts: [], previous: [] };
    let chars = 0;
    for await (const p of patients) {
      summary.patients++;
      const text = p.tooLarge ? '' : p.lines.join('\n');
      if (p.tooLarge || text.length > maxChars) {
        // Never sent to a thread: every criterion unknown, the patient kept on the worklist for the study team.
        summary.tooLarge++;
        void settle(tooLargeResult(p, ctx, nextId++));
        continue;
      }
      batch.patientIds.push(p.patientId);
      batch.texts.push(text);
      batch.previous.push(null);
      chars += text.length;
      if (batch.patientIds.length >= BATCH_PATIENTS || chars >= BATCH_CHARS) {
        await dispatch(batch);
        batch = { id: nextId++, patientIds: [], texts: [], previous: [] };
        chars = 0;
      }
    }
    if (batch.patientIds.length > 0) await dispatch(batch);
    await Promise.all(inFlight);
    await sinking;
  } finally {
    if (!options.pool) await pool.close();
  }
  return summary;
}

/**
 * The digest kept for a patient too large to screen: no sha256 hex digest, so never "unchanged" against a
 * record that was screened. Hashing the record, as faultBatch does, would read it all on the main thread.
 */
const TOO_LARGE_DIGEST = 'too-large-to-screen';

/** A patient never sent to a thread (over patientCharLimit): entries all unknown, counted as a fault. */
function tooLargeResult(p: PatientLines, ctx: ScreenContext, id: number): BatchResult {
  const entries = faultEntries({ patientId: p.patientId, lines: [] }, ctx, TOO_LARGE_DIGEST).map((e) => compactEntry(e));
  return { id, entries, screened: 1, unchanged: 0, faults: 1, resources: p.tooLarge?.resources ?? p.lines.length };
}

/** A batch whose thread failed: each patient's entries all unknown, counted as faults. */
function faultBatch(batch: ScreenBatch, ctx: ScreenContext): BatchResult {
  const out: BatchResult = { id: batch.id, entries: [], screened: batch.patientIds.length, unchanged: 0, faults: batch.patientIds.length, resources: 0 };
  batch.patientIds.forEach((patientId, i) => {
    const lines = batch.texts[i]!.split('\n');
    out.resources += lines.length;
    for (const e of faultEntries({ patientId, lines }, ctx)) out.entries.push(compactEntry(e));
  });
  return out;
}
