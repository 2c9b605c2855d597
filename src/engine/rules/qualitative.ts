import type { Observation } from '@medplum/fhirtypes';
import { z } from 'zod';
import type { CodedLeaf } from '../compiled.js';
import { candidatesFor, type EvalContext } from '../context.js';
import { formatDate } from '../dates.js';
import { codedFields, defineKind, memoKey } from '../rule-kind.js';
import { resourceRule, whichSchema, windowFitsWhich, WHICH_WINDOW } from './fields.js';
import { polarity, titerDilution, type DatedObservation } from '../observation-values.js';
import { foundOutcome, part } from '../part.js';
import type { Evidence, PartResult } from '../types.js';
import { confirmedBySchema, isConfirmatory, readScreen, screenOf, type CompiledConfirmation, type ScreenReading } from './confirmation.js';
import { baseEvidence, decideByResults, type ResultScope } from './lab.js';

const labPositiveRuleSchema = z.strictObject({
  ...resourceRule,
  kind: z.literal('lab-positive'),
  which: whichSchema,
  /** 'negative' for criteria that require a negative test (met when negative). */
  expect: z.enum(['positive', 'negative']).default('positive'),
  /** The tests that confirm a reactive result of this one (issue 18 item 4; rules/confirmation.ts). */
  confirmedBy: confirmedBySchema.optional(),
}).refine(windowFitsWhich, WHICH_WINDOW);

const titerRuleSchema = z.strictObject({
  ...resourceRule,
  kind: z.literal('titer'),
  which: whichSchema,
  /** Minimum dilution denominator, e.g. 80 for ">= 1:80". */
  minDilution: z.number().int().positive(),
}).refine(windowFitsWhich, WHICH_WINDOW);

export type LabPositiveLeaf = CodedLeaf<'lab-positive', z.infer<typeof labPositiveRuleSchema>> & { confirmation?: CompiledConfirmation };
export type TiterLeaf = CodedLeaf<'titer', z.infer<typeof titerRuleSchema>>;

