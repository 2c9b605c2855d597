import { itemName } from '../engine/evaluate-trial.js';
import type { Outcome, StatusReasonCode, TrialEvaluation, TrialStatus } from '../engine/types.js';

/**
 * One patient screened against one trial by a population job (issue #19): what the coordinator's worklist
 * ranks and shows. It is derived from the same TrialEvaluation the hook renders cards from, so a patient's
 * status on the worklist and on the card cannot disagree.
 *
 * It names the patient by the FHIR server's id (the coordinator must be able to open the chart); it is kept in
 * the shared state beside the audit trail, never in the operational log.
 */
export interface ScreeningEntry {
  trialId: string;
  /** The FHIR server's Patient id. */
  patientId: string;
  /** The normalised base URL of the FHIR server the export came from (src/fhir/fhir-base-url.ts). */
  fhirServer: string;
  /** The job that last screened this patient for this trial. */
  jobId: string;
  status: TrialStatus;
  statusReason: StatusReasonCode;
  /** The criteria still open (unknown or for review), by id, in protocol order: the ranking counts them. */
  openItems: string[];
  /** The same, in words ("Inclusion 4: Inadequate response to these treatments"). */
  openItemText: string[];
  /**
   * Every criterion's outcome, in protocol order. An ineligible entry holds only the criterion that blocks it
   * (population screening evaluates with detail 'decision', src/engine/types.ts), or none when the patient was
   * not screened (deceased); the criteria it does not list were not evaluated (neither met nor unknown).
   */
  criteria: { id: string; outcome: Outcome }[];
  /** The latest clinical date among the patient's resources (the last time data was seen), if any. */
  lastDataSeen?: string;
  /** A digest of the patient's resources as screened: an incremental job re-screens only when it changed. */
  dataDigest: string;
  /** When this entry was computed (ISO 8601). */
  screenedAt: string;
  /** True when this job is the first to find the patient likely or possibly eligible for this trial. */
  isNew: boolean;
}

/** The entry for one evaluation; `isNew` is decided by the store against what it held before. */
export function screeningEntry(
  evaluation: TrialEvaluation,
  patient: { patientId: string; fhirServer: string; jobId: string; dataDigest: string; lastDataSeen?: string },
): Omit<ScreeningEntry, 'isNew'> {
  const open = evaluation.criteria.filter((c) => c.outcome === 'unknown' || c.outcome === 'review');
  return {
    trialId: evaluation.trialId,
    patientId: patient.patientId,
    fhirServer: patient.fhirServer,
    jobId: patient.jobId,
    status: evaluation.status,
    statusReason: evaluation.statusReason.code,
    openItems: open.map((c) => c.id),
    openItemText: open.map((c) => `${itemName(c)}: ${c.text}`),
    criteria: evaluation.criteria.map((c) => ({ id: c.id, outcome: c.outcome })),
    ...(patient.lastDataSeen ? { lastDataSeen: patient.lastDataSeen } : {}),
    dataDigest: patient.dataDigest,
    screenedAt: evaluation.evaluatedAt,
  };
}

/**
 * Where screening entries are kept (embedded journal or PostgreSQL), shared by replicas. Written by the
 * population job (src/population/), read by the coordinator's worklist (issue #19 item 2).
 */
export interface ScreeningResultsStore {
  /**
   * Upsert by (fhirServer, trialId, patientId). Sets `isNew` on each: true when the store held no likely or
   * possibly eligible entry for that key before. Returns the stored entries.
   */
  put(entries: readonly Omit<ScreeningEntry, 'isNew'>[]): Promise<ScreeningEntry[]>;
  /** The entries for one trial (all FHIR servers, or one). */
  forTrial(trialId: string, fhirServer?: string): Promise<ScreeningEntry[]>;
  /** The data digests held for these patients of this server (any trial), so a job can skip unchanged ones. */
  digests(fhirServer: string, patientIds: readonly string[]): Promise<Map<string, string>>;
}
