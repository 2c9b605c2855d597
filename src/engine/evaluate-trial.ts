import type { CompiledTrial, EngineValueSets } from './compiled.js';
import type { PatientRecord } from '../patient/patient-record.js';
import { createContext, type EvalContext } from './context.js';
import { evaluateRule, needsReview } from './evaluate-rule.js';
import { formatDate } from './dates.js';
import { openParts } from './open-parts.js';
import type { CriterionResult, PartResult, TrialEvaluation, TrialStatus, Evidence } from './types.js';

function flattenEvidence(p: PartResult, out: Evidence[] = []): Evidence[] {
  for (const e of p.evidence) out.push(e);
  if (p.parts) for (const x of p.parts) flattenEvidence(x, out);
  return out;
}

/**
 * Status from the criteria (issue #2): ineligible only on positive evidence (an inclusion not met, an
 * exclusion met); possibly eligible while any data-decidable criterion is unknown; otherwise likely eligible.
 * Review items never make a trial ineligible and never block "likely".
 */
export function trialStatus(criteria: readonly CriterionResult[]): { status: TrialStatus; blocking: string[] } {
  const blocking = criteria
    .filter((c) => (c.type === 'inclusion' && c.outcome === 'not-met') || (c.type === 'exclusion' && c.outcome === 'met'))
    .map((c) => c.id);
  if (blocking.length > 0) return { status: 'ineligible', blocking };
  return { status: criteria.some((c) => c.outcome === 'unknown') ? 'possibly-eligible' : 'likely-eligible', blocking };
}

/**
 * A deceased patient is screened for no trial (issue #10 item 10): Patient.deceasedBoolean true or any
 * Patient.deceasedDateTime. Real EHR extracts (Synthea among them) keep the records of patients who died.
 */
export function notScreenedReason(record: PatientRecord): TrialEvaluation['notScreened'] {
  const p = record.patient;
  if (!p || (p.deceasedBoolean !== true && !p.deceasedDateTime)) return undefined;
  const date = formatDate(p.deceasedDateTime);
  return {
    reason: date ? `the record says the patient died on ${date}` : 'the record says the patient has died',
    evidence: [{ reference: `Patient/${p.id ?? '(no id)'}`, display: 'Deceased', value: date ?? 'true', ...(date ? { date } : {}) }],
  };
}

function evaluateWith(trial: CompiledTrial, ctx: EvalContext, faults: string[], stop: TrialEvaluation['notScreened']): TrialEvaluation {
  const criteria: CriterionResult[] = trial.criteria.map((c) => {
    const root = evaluateRule(c.rule, ctx, faults, c.guards);
    const missing = root.outcome === 'unknown' ? (root.missing ?? []) : [];
    const parts = root.parts ?? [root];
    const result: CriterionResult = {
      id: c.id,
      type: c.type,
      item: c.item,
      text: c.text,
      interpretation: c.interpretation,
      anchor: c.anchor,
      outcome: root.outcome,
      result: root.outcome === 'review' ? 'unknown' : root.outcome,
      review: needsReview(root),
      reason: root.reason,
      evidence: flattenEvidence(root),
      missing,
      parts,
      open: openParts(parts),
    };
    // Issue #11 item 4: the date an exclusion met on past events stops applying.
    if (c.type === 'exclusion' && root.outcome === 'met' && root.clears) {
      result.clearsOn = root.clears.on;
      result.clearsAfter = root.clears.after;
    }
    return result;
  });
  const { status, blocking } = stop ? { status: 'ineligible' as const, blocking: [] } : trialStatus(criteria);
  const evaluation: TrialEvaluation = {
    trialId: trial.id,
    title: trial.title,
    shortTitle: trial.shortTitle,
    status,
    blocking,
    criteria,
    evaluatedAt: ctx.now.toISOString(),
  };
  if (trial.nctId) evaluation.nctId = trial.nctId;
  if (stop) evaluation.notScreened = stop;
  return evaluation;
}

/**
 * Evaluates every trial for one patient. Pure: the record and "now" are arguments, nothing is read from
 * the environment. `faults` lists criteria that could not be evaluated, for the caller to log.
 */
export function evaluateTrials(
  trials: readonly CompiledTrial[],
  record: PatientRecord,
  now: Date,
  engine: EngineValueSets,
): { evaluations: TrialEvaluation[]; faults: string[] } {
  const ctx = createContext(record, now, engine);
  const faults: string[] = [];
  const stop = notScreenedReason(record);
  const evaluations = trials.map((t) => evaluateWith(t, ctx, faults, stop));
  return { evaluations, faults };
}
