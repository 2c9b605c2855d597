import { z } from 'zod';
import type { CodedLeaf } from '../compiled.js';
import type { EvalContext } from '../context.js';
import { codedFields, defineKind, memoKey } from '../rule-kind.js';
import { comparatorSchema, resourceRule, whichSchema, windowFitsWhich, WHICH_WINDOW } from './fields.js';
import { numericValue, upperLimit, type DatedObservation, type NumericValue } from '../observation-values.js';
import { foundOutcome, part } from '../part.js';
import type { Evidence, PartResult } from '../types.js';
import { convertUnit, isDimensionless, type UnitBudget } from '../units.js';
import { baseEvidence, decideByResults, type ResultScope } from './lab.js';
import { toSignificant } from '../rounding.js';

const measurementRuleSchema = z
  .strictObject({
    ...resourceRule,
    kind: z.literal('measurement'),
    which: whichSchema,
    comparator: comparatorSchema,
    /** Absolute threshold in `unit` (UCUM). */
    value: z.number().optional(),
    unit: z.string().optional(),
    /** Threshold as a multiple of the upper limit of normal (Observation.referenceRange.high). */
    timesUln: z.number().positive().optional(),
    /** Used only when the result carries no referenceRange.high; said so in the evidence. */
    defaultUln: z.strictObject({ value: z.number().positive(), unit: z.string() }).optional(),
    /** g/mol, for converting mass to substance concentrations (e.g. bilirubin mg/dL to umol/L). */
    molecularWeight: z.number().positive().optional(),
  })
  .refine((r) => (r.value !== undefined && r.unit !== undefined) !== (r.timesUln !== undefined), {
    message: 'a measurement needs either value+unit or timesUln',
  })
  .refine(windowFitsWhich, WHICH_WINDOW);

export type MeasurementLeaf = CodedLeaf<'measurement', z.infer<typeof measurementRuleSchema>>;

/** A numeric result against a threshold, absolute or a multiple of the ULN (the `measurement` kind). */
export const measurementKind = defineKind({
  kind: 'measurement',
  schema: measurementRuleSchema,
  compile(spec, scope): MeasurementLeaf {
    const { id: _id, label: _label, note: _note, kind, valueSet, exceptValueSet, window, where, ifNoData, onMatch, which, comparator, value, unit, timesUln, defaultUln, molecularWeight, ...rest } = spec;
    const _unkeyed: Record<string, never> = rest;
    const coded = codedFields(spec, scope);
    if (unit !== undefined && !/^[\x21-\x7e]+$/.test(unit)) scope.fail(`unit "${unit}" is not a UCUM code`);
    const leaf: MeasurementLeaf = {
      kind,
      ...coded,
      spec,
      memoKey: memoKey(kind, [valueSet, exceptValueSet, window, where, ifNoData, onMatch, which, comparator, value, unit, timesUln, defaultUln, molecularWeight]),
      reads: [{ resourceType: 'Observation', valueSet: coded.valueSet }],
      // In an exclusion a measurement part names the finding ("IgG < 400 mg/dL"): met there is a positive,
      // shown as a fact while the exclusion is still open on another part (src/engine/facts.ts). Results
      // outside the window are not made facts here: "met" is no positive for an inclusion's range (eGFR >= 30),
      // and a leaf does not know which it serves.
      factOutcome: 'met',
      evaluate: (ctx) => evaluateMeasurement(leaf, ctx),
    };
    return leaf;
  },
});

type Comparator = '>=' | '>' | '<=' | '<';

function compare(value: number, cmp: Comparator, threshold: number): boolean {
  switch (cmp) {
    case '>=':
      return value >= threshold;
    case '>':
      return value > threshold;
    case '<=':
      return value <= threshold;
    case '<':
      return value < threshold;
  }
}

/**
 * A result recorded with a comparator ("<5") is a range, not a value: it decides the criterion only when
 * the whole range falls on one side of the threshold.
 */
function decide(v: NumericValue, value: number, cmp: Comparator, threshold: number): boolean | undefined {
  if (!v.comparator) return compare(value, cmp, threshold);
  const below = v.comparator === '<' || v.comparator === '<=';
  // For "<x": every possible value is <= x. The criterion is decided if it holds (or fails) at both ends.
  const bound = value;
  const atBound = compare(bound, cmp, threshold);
  const farEnd = compare(below ? Number.NEGATIVE_INFINITY : Number.POSITIVE_INFINITY, cmp, threshold);
  return atBound === farEnd ? atBound : undefined;
}


