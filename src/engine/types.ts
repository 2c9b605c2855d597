import type { Anchor } from './compiled.js';

/** The evaluator's output: a trace, from which cards and the JSON evaluation are rendered. */

export type Outcome = 'met' | 'not-met' | 'unknown' | 'review';

/** Where one statement came from: a resource, the value and unit it held, and its date. */
export interface Evidence {
  /** "Observation/123" */
  reference: string;
  /** What was found, in words a clinician reads ("Hemoglobin", "prednisone 20 MG Oral Tablet"). */
  display: string;
  value?: number | string;
  unit?: string;
  /** The value as recorded, when a unit conversion was applied ("8.5 g/dL"). */
  recorded?: string;
  /** The clinically relevant date (effective, onset, authored, performed, occurrence). */
  date?: string;
  /** How it was read: "matched by name", "default ULN 40 U/L used: result had no reference range". */
  note?: string;
}

/** A finding the record holds that the criterion's window does not decide on, shown to the clinician (issue 18 item 4). */
export interface Fact {
  kind: 'prior-positive';
  /** "HBsAg positive 2026-08-03", "hCG 15,200 mIU/mL 2026-11-16" */
  text: string;
  evidence: Evidence;
}

export interface PartResult {
  id: string;
  label: string;
  kind: string;
  outcome: Outcome;
  /** One line on why this outcome. */
  reason: string;
  evidence: Evidence[];
  /** When unknown: the data that would settle it. */
  missing?: string[];
  parts?: PartResult[];
  /**
   * For a part met by a record inside a look-back window (a washout: "rituximab in the last 3 months"):
   * the first date the window no longer reaches the latest such record, so the part stops being met on the
   * record as it stands (issue #11 item 4). Absent when the part is not met, has no window, or may go on
   * (a current drug, an ongoing procedure).
   */
  clears?: WindowClears;
  /**
   * What the record alone gave, when the part's window may not decide it (src/engine/window-guard.ts): a
   * window counted from an event still ahead, or a project default. `outcome` is then review or unknown.
   */
  recordOutcome?: Outcome;
  /**
   * Set by a result leaf left open (unknown or for review) when the record holds a result outside its window
   * that would have decided it: "hCG 15,200 mIU/mL 2026-11-03" for a 14-day window (issue 18 item 4).
   */
  facts?: Fact[];
}

export interface WindowClears {
  /** "2027-01-14" */
  on: string;
  /** "3 months after the last rituximab (2026-10-14)" */
  after: string;
}

export interface CriterionResult {
  id: string;
  type: 'inclusion' | 'exclusion';
  item: string;
  text: string;
  interpretation: string;
  /** The event the item is read against: screening (today), or consent, enrolment, the first dose (ahead). */
  anchor: Anchor;
  /** Three-valued result for the trial's logic. Review items are 'unknown' here with review = true. */
  result: 'met' | 'not-met' | 'unknown';
  /** True when a part of this item is left to the investigator (judgement, consent, screening test). */
  review: boolean;
  outcome: Outcome;
  reason: string;
  evidence: Evidence[];
  missing: string[];
  parts: PartResult[];
  /**
   * The leaves the outcome still waits on (unknown or for review): an alternative already met leaves
   * nothing open beside it (src/engine/open-parts.ts). Cards list these; they do not walk the parts again.
   */
  open: PartResult[];
  /**
   * For an exclusion met only through look-back windows: the first date it no longer applies on this
   * record ("eligible for exclusion 13 from 2027-01-14"), and why (`clearsAfter`). Issue #11 item 4.
   */
  clearsOn?: string;
  clearsAfter?: string;
  /**
   * Results the criterion's window does not decide on but a clinician must see: a positive outside the window
   * of an open criterion, or a positive part of an exclusion still open on another part (issue 18 item 4).
   * Collected from its parts (src/engine/facts.ts); a trial with one is at most possibly eligible.
   */
  facts?: Fact[];
}

export type TrialStatus = 'likely-eligible' | 'possibly-eligible' | 'ineligible';

/**
 * Why the status was chosen (issue 18 item 5), most decisive first:
 * - `not-screened`: a fact about the whole record stops screening (the patient has died);
 * - `inclusion-not-met`, `exclusion-met`: positive evidence against the trial;
 * - `prior-positive`: an exclusion's test was positive in the record, outside the criterion's window;
 * - `exclusion-finding`: the record holds something an exclusion names, for the study team to judge;
 * - `data-missing`: a criterion the record could decide is unknown;
 * - `judgement-open`: an inclusion waits on a clinician's judgement of the record (refractory, active disease);
 * - `no-exclusion-found`: every inclusion the record can decide is met, no judgement of the record is open
 *   and no exclusion was found in the coded record: only consent and screening-visit items remain.
 */
export type StatusReasonCode =
  | 'not-screened'
  | 'inclusion-not-met'
  | 'exclusion-met'
  | 'prior-positive'
  | 'exclusion-finding'
  | 'data-missing'
  | 'judgement-open'
  | 'no-exclusion-found';

export interface StatusReason {
  /** The most decisive reason. */
  code: StatusReasonCode;
  /** Every reason that applies, most decisive first (`code` is the first). */
  codes: StatusReasonCode[];
  /** In words, with the criteria named ("Inclusion 2, Inclusion 4: the study team's judgement of the record"). */
  text: string;
  /** The criteria behind the reasons, by id. */
  criteria: string[];
  /** What each named criterion waits on or holds ("Inclusion 4: Inadequate response to these treatments", "Exclusion 8: HBsAg positive 2026-08-03"). */
  items?: string[];
}

export interface TrialEvaluation {
  trialId: string;
  nctId?: string;
  title: string;
  shortTitle: string;
  status: TrialStatus;
  /** Why this status (issue 18 item 5): a code and words; the card's extension carries it too. */
  statusReason: StatusReason;
  /** The criteria that make the trial ineligible (empty unless ineligible). */
  blocking: string[];
  /**
   * Set when a fact about the whole record stops screening before any criterion (the patient has died):
   * the trial is then ineligible with this reason and its evidence, and no card is shown.
   */
  notScreened?: { reason: string; evidence: Evidence[] };
  /**
   * The criteria evaluated, in protocol order. With detail 'full' (the default) every criterion; with detail
   * 'decision' a trial that stopped holds only its blocking criterion, whole (`notEvaluated` lists the rest),
   * and a trial not screened none.
   */
  criteria: CriterionResult[];
  /**
   * Set only with detail 'decision', when the trial stopped at a blocking criterion (or was not screened): the
   * other criteria, in protocol order, whose result is not carried. Each was either not evaluated or evaluated
   * only as far as showing it does not block; none is met, not met or unknown on this evaluation, because the
   * trial is ineligible whatever they say. A consumer lists them as "not evaluated", never as missing data
   * (issue #21 item 5).
   */
  notEvaluated?: CriterionRef[];
  evaluatedAt: string;
}

/** A criterion named without a result: what a "not evaluated" line shows. */
export interface CriterionRef {
  id: string;
  type: 'inclusion' | 'exclusion';
  item: string;
  text: string;
}

/**
 * How much of each trial the evaluator works out:
 * - 'full': every criterion of every trial, with its trace (POST /trials/$evaluate, the SMART app);
 * - 'decision': the same statuses, but a trial stops at its first blocking criterion (an inclusion not met, an
 *   exclusion met) in a cost order (src/engine/decision-order.ts), for callers that need no trace of an
 *   ineligible trial (the hook shows no card for it; population screening keeps why it is ineligible).
 */
export type EvaluationDetail = 'full' | 'decision';
