import { z } from 'zod';
import type { CodedLeaf } from '../compiled.js';
import type { EvalContext } from '../context.js';
import { codedFields, defineKind, memoKey } from '../rule-kind.js';
import { resourceRule, whichSchema, windowFitsWhich, WHICH_WINDOW } from './fields.js';
import { polarity, titerDilution, type DatedObservation } from '../observation-values.js';
import { foundOutcome, part } from '../part.js';
import type { PartResult } from '../types.js';
import { baseEvidence, decideByResults, type ResultScope } from './lab.js';

const labPositiveRuleSchema = z.strictObject({
  ...resourceRule,
  kind: z.literal('lab-positive'),
  which: whichSchema,
  /** 'negative' for criteria that require a negative test (met when negative). */
  expect: z.enum(['positive', 'negative']).default('positive'),
}).refine(windowFitsWhich, WHICH_WINDOW);

const titerRuleSchema = z.strictObject({
  ...resourceRule,
  kind: z.literal('titer'),
  which: whichSchema,
  /** Minimum dilution denominator, e.g. 80 for ">= 1:80". */
  minDilution: z.number().int().positive(),
}).refine(windowFitsWhich, WHICH_WINDOW);

export type LabPositiveLeaf = CodedLeaf<'lab-positive', z.infer<typeof labPositiveRuleSchema>>;
export type TiterLeaf = CodedLeaf<'titer', z.infer<typeof titerRuleSchema>>;

/** A test read as positive or negative (the `lab-positive` kind). */
export const labPositiveKind = defineKind({
  kind: 'lab-positive',
  schema: labPositiveRuleSchema,
  compile(spec, scope): LabPositiveLeaf {
    const { id: _id, label: _label, note: _note, kind, valueSet, exceptValueSet, window, where, ifNoData, onMatch, which, expect, ...rest } = spec;
    const _unkeyed: Record<string, never> = rest;
    const coded = codedFields(spec, scope);
    const leaf: LabPositiveLeaf = {
      kind,
      ...coded,
      spec,
      memoKey: memoKey(kind, [valueSet, exceptValueSet, window, where, ifNoData, onMatch, which, expect]),
      reads: [{ resourceType: 'Observation', valueSet: coded.valueSet }],
      evaluate: (ctx) => evaluateLabPositive(leaf, ctx),
    };
    return leaf;
  },
});

/** A titre at or above a dilution (the `titer` kind). */
export const titerKind = defineKind({
  kind: 'titer',
  schema: titerRuleSchema,
  compile(spec, scope): TiterLeaf {
    const { id: _id, label: _label, note: _note, kind, valueSet, exceptValueSet, window, where, ifNoData, onMatch, which, minDilution, ...rest } = spec;
    const _unkeyed: Record<string, never> = rest;
    const coded = codedFields(spec, scope);
    const leaf: TiterLeaf = {
      kind,
      ...coded,
      spec,
      memoKey: memoKey(kind, [valueSet, exceptValueSet, window, where, ifNoData, onMatch, which, minDilution]),
      reads: [{ resourceType: 'Observation', valueSet: coded.valueSet }],
      evaluate: (ctx) => evaluateTiter(leaf, ctx),
    };
    return leaf;
  },
});

/**
 * A test read as positive or negative. The expected reading is met (or, with `onMatch: review`, shown for
 * review: a test that needs confirmation, such as a tuberculin skin test without a TB diagnosis); the other
 * reading is not met; an indeterminate or unreadable result is unknown.
 */
export function evaluateLabPositive(leaf: LabPositiveLeaf, ctx: EvalContext): PartResult {
  return decideByResults(leaf, ctx, (d, scope) => readPolarity(leaf, ctx, d, scope));
}

function readPolarity(leaf: LabPositiveLeaf, ctx: EvalContext, d: DatedObservation, scope: ResultScope): PartResult {
  const p = polarity(d.observation, ctx.engine.resultPositive, ctx.engine.resultNegative, ctx.engine.resultIndeterminate);
  const title = leaf.valueSet.title;
  const ev = { ...baseEvidence(d) };
  if (!p) return part(leaf, 'unknown', `${scope.describe} cannot be read as positive or negative`, [ev], [`a readable ${title} result`]);
  // A result whose wording is not read (invalid, pending, mixed, parts that disagree) is not a test result at
  // all: it asks for a readable result, not a repeat of an indeterminate one.
  if (p.reading === 'unknown') return part(leaf, 'unknown', `${scope.describe} cannot be read: ${p.how}`, [{ ...ev, note: p.how }], [`a readable ${title} result`]);
  const evidence = [{ ...ev, value: p.polarity, note: `read from the ${p.how}` }];
  if (p.polarity === 'indeterminate') return part(leaf, 'unknown', `${title} indeterminate`, evidence, [`a repeat ${title}`]);
  const expect = leaf.spec.expect;
  if (p.polarity !== expect) return part(leaf, 'not-met', `${title} ${p.polarity}`, evidence);
  const outcome = foundOutcome(leaf);
  const reason = outcome === 'review' ? `${title} ${p.polarity}: for the study team to confirm` : `${title} ${p.polarity}`;
  return part(leaf, outcome, reason, evidence, outcome === 'review' ? [`confirmation of the ${title} result`] : undefined);
}

/** A titre at or above a dilution (ANA >= 1:80). A negative result is below any titre. */
export function evaluateTiter(leaf: TiterLeaf, ctx: EvalContext): PartResult {
  return decideByResults(leaf, ctx, (d, scope) => readTiter(leaf, ctx, d, scope));
}

function readTiter(leaf: TiterLeaf, ctx: EvalContext, d: DatedObservation, scope: ResultScope): PartResult {
  const min = leaf.spec.minDilution;
  const title = leaf.valueSet.title;
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
