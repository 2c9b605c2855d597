import type { MappingSet } from '../mappings/compiled.js';
import type { ScreeningEntry } from './screening-entry.js';
import { screenPatient, type ScreenContext } from './screen-patient.js';

/** What a worker thread is started with: where to load the mappings and the job's constants. */
export interface ScreenSetup {
  source: NonNullable<MappingSet['source']>;
  trialIds?: readonly string[];
  /** ISO 8601. */
  now: string;
  fhirServer: string;
  jobId: string;
}

/**
 * Patients handed to a worker in one message. Each patient's lines travel as one string (joined by '\n', which
 * no NDJSON line holds), which the structured clone copies in one piece rather than line by line.
 */
export interface ScreenBatch {
  id: number;
  patientIds: string[];
  texts: string[];
  /** The digest held from an earlier job, per patient, or null. */
  previous: (string | null)[];
}

export interface BatchResult {
  id: number;
  entries: Omit<ScreeningEntry, 'isNew'>[];
  screened: number;
  unchanged: number;
  faults: number;
  resources: number;
}

/** The job's mappings: only the trials it screens (all when none are named); an unknown id is an error. */
export function narrowMappings(mappings: MappingSet, trialIds: readonly string[] | undefined): MappingSet {
  if (!trialIds) return mappings;
  const unknown = trialIds.filter((id) => !mappings.trials.some((t) => t.id === id));
  if (unknown.length > 0) throw new Error(`unknown trial id: ${unknown.join(', ')}`);
  return { ...mappings, trials: mappings.trials.filter((t) => trialIds.includes(t.id)) };
}

/** Screens one batch (in a worker thread, or in the calling thread when no worker can load the mappings). */
export function screenBatch(batch: ScreenBatch, ctx: ScreenContext): BatchResult {
  const out: BatchResult = { id: batch.id, entries: [], screened: 0, unchanged: 0, faults: 0, resources: 0 };
  for (let i = 0; i < batch.patientIds.length; i++) {
    const result = screenPatient({ patientId: batch.patientIds[i]!, lines: batch.texts[i]!.split('\n') }, ctx, batch.previous[i] ?? undefined);
    out.resources += result.resources;
    if (result.unchanged) out.unchanged++;
    else out.screened++;
    if (result.fault) out.faults++;
    for (const e of result.entries) out.entries.push(e);
  }
  return out;
}
