import type { CompiledGroup, CompiledLeaf, CompiledRule, PartGuard } from './compiled.js';
import type { EvalContext } from './context.js';
import { part } from './part.js';
import { guardPart } from './window-guard.js';
import type { Outcome, PartResult, WindowClears } from './types.js';

/**
 * Three-valued (Kleene) combination. "review" is a second flavour of unknown: one the investigator settles,
 * not data. Data-unknown dominates review, and neither can produce a decisive value on its own, so a review
 * part can never make an inclusion "not met" or an exclusion "met".
 * - all: not met if any part is not met; else unknown / review if any is; else met.
 * - any: met if any part is met; else unknown / review if any is; else not met.
 * - at least N: met when N parts are met; not met when even every open part could not reach N.
 * - not: swaps met and not met.
 */
export function combine(group: CompiledGroup, outcomes: readonly Outcome[]): Outcome {
  return combineCounts(group, tally(outcomes));
}

interface Tally {
  met: number;
  'not-met': number;
  unknown: number;
  review: number;
  total: number;
}

function tally(outcomes: readonly Outcome[]): Tally {
  const t: Tally = { met: 0, 'not-met': 0, unknown: 0, review: 0, total: outcomes.length };
  for (const o of outcomes) t[o]++;
  return t;
}

function combineCounts(group: CompiledGroup, t: Tally): Outcome {
  const met = t.met;
  const notMet = t['not-met'];
  const open = t.unknown > 0 ? 'unknown' : t.review > 0 ? 'review' : undefined;
  switch (group.kind) {
    case 'all':
      return notMet > 0 ? 'not-met' : (open ?? 'met');
    case 'any':
      return met > 0 ? 'met' : (open ?? 'not-met');
    case 'atLeast':
      if (met >= group.n) return 'met';
      if (t.total - notMet < group.n) return 'not-met';
      return open ?? 'not-met';
    case 'not':
      return met > 0 ? 'not-met' : notMet > 0 ? 'met' : (open ?? 'unknown');
  }
}

function describe(group: CompiledGroup, outcome: Outcome, t: Tally): string {
  const head = group.kind === 'atLeast' ? `at least ${group.n} of` : GROUP_WORDS[group.kind];
  return `${outcome} (${head} ${t.total}: ${t.met} met, ${t['not-met']} not met, ${t.unknown} unknown, ${t.review} for review)`;
}

const GROUP_WORDS: Readonly<Record<Exclude<CompiledGroup['kind'], 'atLeast'>, string>> = { all: 'all of', any: 'any of', not: 'not' };

/**
 * Evaluates a rule tree. A fault inside one leaf (bad data, an expression error) makes that leaf unknown
 * with the reason; it never fails the criterion, the trial or the request.
 */
export function evaluateRule(rule: CompiledRule, ctx: EvalContext, faults: string[], guards?: ReadonlyMap<string, PartGuard>): PartResult {
  if ('of' in rule) {
    const parts = rule.of.map((r) => evaluateRule(r, ctx, faults, guards));
    const t = tally(parts.map((p) => p.outcome));
    const outcome = combineCounts(rule, t);
    const result: PartResult = { id: rule.id, label: rule.label, kind: rule.kind, outcome, reason: describe(rule, outcome, t), evidence: [], parts };
    const clears = outcome === 'met' ? groupClears(rule, parts) : undefined;
    if (clears) result.clears = clears;
    if (outcome === 'unknown') {
      const missing = new Set<string>();
      for (const p of parts) if (p.outcome === 'unknown' && p.missing) for (const m of p.missing) missing.add(m);
      if (missing.size > 0) result.missing = [...missing];
    }
    return result;
  }
  const leaf = evaluateLeaf(rule, ctx, faults);
  // What the part's window may decide for this criterion (issue 18 item 3); the memo holds the plain answer.
  const guard = guards?.get(rule.id);
  return guard ? guardPart(leaf, guard, (twin) => evaluateLeaf(twin, ctx, faults)) : leaf;
}

/** One leaf, through the request's memo: a fault makes it unknown with the reason. */
function evaluateLeaf(rule: CompiledLeaf, ctx: EvalContext, faults: string[]): PartResult {
  try {
    const key = rule.memoKey;
    if (key === undefined) return rule.evaluate(ctx);
    const shared = ctx.leafResults.get(key);
    if (shared) return shared.id === rule.id && shared.label === rule.label ? shared : { ...shared, id: rule.id, label: rule.label };
    const result = rule.evaluate(ctx);
    ctx.leafResults.set(key, result);
    return result;
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    faults.push(`${rule.id}: ${message}`);
    return part(rule, 'unknown', `could not be evaluated: ${message}`, [], [rule.label]);
  }
}

/**
 * When a met group stops being met through its windows alone: "any" when the last of its met parts clears
 * (each must clear); "all" when the first of its windowed parts clears. Other groups: not computed.
 */
function groupClears(group: CompiledGroup, parts: readonly PartResult[]): WindowClears | undefined {
  if (group.kind === 'any') {
    let last: WindowClears | undefined;
    for (const p of parts) {
      if (p.outcome !== 'met') continue;
      if (!p.clears) return undefined;
      if (!last || p.clears.on > last.on) last = p.clears;
    }
    return last;
  }
  if (group.kind === 'all') {
    let first: WindowClears | undefined;
    for (const p of parts) if (p.clears && (!first || p.clears.on < first.on)) first = p.clears;
    return first;
  }
  return undefined;
}

/** True when the outcome shown still waits on a part left to the investigator. */
export function needsReview(p: PartResult): boolean {
  if (p.outcome === 'review') return true;
  return p.outcome === 'unknown' && (p.parts ?? []).some(needsReview);
}
