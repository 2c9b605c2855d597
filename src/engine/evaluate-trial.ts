import type { CompiledCriterion, CompiledRule, CompiledTrial, EngineValueSets } from './compiled.js';
import { decisionPlan, type DecisionPlan } from './decision-order.js';
import type { PatientRecord } from '../patient/patient-record.js';
import { createContext, type EvalContext } from './context.js';
import { combine, evaluateRule, needsReview } from './evaluate-rule.js';
import { formatDate } from './dates.js';
import { exclusionFindings, openParts, reviewReasonOf } from './open-parts.js';
import { criterionFacts as collectFacts } from './facts.js';
import type { CriterionRef, CriterionResult, EvaluationDetail, Evidence, Outcome, Fact, PartResult, StatusReason, StatusReasonCode, TrialEvaluation, TrialStatus } from './types.js';

function flattenEvidence(p: PartResult, out: Evidence[] = []): Evidence[] {
  for (const e of p.evidence) out.push(e);
  if (p.parts) for (const x of p.parts) flattenEvidence(x, out);
  return out;
}

/** "Inclusion 4", "Exclusion 10": how the protocol names an item. */
export function itemName(c: CriterionResult): string {
  return `${c.type === 'inclusion' ? 'Inclusion' : 'Exclusion'} ${c.item}`;
}

/** A criterion's facts: the positives src/engine/facts.ts collected on it when it was evaluated. */
export function criterionFacts(c: CriterionResult): Fact[] {
  return c.facts ?? [];
}

/** "Inclusion 2", "Inclusions 2, 4, 7", "Inclusion 3, Exclusion 8": short, for the card's extension. */
function namesOf(list: readonly CriterionResult[]): string {
  const groups: string[] = [];
  for (const type of ['inclusion', 'exclusion'] as const) {
    const items = list.filter((c) => c.type === type).map((c) => c.item);
    if (items.length > 0) groups.push(`${type === 'inclusion' ? 'Inclusion' : 'Exclusion'}${items.length > 1 ? 's' : ''} ${items.join(', ')}`);
  }
  return groups.join(', ');
}

/**
 * Status from the criteria (issue #2, issue 18 item 5), with the reason it was chosen:
 * - ineligible only on positive evidence: an inclusion not met, an exclusion met;
 * - likely eligible only when every inclusion the record could decide is met, no inclusion waits on a
 *   clinician's judgement of the record (review parts with reason `judgement`: refractory, active disease,
 *   classification), and no exclusion has a positive anywhere in the record (a fact outside the window, or a
 *   finding the record holds for an exclusion still open: exclusionFindings). What remains is consent and the
 *   screening visit's tests;
 * - possibly eligible otherwise, with each reason named.
 * Consent, screening-visit tests and the investigator's general judgement in exclusions never block "likely".
 */
