import type { CompiledCriterion, CompiledGroup, CompiledLeaf, CompiledRule, ReadType } from './compiled.js';

/**
 * How detail 'decision' (src/engine/evaluate-trial.ts; issue #21 item 5: "an ineligible trial stops at its
 * first blocking criterion when no card needs its trace") walks a trial: the criteria in `order`, and inside
 * each group its parts in `parts` order, cheapest first, so a group stops at the first part that settles it.
 */
export interface DecisionPlan {
  /** Indexes into the trial's criteria. */
  order: readonly number[];
  /** Per group, indexes into its `of`. */
  parts: ReadonlyMap<CompiledGroup, readonly number[]>;
}

/**
 * The plan is derived from the compiled criteria, not from a list of ids, so a new trial file gets its own from
 * what its criteria read. Each criterion is ranked by what it costs to show that it blocks (blockCost): an
 * inclusion blocks when not met, an exclusion when met, and a group settles as soon as one part settles it
 * (evaluate-rule.ts combine: "all" is not met at its first part not met, "any" met at its first part met).
 * 1. criteria that can block at all first: a part that reads no data (review: consent, judgement) is never met
 *    nor not met, so a criterion that needs one to block never stops a trial;
 * 2. inclusions before exclusions: an inclusion asks for something most patients lack (an SLE diagnosis, an age
 *    band), so it rules most patients out; an exclusion blocks only on a positive finding;
 * 3. the cheaper to block first; protocol order among equals.
 * The plan changes no status: a trial stops only on an inclusion not met or an exclusion met, which is
 * ineligible whatever the other criteria say (trialStatus), and a group stopped early has the outcome it has
 * with every part evaluated.
 */
export function decisionPlan(criteria: readonly CompiledCriterion[]): DecisionPlan {
  const parts = new Map<CompiledGroup, number[]>();
  const keyed = criteria.map((c, index) => {
    const hides = c.type === 'inclusion' ? 'not-met' : 'met';
    planParts(c.rule, parts);
    return { index, cost: blockCost(c.rule, hides), inclusion: c.type === 'inclusion' };
  });
  keyed.sort((a, b) => Number(a.cost === Infinity) - Number(b.cost === Infinity) || Number(b.inclusion) - Number(a.inclusion) || a.cost - b.cost || a.index - b.index);
  return { order: keyed.map((k) => k.index), parts };
}

type Decisive = 'met' | 'not-met';

/** Each group's parts, cheapest to settle the group first (the outcome that settles it: "all" not met, "any" met). */
function planParts(rule: CompiledRule, out: Map<CompiledGroup, number[]>): void {
  if (!('of' in rule)) return;
  // "all" settles at a part not met; "any", "at least N" and "not" at a part met (for "not", its one part).
  const settles: Decisive = rule.kind === 'all' ? 'not-met' : 'met';
  const cost = rule.of.map((r) => blockCost(r, settles));
  out.set(
    rule,
    rule.of.map((_, i) => i).sort((a, b) => cost[a]! - cost[b]! || a - b),
  );
  for (const r of rule.of) planParts(r, out);
}

/**
 * What it costs to show that a rule has the outcome `want`, in READ_COST units; Infinity when it cannot have it
 * (a review part is never met nor not met). "all" is not met through its cheapest part, met through all of them;
 * "any" the other way round; "at least N" through the N cheapest (met) or the count that leaves fewer than N.
 */
export function blockCost(rule: CompiledRule, want: Decisive): number {
  if (!('of' in rule)) return leafCost(rule);
  const swap: Decisive = want === 'met' ? 'not-met' : 'met';
  const costs = rule.of.map((r) => blockCost(r, rule.kind === 'not' ? swap : want)).sort((a, b) => a - b);
  const sumOf = (n: number): number => costs.slice(0, n).reduce((s, c) => s + c, 0);
  switch (rule.kind) {
    case 'not':
      return costs[0] ?? Infinity;
    case 'all':
      return want === 'not-met' ? (costs[0] ?? Infinity) : sumOf(costs.length);
    case 'any':
      return want === 'met' ? (costs[0] ?? Infinity) : sumOf(costs.length);
    case 'atLeast':
      return want === 'met' ? sumOf(rule.n) : sumOf(rule.of.length - rule.n + 1);
  }
}

/**
 * Relative cost of reading one resource type, from the evaluator's work per type: the Patient is one field;
 * a Condition, Procedure or Immunization a code lookup with dates; an Observation a lookup with units, ranges
 * and result words; a medication a lookup plus name matching, route and dose reading, over each of four record
 * types (the bench's profile: medication matching was the largest single share).
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

/** A leaf's cost: what it reads. A leaf that reads no data (review) can settle nothing. */
function leafCost(leaf: CompiledLeaf): number {
  if (leaf.reads.length === 0) return Infinity;
  let cost = 0;
  for (const type of new Set(leaf.reads.map((r) => r.resourceType))) cost += READ_COST[type] ?? 4;
  return cost;
}
