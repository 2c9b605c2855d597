import type { ScreeningEntry } from '../population/screening-entry.js';
import { candidateKey } from '../store/candidate-key.js';
import type { PatientState, PatientStateCode } from '../store/patient-states.js';

/** One candidate on a trial's worklist: the screening entry and the coordinator's state of it. */
export interface WorklistEntry {
  /** 1 for the first candidate. */
  rank: number;
  entry: ScreeningEntry;
  /** The coordinator's state; `new` when nobody set one. */
  state: PatientStateCode;
  /** Who set the state and when, when somebody did. */
  stateSet?: Pick<PatientState, 'setBy' | 'setAt'>;
}

export interface Worklist {
  trialId: string;
  /** The latest screening among the entries (ISO 8601), if any. */
  screenedAt?: string;
  candidates: WorklistEntry[];
}

/**
 * A trial's worklist (issue #19 item 2): the patients screened likely or possibly eligible, ranked likely
 * first, then by how few items remain open, then by the most recent data (a patient seen last week before one
 * seen last year), then by patient id so the order is stable. Patients screened ineligible are not candidates:
 * a trial is hidden only on positive evidence (the same rule as the card). Pure: the entries and states in,
 * the ranking out.
 */
export function rankWorklist(trialId: string, entries: readonly ScreeningEntry[], states: readonly PatientState[]): Worklist {
  const stateOf = new Map(states.map((s) => [candidateKey(s.fhirServer, s.trialId, s.patientId), s]));
  const candidates = entries.filter((e) => e.trialId === trialId && e.status !== 'ineligible').sort(compareCandidates);
  let screenedAt: string | undefined;
  for (const e of entries) if (e.trialId === trialId && (screenedAt === undefined || e.screenedAt > screenedAt)) screenedAt = e.screenedAt;
  return {
    trialId,
    ...(screenedAt !== undefined ? { screenedAt } : {}),
    candidates: candidates.map((entry, i) => {
      const s = stateOf.get(candidateKey(entry.fhirServer, entry.trialId, entry.patientId));
      return { rank: i + 1, entry, state: s?.state ?? 'new', ...(s ? { stateSet: { setBy: s.setBy, setAt: s.setAt } } : {}) };
    }),
  };
}

function compareCandidates(a: ScreeningEntry, b: ScreeningEntry): number {
  const likely = Number(b.status === 'likely-eligible') - Number(a.status === 'likely-eligible');
  if (likely !== 0) return likely;
  if (a.openItems.length !== b.openItems.length) return a.openItems.length - b.openItems.length;
  // Most recent data first; a patient with no dated data last. FHIR dates of any precision compare as text.
  const seen = (b.lastDataSeen ?? '').localeCompare(a.lastDataSeen ?? '');
  if (seen !== 0) return seen;
  return a.fhirServer === b.fhirServer ? a.patientId.localeCompare(b.patientId) : a.fhirServer.localeCompare(b.fhirServer);
}

/** The FHIR reference of a candidate's Patient: absolute, since a worklist may hold patients of several servers. */
export function patientReference(entry: Pick<ScreeningEntry, 'fhirServer' | 'patientId'>): string {
  return `${entry.fhirServer}/Patient/${entry.patientId}`;
}
