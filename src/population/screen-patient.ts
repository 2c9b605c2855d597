import { createHash } from 'node:crypto';
import type { Bundle, BundleEntry, Resource } from '@medplum/fhirtypes';
import { evaluateBundle } from '../cds/handle-patient-view.js';
import type { MappingSet } from '../mappings/compiled.js';
import { ownerOfResource, type PatientLines } from './group-by-patient.js';
import { screeningEntry, type ScreeningEntry } from './screening-entry.js';

/** What every patient of one job is screened with (loaded once per worker thread). */
export interface ScreenContext {
  /** The mappings, narrowed to the job's trials. */
  mappings: MappingSet;
  now: Date;
  fhirServer: string;
  jobId: string;
}

export interface PatientScreen {
  entries: Omit<ScreeningEntry, 'isNew'>[];
  /** The digest equals the one held from an earlier job: not evaluated, no entries. */
  unchanged: boolean;
  /** The record could not be read whole (its entries are then all unknown), or a criterion failed. */
  fault: boolean;
  resources: number;
}

/**
 * sha256 of the patient's resources in a stable order (their lines sorted), so the same data exported again
 * gives the same digest whatever order the files and lines came in. Over the text as exported: a resource
 * that changed (a new meta.versionId or lastUpdated included) changes it.
 */
export function dataDigest(lines: readonly string[]): string {
  return createHash('sha256').update([...lines].sort().join('\n')).digest('hex');
}

/** The dates of a clinical resource that say when something happened or was recorded (FHIR R4 element names). */
const DATE_FIELDS = [
  'effectiveDateTime', 'effectiveInstant', 'issued', 'onsetDateTime', 'abatementDateTime', 'recordedDate', 'authoredOn',
  'performedDateTime', 'occurrenceDateTime', 'dateAsserted', 'whenHandedOver', 'whenPrepared', 'recorded',
] as const;
const PERIOD_FIELDS = ['effectivePeriod', 'onsetPeriod', 'performedPeriod'] as const;

/**
 * The latest clinical date among the resources (not the Patient's birth date), at most `now`'s day: a date
 * after the screening (a scheduled procedure) is not data seen. As recorded, so the worklist shows what the
 * record says. Compared by the day as written (FHIR dates are ISO 8601, so their text sorts by date), which
 * is what a worklist column needs and costs no date parsing per resource.
 */
export function lastDataSeen(resources: readonly Resource[], now: Date): string | undefined {
  const today = now.toISOString().slice(0, 10);
  let best: string | undefined;
  let bestDay = '';
  const consider = (value: unknown): void => {
    if (typeof value !== 'string' || !DAY_PREFIX.test(value)) return;
    const day = value.slice(0, 10);
    if (day <= today && (day > bestDay || (day === bestDay && best !== undefined && value > best))) {
      best = value;
      bestDay = day;
    }
  };
  for (const r of resources) {
    if (r.resourceType === 'Patient') continue;
    const fields = r as unknown as Record<string, unknown>;
    for (const f of DATE_FIELDS) consider(fields[f]);
    for (const f of PERIOD_FIELDS) {
      const p = fields[f] as { start?: unknown; end?: unknown } | undefined;
      if (p && typeof p === 'object') {
        consider(p.start);
        consider(p.end);
      }
    }
  }
  return best;
}

/** A FHIR date's year, or year-month, or day: what the comparison reads. */
const DAY_PREFIX = /^\d{4}(-\d{2}(-\d{2})?)?/;

/** A criterion as the worklist names it ("Inclusion 4: Inadequate response to …"), as screeningEntry words it. */
export function criterionWords(c: { type: 'inclusion' | 'exclusion'; item: string; text: string }): string {
  return `${c.type === 'inclusion' ? 'Inclusion' : 'Exclusion'} ${c.item}: ${c.text}`;
}

/**
 * The entries of a patient whose record cannot be read whole (not JSON, two Patients, nested beyond reason):
 * every criterion unknown, so the trial stays possible and the coordinator sees the patient (clinical safety
 * rule 2: a fault is missing data, never a reason to hide).
 */
export function faultEntries(patient: PatientLines, ctx: ScreenContext, digest: string = dataDigest(patient.lines)): Omit<ScreeningEntry, 'isNew'>[] {
  return ctx.mappings.trials.map((t) => ({
    trialId: t.id,
    patientId: patient.patientId,
    fhirServer: ctx.fhirServer,
    jobId: ctx.jobId,
    status: 'possibly-eligible',
    statusReason: 'data-missing',
    openItems: t.criteria.map((c) => c.id),
    openItemText: t.criteria.map(criterionWords),
    criteria: t.criteria.map((c) => ({ id: c.id, outcome: 'unknown' })),
    dataDigest: digest,
    screenedAt: ctx.now.toISOString(),
  }));
}

/**
 * One patient of a population job: the digest first (unchanged since the last job: nothing to do), then the
 * same engine path as POST /trials/$evaluate (src/cds/handle-patient-view.ts evaluateBundle: each resource
 * made readable, the record indexed, the site's ConceptMap placed, every trial evaluated), each trial's
 * result mapped to a ScreeningEntry. Never throws: a record that cannot be read is a fault with unknown entries.
 */
export function screenPatient(patient: PatientLines, ctx: ScreenContext, previousDigest?: string): PatientScreen {
  const digest = dataDigest(patient.lines);
  const resources = patient.lines.length;
  if (previousDigest === digest) return { entries: [], unchanged: true, fault: false, resources };
  try {
    const entry: BundleEntry[] = [];
    for (const line of patient.lines) {
      const resource = JSON.parse(line) as Resource;
      // A resource the grouping placed here by its raw text must name this patient when parsed; one that does
      // not (a line written in a way the fast reading did not foresee) is not this patient's data.
      if (resource.resourceType !== 'Medication' && ownerOfResource(resource as unknown as Record<string, unknown>) !== patient.patientId) {
        throw new Error('a resource does not belong to the patient it was grouped under');
      }
      entry.push({ resource });
    }
    const bundle: Bundle = { resourceType: 'Bundle', type: 'collection', entry };
    // 'decision' (issue #21 item 5): a trial the patient is ineligible for stops at its first blocking
    // criterion, which its entry keeps; candidates are evaluated whole, as the worklist shows every criterion.
    const { evaluations, faults } = evaluateBundle(bundle, { mappings: ctx.mappings, fhir: NO_FHIR }, ctx.now, 'decision');
    const seen = lastDataSeen(entry.map((e) => e.resource!), ctx.now);
    const about = { patientId: patient.patientId, fhirServer: ctx.fhirServer, jobId: ctx.jobId, dataDigest: digest, ...(seen ? { lastDataSeen: seen } : {}) };
    return { entries: evaluations.map((e) => screeningEntry(e, about)), unchanged: false, fault: faults.length > 0, resources };
  } catch {
    return { entries: faultEntries(patient, ctx, digest), unchanged: false, fault: true, resources };
  }
}

/** evaluateBundle reads no FHIR server (its deps carry the hook's limits only for the type's sake). */
const NO_FHIR = { timeoutMs: 0, maxPages: 0, maxResources: 0 } as const;