export function evaluateMeasurement(leaf: MeasurementLeaf, ctx: EvalContext): PartResult {
  return decideByResults(leaf, ctx, (d, scope) => readMeasurement(leaf, d, scope, ctx.units));
}

/** One result against the part's threshold, converted to the part's unit (or to the result's ULN). */
function readMeasurement(leaf: MeasurementLeaf, d: DatedObservation, scope: ResultScope, units: UnitBudget): PartResult {
  const spec = leaf.spec;
  const o = d.observation;
  const v = numericValue(o);
  const evidence: Evidence = baseEvidence(d);
  const title = leaf.valueSet.title;
  if (!v) {
    return part(leaf, 'unknown', `${scope.describe} has no numeric value`, [{ ...evidence, note: 'no numeric value' }], [`a numeric ${title} result`]);
  }
  let threshold: number;
  let unit: string | undefined;
  let note: string;
  if (spec.timesUln !== undefined) {
    // "x ULN": the result's own reference range, else the mapping's stated default (and say so).
    unit = v.unit;
    const uln = upperLimit(o);
    if (uln) {
      const u = uln.unit && v.unit ? convertUnit(uln.value, uln.unit, v.unit, units, spec.molecularWeight) : { ok: true as const, value: uln.value };
      if (!u.ok) return part(leaf, 'unknown', u.reason, [evidence]);
      threshold = spec.timesUln * u.value;
      note = `ULN ${toSignificant(u.value)} ${v.unit ?? ''} from the result's reference range`.trim();
    } else if (spec.defaultUln) {
      if (!v.unit) return part(leaf, 'unknown', 'result has no unit', [{ ...evidence, value: v.value }], [`${title} with a unit`]);
      const u = convertUnit(spec.defaultUln.value, spec.defaultUln.unit, v.unit, units, spec.molecularWeight);
      if (!u.ok) return part(leaf, 'unknown', u.reason, [evidence]);
      threshold = spec.timesUln * u.value;
      note = `result had no reference range: default ULN ${spec.defaultUln.value} ${spec.defaultUln.unit} used`;
    } else {
      return part(leaf, 'unknown', 'result has no reference range to compare with', [{ ...evidence, value: v.value, unit: v.unit }], [`${title} with its reference range`]);
    }
    const ok = decide(v, v.value, spec.comparator, threshold);
    const ev: Evidence = { ...evidence, value: v.value, note: `${note}; threshold ${spec.comparator} ${toSignificant(threshold)} (${spec.timesUln} x ULN)` };
    if (unit) ev.unit = unit;
    if (ok === undefined) return part(leaf, 'unknown', `recorded as ${v.recorded}: cannot tell`, [ev], [`an exact ${title} value`]);
    return part(leaf, ok ? foundOutcome(leaf) : 'not-met', `${v.recorded} vs ${spec.timesUln} x ULN`, [ev]);
  }
  // Absolute threshold in the mapping's unit; the result is converted with UCUM.
  if (spec.value === undefined || spec.unit === undefined) throw new Error('measurement without a threshold');
  threshold = spec.value;
  unit = spec.unit;
  let value = v.value;
  if (!v.unit) {
    if (!isDimensionless(unit)) {
      return part(leaf, 'unknown', `result has no unit; expected ${unit}`, [{ ...evidence, value: v.value }], [`${title} with a unit`]);
    }
  } else {
    const c = convertUnit(v.value, v.unit, unit, units, spec.molecularWeight);
    if (!c.ok) return part(leaf, 'unknown', c.reason, [{ ...evidence, value: v.value, unit: v.unit }], [`${title} in a convertible unit`]);
    value = c.value;
  }
  const ev: Evidence = { ...evidence, value: toSignificant(value), unit };
  if (v.unit && v.unit !== unit) ev.recorded = v.recorded;
  const ok = decide(v, value, spec.comparator, threshold);
  if (ok === undefined) return part(leaf, 'unknown', `recorded as ${v.recorded}: cannot tell`, [ev], [`an exact ${title} value`]);
  return part(leaf, ok ? foundOutcome(leaf) : 'not-met', `${toSignificant(value)} ${unit} ${ok ? 'meets' : 'does not meet'} ${spec.comparator} ${threshold} ${unit}`, [ev]);
}