/** A test read as positive or negative (the `lab-positive` kind). */
export const labPositiveKind = defineKind({
  kind: 'lab-positive',
  schema: labPositiveRuleSchema,
  compile(spec, scope): LabPositiveLeaf {
    const { id: _id, label: _label, note: _note, kind, valueSet, exceptValueSet, window, where, ifNoData, onMatch, which, expect, confirmedBy, ...rest } = spec;
    const _unkeyed: Record<string, never> = rest;
    const coded = codedFields(spec, scope);
    const tests = confirmedBy ? (typeof confirmedBy.valueSet === 'string' ? [confirmedBy.valueSet] : confirmedBy.valueSet).map((id) => scope.valueSet(id)) : [];
    const leaf: LabPositiveLeaf = {
      kind,
      ...coded,
      spec,
      memoKey: memoKey(kind, [valueSet, exceptValueSet, window, where, ifNoData, onMatch, which, expect, confirmedBy]),
      // The confirmatory tests are read too (and asked of the EHR), even those that are no result of this part.
      reads: [{ resourceType: 'Observation', valueSet: coded.valueSet }, ...tests.map((t) => ({ resourceType: 'Observation' as const, valueSet: t, role: 'confirmation' as const }))],
      factOutcome: expect === 'positive' ? 'met' : 'not-met',
      evaluate: (ctx) => evaluateLabPositive(leaf, ctx),
    };
    if (confirmedBy) leaf.confirmation = { tests, within: confirmedBy.within };
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
  // A positive test is met (or shown for review) when the part expects a positive, not met when it expects a negative.
  const isPositive = leaf.spec.expect === 'positive' ? (r: PartResult): boolean => r.outcome === 'met' || r.outcome === 'review' : (r: PartResult): boolean => r.outcome === 'not-met';
  return decideByResults(leaf, ctx, (d, scope) => readPolarity(leaf, ctx, d, scope), isPositive);
}

function readPolarity(leaf: LabPositiveLeaf, ctx: EvalContext, d: DatedObservation, scope: ResultScope): PartResult {
  const confirmation = leaf.confirmation;
  const confirmatory = confirmation !== undefined && isConfirmatory(confirmation, ctx, d.observation);
  if (confirmatory) {
    // A confirmatory result of a reactive screen is read with that screen: the two are one finding.
    const screen = screenOf(confirmation, ctx, d, candidatesFor(ctx, leaf, ['Observation']) as Observation[]);
    if (screen) return readPolarity(leaf, ctx, screen, { ...scope, describe: `${leaf.valueSet.title} screen of ${formatDate(screen.date) ?? 'an unknown date'}` });
  }
  const p = polarity(d.observation, ctx.units, ctx.engine.resultPositive, ctx.engine.resultNegative, ctx.engine.resultIndeterminate);
  const title = leaf.valueSet.title;
  const ev = { ...baseEvidence(d) };
  if (!p) return part(leaf, 'unknown', `${scope.describe} cannot be read as positive or negative`, [ev], [`a readable ${title} result`]);
  // A result whose wording is not read (invalid, pending, mixed, parts that disagree) is not a test result at
  // all: it asks for a readable result, not a repeat of an indeterminate one.
  if (p.reading === 'unknown') return part(leaf, 'unknown', `${scope.describe} cannot be read: ${p.how}`, [{ ...ev, note: p.how }], [`a readable ${title} result`]);
  const evidence = [{ ...ev, value: p.polarity, note: `read from the ${p.how}` }];
  if (p.polarity === 'indeterminate') return part(leaf, 'unknown', `${title} indeterminate`, evidence, [`a repeat ${title}`]);
  if (confirmation && !confirmatory && p.polarity === 'positive') {
    const screen = readScreen(confirmation, ctx, d);
    if (screen.kind !== 'none') return readConfirmed(leaf, d, screen, evidence);
  }
  return decidePolarity(leaf, p.polarity, `${title} ${p.polarity}`, evidence);
}

/** A positive or negative reading against what the part expects: met (or for review), or not met. */
function decidePolarity(leaf: LabPositiveLeaf, polarity: 'positive' | 'negative', said: string, evidence: Evidence[]): PartResult {
  if (polarity !== leaf.spec.expect) return part(leaf, 'not-met', said, evidence);
  const outcome = foundOutcome(leaf);
  const reason = outcome === 'review' ? `${said}: for the study team to confirm` : said;
  return part(leaf, outcome, reason, evidence, outcome === 'review' ? [`confirmation of the ${leaf.valueSet.title} result`] : undefined);
}

/** A reactive screen with its confirmatory results: confirmed, set aside, or unknown with the test missing. */
function readConfirmed(leaf: LabPositiveLeaf, d: DatedObservation, screen: Exclude<ScreenReading, { kind: 'none' }>, read: Evidence[]): PartResult {
  const title = leaf.valueSet.title;
  const said = `${title} screen positive ${formatDate(d.date) ?? ''}, ${screen.how}`.replace(' ,', ',');
  const evidence = [...read.map((e) => ({ ...e, note: `${e.note ?? ''}; reactive screen`.replace(/^; /, '') })), ...screen.evidence];
  if (screen.kind === 'unknown') return part(leaf, 'unknown', said, evidence, screen.missing);
  return decidePolarity(leaf, screen.kind, said, evidence);
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
  const p = polarity(d.observation, ctx.units, ctx.engine.resultPositive, ctx.engine.resultNegative, ctx.engine.resultIndeterminate);
  if (p?.polarity === 'negative') return part(leaf, 'not-met', `${title} negative`, [{ ...ev, value: 'negative', note: `read from the ${p.how}` }]);
  return part(
    leaf,
    'unknown',
    `${scope.describe} has no titre`,
    [{ ...ev, ...(p ? { value: p.polarity, note: `read from the ${p.how}` } : {}) }],
    [`${title} titre`],
  );
}
