/**
 * The override reasons every trial card offers (CDS Hooks 2.0 §Overridereason). Trial-aware: each says why
 * this trial's card is not wanted for this patient, and the ones that mark `suppresses` are honoured: after
 * one, the trial's card is not shown again for that patient for SUPPRESSION_DAYS (default 90), keyed by a
 * keyed hash of issuer, patient and trial (issue #11).
 */
export const OVERRIDE_REASON_SYSTEM = 'urn:trialmatch-cds:override-reason';

export interface OverrideReason {
  code: string;
  display: string;
  /** True: the card is not shown again for this patient and trial for the suppression period. */
  suppresses: boolean;
}

export const OVERRIDE_REASONS: readonly OverrideReason[] = [
  { code: 'already-screened', display: 'Already screened for this trial', suppresses: true },
  { code: 'declined', display: 'Patient or family declined', suppresses: true },
  { code: 'not-candidate-now', display: 'Not a candidate now', suppresses: true },
  { code: 'not-relevant', display: 'Not relevant to this visit', suppresses: false },
];

export function overrideReason(code: string): OverrideReason | undefined {
  return OVERRIDE_REASONS.find((r) => r.code === code);
}