export function trialStatus(criteria: readonly CriterionResult[]): { status: TrialStatus; blocking: string[]; statusReason: StatusReason } {
  const notMet = criteria.filter((c) => c.type === 'inclusion' && c.outcome === 'not-met');
  const met = criteria.filter((c) => c.type === 'exclusion' && c.outcome === 'met');
  const blocking = [...notMet, ...met].map((c) => c.id);
  const reasons: { code: StatusReasonCode; text: string; criteria: CriterionResult[]; items?: string[] }[] = [];
  if (notMet.length > 0) reasons.push({ code: 'inclusion-not-met', text: `${namesOf(notMet)} not met`, criteria: notMet });
  if (met.length > 0) reasons.push({ code: 'exclusion-met', text: `${namesOf(met)} found in the record`, criteria: met });
  if (reasons.length === 0) {
    const withFacts = criteria.filter((c) => criterionFacts(c).length > 0);
    if (withFacts.length > 0) {
      const items = withFacts.flatMap((c) => criterionFacts(c).map((f) => `${itemName(c)}: ${f.text}`));
      reasons.push({ code: 'prior-positive', text: `${namesOf(withFacts)}: positive in the record, outside the window`, criteria: withFacts, items });
    }
    const findings = criteria.filter((c) => exclusionFindings(c).length > 0);
    if (findings.length > 0) {
      // What each holds, with value and date, so the app can say it first ("Exclusion 7: HBsAg positive (positive, 2026-07-24)").
      const items = findings.flatMap((c) =>
        exclusionFindings(c).map((p) => {
          const e = p.evidence[0];
          const said = [e?.value, e?.date?.slice(0, 10)].filter((x) => x !== undefined && x !== '').join(', ');
          return `${itemName(c)}: ${p.label}${said ? ` (${said})` : ''}`;
        }),
      );
      reasons.push({ code: 'exclusion-finding', text: `${namesOf(findings)}: a record finding to judge`, criteria: findings, items });
    }
    const unknown = criteria.filter((c) => c.outcome === 'unknown');
    if (unknown.length > 0) reasons.push({ code: 'data-missing', text: `${namesOf(unknown)}: data missing`, criteria: unknown });
    const judged = criteria.filter((c) => c.type === 'inclusion' && c.open.some((p) => p.outcome === 'review' && reviewReasonOf(p) === 'judgement'));
    if (judged.length > 0) {
      const items = judged.flatMap((c) => c.open.filter((p) => p.outcome === 'review' && reviewReasonOf(p) === 'judgement').map((p) => `${itemName(c)}: ${p.label}`));
      reasons.push({ code: 'judgement-open', text: `${namesOf(judged)}: judgement of the record`, criteria: judged, items });
    }
  }
  const first = reasons[0];
  if (!first) {
    const statusReason: StatusReason = {
      code: 'no-exclusion-found',
      codes: ['no-exclusion-found'],
      text: 'no exclusion found in the coded record',
      criteria: [],
    };
    return { status: 'likely-eligible', blocking, statusReason };
  }
  const statusReason: StatusReason = {
    code: first.code,
    codes: reasons.map((r) => r.code),
    text: reasons.map((r) => r.text).join('; '),
    criteria: [...new Set(reasons.flatMap((r) => r.criteria.map((c) => c.id)))],
  };
  const items = reasons.flatMap((r) => r.items ?? []);
  if (items.length > 0) statusReason.items = items;
  return { status: blocking.length > 0 ? 'ineligible' : 'possibly-eligible', blocking, statusReason };
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

/** One criterion evaluated, with its trace. A fault inside it makes a leaf unknown (evaluateRule), never blocking. */
function evaluateCriterion(c: CompiledCriterion, ctx: EvalContext, faults: string[]): CriterionResult {
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
    open: openParts(root),
  };
  const facts = collectFacts(c.type, c.rule, root);
  if (facts.length > 0) result.facts = facts;
  // Issue #11 item 4: the date an exclusion met on past events stops applying.
  if (c.type === 'exclusion' && root.outcome === 'met' && root.clears) {
    result.clearsOn = root.clears.on;
    result.clearsAfter = root.clears.after;
  }
  return result;
}

function refOf(c: CompiledCriterion): CriterionRef {
  return { id: c.id, type: c.type, item: c.item, text: c.text };
}

/**
 * A rule's outcome, its groups stopped at the first part that settles them, in the plan's order: the outcome
 * evaluateRule gives with every part (combine: "all" is not met once a part is not met, "any" met once a part
 * is met, "at least N" met at N parts met and not met once too few parts are left). Leaves go through
 * evaluateRule, so their memo, guards and fault handling are the same; nothing is built for the trace.
 */
function probeRule(rule: CompiledRule, ctx: EvalContext, faults: string[], guards: CompiledCriterion['guards'], plan: DecisionPlan): Outcome {
  if (!('of' in rule)) return evaluateRule(rule, ctx, faults, guards).outcome;
  const order = plan.parts.get(rule) ?? rule.of.map((_, i) => i);
  const outcomes: Outcome[] = [];
  let met = 0;
  let notMet = 0;
  for (const i of order) {
    const o = probeRule(rule.of[i]!, ctx, faults, guards, plan);
    outcomes.push(o);
    if (o === 'met') met++;
    else if (o === 'not-met') notMet++;
    if (rule.kind === 'all' && notMet > 0) return 'not-met';
    if (rule.kind === 'any' && met > 0) return 'met';
    if (rule.kind === 'atLeast' && (met >= rule.n || rule.of.length - notMet < rule.n)) return met >= rule.n ? 'met' : 'not-met';
  }
  return combine(rule, outcomes);
}

