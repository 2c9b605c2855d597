/**
 * The state a study coordinator gives each candidate on a trial's worklist (issue #19 item 2): where the
 * patient is in the site's screening, and who said so when. One current state per (FHIR server, trial,
 * patient); the history is the audit trail (action `coordinator-state`).
 */

/** In the order a candidate usually moves through them; `new` is also the state of a candidate never touched. */
export const PATIENT_STATES = ['new', 'reviewed', 'contacted', 'referred', 'declined', 'enrolled', 'not-eligible'] as const;
export type PatientStateCode = (typeof PATIENT_STATES)[number];

export interface PatientState {
  /** The normalised base URL of the FHIR server the patient is on (src/fhir/fhir-base-url.ts). */
  fhirServer: string;
  trialId: string;
  /** The FHIR server's Patient id. */
  patientId: string;
  state: PatientStateCode;
  /** Who set it: the token's issuer and user (`sub`), as the audit trail names them. */
  setBy: { issuer: string; subject: string };
  /** When (ISO 8601). */
  setAt: string;
}

export interface PatientStateStore {
  /** Sets the current state (the last one set wins) and resolves once it is durable. */
  set(state: PatientState): Promise<PatientState>;
  /** The states set for one trial (all FHIR servers, or one). */
  forTrial(trialId: string, fhirServer?: string): Promise<PatientState[]>;
}
