import { createHash } from 'node:crypto';
import type { Bundle, Resource } from '@medplum/fhirtypes';
import { evaluateBundle } from '../cds/handle-patient-view.js';
import type { MappingSet } from '../mappings/compiled.js';
import { screeningEntry, type ScreeningEntry } from './screening-entry.js';

/*
 * A MINIMAL stand-in written by "bulk" so the population job runs before "screen"'s branch is merged (issue
 * #19, population contract: same path, same signatures). One thread, patients in order; "screen" owns this
 * file and its worker-pool version replaces this one at merge.
 */

export interface PatientResources {
  patientId: string;
  /** The patient's resources, the Patient included. */
  resources: Resource[];
}

export interface ScreenOptions {
  mappings: MappingSet;
  /** Default: all trials. */
  trialIds?: readonly string[];
  now: Date;
  /** Normalised base, goes into each entry. */
  fhirServer: string;
  jobId: string;
  /** Default: os.availableParallelism() (this stand-in uses one). */
  threads?: number;
  /** The digests held from earlier jobs: a patient whose digest is unchanged is skipped (incremental). */
  previousDigests?: (patientIds: readonly string[]) => Promise<Map<string, string>>;
}

export interface ScreenSummary {
  patients: number;
  screened: number;
  unchanged: number;
  resources: number;
  faults: number;
}

export type Sink = (entries: Omit<ScreeningEntry, 'isNew'>[]) => Promise<void>;

const BATCH = 200;

/** Every date field a clinical resource carries (FHIR R4), the latest of which is "data last seen". */
const DATE_FIELDS = ['effectiveDateTime', 'effectiveInstant', 'issued', 'onsetDateTime', 'recordedDate', 'authoredOn', 'performedDateTime', 'occurrenceDateTime', 'dateAsserted', 'whenHandedOver'];

function latestDate(resources: readonly Resource[]): string | undefined {
  let latest: string | undefined;
  for (const r of resources) {
    const rec = r as unknown as Record<string, unknown>;
    for (const f of DATE_FIELDS) {
      const v = rec[f];
      if (typeof v === 'string' && (!latest || v > latest)) latest = v;
    }
    const period = (rec.effectivePeriod ?? rec.performedPeriod) as { start?: string; end?: string } | undefined;
    for (const v of [period?.start, period?.end]) if (typeof v === 'string' && (!latest || v > latest)) latest = v;
  }
  return latest;
}

/** sha256 of the patient's resources in a stable order (type, then id), each as the server sent it. */
export function dataDigest(resources: readonly Resource[]): string {
  const keyed = resources.map((r) => [`${r.resourceType}/${r.id ?? ''}`, JSON.stringify(r)] as const).sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : 1));
  const h = createHash('sha256');
  for (const [, json] of keyed) h.update(json).update('\n');
  return h.digest('hex');
}

export async function screenPatients(patients: AsyncIterable<PatientResources>, options: ScreenOptions, sink: Sink): Promise<ScreenSummary> {
  const summary: ScreenSummary = { patients: 0, screened: 0, unchanged: 0, resources: 0, faults: 0 };
  const mappings = options.trialIds ? { ...options.mappings, trials: options.mappings.trials.filter((t) => options.trialIds!.includes(t.id)) } : options.mappings;
  let batch: PatientResources[] = [];
  const flush = async (): Promise<void> => {
    if (batch.length === 0) return;
    const digests = batch.map((p) => dataDigest(p.resources));
    const previous = options.previousDigests ? await options.previousDigests(batch.map((p) => p.patientId)) : new Map<string, string>();
    const entries: Omit<ScreeningEntry, 'isNew'>[] = [];
    batch.forEach((p, i) => {
      const digest = digests[i]!;
      if (previous.get(p.patientId) === digest) {
        summary.unchanged++;
        return;
      }
      const bundle: Bundle = { resourceType: 'Bundle', type: 'collection', entry: p.resources.map((resource) => ({ resource })) };
      const { evaluations, faults } = evaluateBundle(bundle, { mappings, fhir: { timeoutMs: 0, maxPages: 0, maxResources: 0 } }, options.now);
      summary.faults += faults.length;
      summary.screened++;
      const lastDataSeen = latestDate(p.resources);
      for (const e of evaluations) {
        entries.push(screeningEntry(e, { patientId: p.patientId, fhirServer: options.fhirServer, jobId: options.jobId, dataDigest: digest, ...(lastDataSeen ? { lastDataSeen } : {}) }));
      }
    });
    batch = [];
    if (entries.length > 0) await sink(entries);
  };
  for await (const p of patients) {
    summary.patients++;
    summary.resources += p.resources.length;
    batch.push(p);
    if (batch.length >= BATCH) await flush();
  }
  await flush();
  return summary;
}
