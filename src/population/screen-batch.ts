import type { Outcome } from '../engine/types.js';
import type { MappingSet } from '../mappings/compiled.js';
import type { ScreeningEntry } from './screening-entry.js';
import { criterionWords, screenPatient, type ScreenContext } from './screen-patient.js';

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

/**
 * An entry as it crosses from a thread: each criterion's outcome in the trial's protocol order, without the
 * criterion ids and open items' words, which the receiving side has in its own mappings (the words alone are
 * most of an entry: sent for every patient they made the copy between threads cost more than the screening).
 */
export type CompactEntry = Omit<ScreeningEntry, 'isNew' | 'criteria' | 'openItemText'> & {
  outcomes: Outcome[];
  /**
   * The criteria the outcomes are for, when not the trial's every criterion: an ineligible entry holds only
   * its blocking one (ScreeningEntry.criteria).
   */
  ids?: string[];
};

export interface BatchResult {
  id: number;
  entries: CompactEntry[];
  screened: number;
  unchanged: number;
  faults: number;
  resources: number;
}

/** Entries made compact for the trip between threads. */
export function compactEntry(e: Omit<ScreeningEntry, 'isNew'>): CompactEntry {
  const { criteria, openItemText: _words, ...rest } = e;
  const compact: CompactEntry = { ...rest, outcomes: criteria.map((c) => c.outcome) };
  if (e.status === 'ineligible') compact.ids = criteria.map((c) => c.id);
  return compact;
}

/** Rebuilds full entries from compact ones with the words and ids of the job's trials, in protocol order. */
export function entryExpander(mappings: MappingSet): (e: CompactEntry) => Omit<ScreeningEntry, 'isNew'> {
  const trials = new Map(
    mappings.trials.map((t) => [t.id, { ids: t.criteria.map((c) => c.id), words: new Map(t.criteria.map((c) => [c.id, criterionWords(c)])) }]),
  );
  return (e) => {
    const trial = trials.get(e.trialId);
    const ids = e.ids ?? trial?.ids;
    if (!trial || !ids || ids.length !== e.outcomes.length || (e.ids && !e.ids.every((id) => trial.words.has(id)))) {
      throw new Error(`a screening thread answered for criteria the job's trial ${e.trialId} does not have`);
    }
    const { outcomes, ids: _ids, ...rest } = e;
    return { ...rest, openItemText: e.openItems.map((id) => trial.words.get(id) ?? id), criteria: ids.map((id, i) => ({ id, outcome: outcomes[i]! })) };
  };
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
    for (const e of result.entries) out.entries.push(compactEntry(e));
  }
  return out;
}
