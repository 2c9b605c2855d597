import type { CompiledLeaf } from '../../mappings/compiled.js';
import type { EvalContext } from '../context.js';
import { polarity, titerDilution } from '../observation-values.js';
import { part } from '../part.js';
import type { PartResult } from '../types.js';
import { baseEvidence, latestResult } from './lab.js';

/** A test read as positive (met) or negative (not met) from its latest result in the window. */
export function evaluateLabPositive(leaf: CompiledLeaf, ctx: EvalContext): PartResult {
  const found = latestResult(leaf, ctx);
  if (!found.ok) return found.result;
  const { latest, windowText } = found;
  const p = polarity(latest.observation, ctx.engine.resultPositive, ctx.engine.resultNegative);
  const title = leaf.valueSet?.title ?? leaf.label;
  const ev = { ...baseEvidence(latest) };
  if (!p) return part(leaf, 'unknown', `latest ${title} result${windowText} cannot be read as positive or negative`, [ev], [`a readable ${title} result`]);
  const evidence = [{ ...ev, value: p.polarity, note: `read from the ${p.how}` }];
  if (p.polarity === 'indeterminate') return part(leaf, 'unknown', `${title} indeterminate`, evidence, [`a repeat ${title}`]);
  const expect = leaf.spec.kind === 'lab-positive' ? leaf.spec.expect : 'positive';
  return part(leaf, p.polarity === expect ? 'met' : 'not-met', `${title} ${p.polarity}`, evidence);
}

/** A titre at or above a dilution (ANA >= 1:80). A negative result is below any titre. */
export function evaluateTiter(leaf: CompiledLeaf, ctx: EvalContext): PartResult {
  if (leaf.spec.kind !== 'titer') throw new Error('not a titer rule');
  const min = leaf.spec.minDilution;
  const found = latestResult(leaf, ctx);
  if (!found.ok) return found.result;
  const { latest, windowText } = found;
  const title = leaf.valueSet?.title ?? leaf.label;
  const dilution = titerDilution(latest.observation);
  const ev = baseEvidence(latest);
  if (dilution !== undefined) {
    const ok = dilution >= min;
    return part(leaf, ok ? 'met' : 'not-met', `titre 1:${dilution} ${ok ? '>=' : '<'} 1:${min}`, [{ ...ev, value: `1:${dilution}`, unit: 'titre' }]);
  }
  const p = polarity(latest.observation, ctx.engine.resultPositive, ctx.engine.resultNegative);
  if (p?.polarity === 'negative') return part(leaf, 'not-met', `${title} negative`, [{ ...ev, value: 'negative', note: `read from the ${p.how}` }]);
  return part(
    leaf,
    'unknown',
    `latest ${title} result${windowText} has no titre`,
    [{ ...ev, ...(p ? { value: p.polarity, note: `read from the ${p.how}` } : {}) }],
    [`${title} titre`],
  );
}