/**
 * Detail 'decision': each criterion's outcome in the plan's order (probeRule) until the first that blocks,
 * which is then evaluated whole (its leaves answer from the request's memo). The criteria before it are not
 * carried: their outcome was worked out only as far as showing they do not block. When none blocks, every
 * criterion is evaluated whole, in protocol order, as detail 'full' does.
 */
function evaluateUntilBlocked(trial: CompiledTrial, ctx: EvalContext, faults: string[]): { criteria: CriterionResult[]; notEvaluated?: CriterionRef[] } {
  const plan = trial.decisionPlan ?? decisionPlan(trial.criteria);
  // Faults are reported by the whole evaluation below; a probe's would count the same leaf twice.
  const probeFaults: string[] = [];
  for (const i of plan.order) {
    const c = trial.criteria[i]!;
    const outcome = probeRule(c.rule, ctx, probeFaults, c.guards, plan);
    if (c.type === 'inclusion' ? outcome === 'not-met' : outcome === 'met') {
      const blocking = evaluateCriterion(c, ctx, faults);
      return { criteria: [blocking], notEvaluated: trial.criteria.filter((x) => x !== c).map(refOf) };
    }
  }
  return { criteria: trial.criteria.map((c) => evaluateCriterion(c, ctx, faults)) };
}

function evaluateWith(trial: CompiledTrial, ctx: EvalContext, faults: string[], stop: TrialEvaluation['notScreened'], detail: EvaluationDetail): TrialEvaluation {
  // A record not screened (the patient has died) needs no criterion for its decision.
  const { criteria, notEvaluated } =
    detail === 'full'
      ? { criteria: trial.criteria.map((c) => evaluateCriterion(c, ctx, faults)), notEvaluated: undefined }
      : stop
        ? { criteria: [], notEvaluated: trial.criteria.map(refOf) }
        : evaluateUntilBlocked(trial, ctx, faults);
  const { status, blocking, statusReason } = stop
    ? { status: 'ineligible' as const, blocking: [], statusReason: { code: 'not-screened' as const, codes: ['not-screened' as const], text: stop.reason, criteria: [] } }
    : trialStatus(criteria);
  const evaluation: TrialEvaluation = {
    trialId: trial.id,
    title: trial.title,
    shortTitle: trial.shortTitle,
    status,
    statusReason,
    blocking,
    criteria,
    evaluatedAt: ctx.now.toISOString(),
  };
  if (notEvaluated) evaluation.notEvaluated = notEvaluated;
  if (trial.nctId) evaluation.nctId = trial.nctId;
  if (stop) evaluation.notScreened = stop;
  return evaluation;
}

/**
 * Evaluates every trial for one patient. Pure: the record and "now" are arguments, nothing is read from
 * the environment. `faults` lists criteria that could not be evaluated, for the caller to log.
 * `detail` (EvaluationDetail): 'full' by default; 'decision' gives the same statuses and stops an ineligible
 * trial at its first blocking criterion.
 */
export function evaluateTrials(
  trials: readonly CompiledTrial[],
  record: PatientRecord,
  now: Date,
  engine: EngineValueSets,
  options: { detail?: EvaluationDetail } = {},
): { evaluations: TrialEvaluation[]; faults: string[] } {
  const ctx = createContext(record, now, engine);
  const faults: string[] = [];
  const stop = notScreenedReason(record);
  const detail = options.detail ?? 'full';
  const evaluations = trials.map((t) => evaluateWith(t, ctx, faults, stop, detail));
  return { evaluations, faults };
}
