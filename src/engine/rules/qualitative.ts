import type { CompiledLeaf } from '../../mappings/compiled.js';
import type { EvalContext } from '../context.js';
import { polarity, titerDilution, type DatedObservation } from '../observation-values.js';
import { foundOutcome, part } from '../part.js';
import type { PartResult } from '../types.js';
import { baseEvidence, decideByResults, type ResultScope } from './lab.js';

/**
 * A test read as positive or negative. The expected reading is met (or, with `onMatch: review`, shown for
 * review: a test that needs confirmation, such as a tuberculin skin test without a TB diagnosis); the other
 * reading is not met; an indeterminate or unreadable result is unknown.
 */
export function evaluateLabPositive(leaf: CompiledLeaf, ctx: EvalContext): PartResult {
  return decideByResults(leaf, ctx, (d, scope) => readPolarity(leaf, ctx, d, scope));
}

function readPolarity(leaf: CompiledLeaf, ctx: EvalContext, d: DatedObservation, scope: ResultScope): PartResult {
  const p = polarity(d.observation, ctx.engine.resultPositive, ctx.engine.resultNegative, ctx.engine.resultIndeterminate);
  const title = leaf.valueSet?.title ?? leaf.label;
  const ev = { ...baseEvidence(d) };
  if (!p) return part(leaf, 'unknown', `${scope.describe} cannot be read as positive or negative`, [ev], [`a readable ${title} result`]);
  // A result whose wording is not read (invalid, pending, mixed, parts that disagree) is not a test result at
  // all: it asks for a readable result, not a repeat of an indeterminate one.
  if (p.reading === 'unknown') return part(leaf, 'unknown', `${scope.describe} cannot be read: ${p.how}`, [{ ...ev, note: p.how }], [`a readable ${title} result`]);
  const evidence = [{ ...ev, value: p.polarity, note: `read from the ${p.how}` }];
  if (p.polarity === 'indeterminate') return part(leaf, 'unknown', `${title} indeterminate`, evidence, [`a repeat ${title}`]);
  const expect = leaf.spec.kind === 'lab-positive' ? leaf.spec.expect : 'positive';
  if (p.polarity !== expect) return part(leaf, 'not-met', `${title} ${p.polarity}`, evidence);
  const outcome = foundOutcome(leaf);
  const reason = outcome === 'review' ? `${title} ${p.polarity}: for the study team to confirm` : `${title} ${p.polarity}`;
  return part(leaf, outcome, reason, evidence, outcome === 'review' ? [`confirmation of the ${title} result`] : undefined);
}

/** A titre at or above a dilution (ANA >= 1:80). A negative result is below any titre. */
export function evaluateTiter(leaf: CompiledLeaf, ctx: EvalContext): PartResult {
  return decideByResults(leaf, ctx, (d, scope) => readTiter(leaf, ctx, d, scope));
}

function readTiter(leaf: CompiledLeaf, ctx: EvalContext, d: DatedObservation, scope: ResultScope): PartResult {
  if (leaf.spec.kind !== 'titer') throw new Error('not a titer rule');
  const min = leaf.spec.minDilution;
  const title = leaf.valueSet?.title ?? leaf.label;
  const dilution = titerDilution(d.observation);
  const ev = baseEvidence(d);
  if (dilution !== undefined) {
    const ok = dilution >= min;
    return part(leaf, ok ? 'met' : 'not-met', `titre 1:${dilution} ${ok ? '>=' : '<'} 1:${min}`, [{ ...ev, value: `1:${dilution}`, unit: 'titre' }]);
  }
  const p = polarity(d.observation, ctx.engine.resultPositive, ctx.engine.resultNegative, ctx.engine.resultIndeterminate);
  if (p?.polarity === 'negative') return part(leaf, 'not-met', `${title} negative`, [{ ...ev, value: 'negative', note: `read from the ${p.how}` }]);
  return part(
    leaf,
    'unknown',
    `${scope.describe} has no titre`,
    [{ ...ev, ...(p ? { value: p.polarity, note: `read from the ${p.how}` } : {}) }],
    [`${title} titre`],
  );
}
