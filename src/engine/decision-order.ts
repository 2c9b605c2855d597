import type { CompiledCriterion, CompiledLeaf, CompiledRule, ReadType } from './compiled.js';

/**
 * The order in which a trial's criteria are evaluated when only its decision is wanted (detail 'decision',
 * src/engine/evaluate-trial.ts; issue #21 item 5: "an ineligible trial stops at its first blocking criterion
 * when no card needs its trace"). Derived from the compiled criteria, not from a list of ids, so a new trial
 * file gets its order from what its criteria read:
 * 1. criteria that can block at all first: one whose every leaf reads no data (review: consent, judgement)
 *    can never be not met nor met (src/engine/evaluate-rule.ts combine), so it never stops a trial;
 * 2. inclusions before exclusions: an inclusion asks for something most patients lack (an SLE diagnosis, an
 *    age band), so it is the one that rules most patients out; an exclusion blocks only on a positive finding;
 * 3. the cheaper criterion first, by what its leaves read (READ_COST);
 * 4. protocol order among equals.
 * The order changes no status: a trial stops only on an inclusion not met or an exclusion met, which is
 * ineligible whatever the other criteria say (trialStatus).
 */
export function decisionOrder(criteria: readonly CompiledCriterion[]): number[] {
  const keyed = criteria.map((c, index) => {
    const leaves = leavesOf(c.rule, []);
    const canBlock = leaves.some((l) => l.reads.length > 0);
    const cost = leaves.reduce((sum, l) => sum + leafCost(l.reads), 0);
    return { index, canBlock, inclusion: c.type === 'inclusion', cost };
  });
  keyed.sort((a, b) => Number(b.canBlock) - Number(a.canBlock) || Number(b.inclusion) - Number(a.inclusion) || a.cost - b.cost || a.index - b.index);
  return keyed.map((k) => k.index);
}

/**
 * Relative cost of reading one resource type, from the evaluator's work per type: the Patient is one field;
 * a Condition, Procedure or Immunization a code lookup with dates; an Observation a lookup with units, ranges
 * and result words; a medication a lookup plus name matching, route and dose reading over four record types
 * (the bench's profile: medication matching was the largest single share).
 */
const READ_COST: Readonly<Partial<Record<ReadType, number>>> = {
  Patient: 1,
  Condition: 2,
  Procedure: 3,
  Immunization: 3,
  Observation: 4,
  MedicationStatement: 2,
  MedicationRequest: 2,
  MedicationAdministration: 2,
  MedicationDispense: 2,
};

function leafCost(reads: readonly { resourceType: ReadType }[]): number {
  let cost = 0;
  for (const type of new Set(reads.map((r) => r.resourceType))) cost += READ_COST[type] ?? 4;
  return cost;
}

function leavesOf(rule: CompiledRule, out: CompiledLeaf[]): CompiledLeaf[] {
  if ('of' in rule) for (const r of rule.of) leavesOf(r, out);
  else out.push(rule);
  return out;
}
