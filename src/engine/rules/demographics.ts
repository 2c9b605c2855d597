import { z } from 'zod';
import type { CompiledLeaf } from '../compiled.js';
import { defineKind, memoKey } from '../rule-kind.js';
import { baseRule } from './fields.js';
import { describeDateRange, formatDate, isPartialDate } from '../dates.js';
import { dateRangeIn, type EvalContext } from '../context.js';
import { part } from '../part.js';
import type { Evidence, PartResult } from '../types.js';

const ageRuleSchema = z.strictObject({
  ...baseRule,
  kind: z.literal('age'),
  min: z.number().nonnegative().optional(),
  max: z.number().positive().optional(),
  minInclusive: z.boolean().default(true),
  maxInclusive: z.boolean().default(true),
});

const sexRuleSchema = z.strictObject({
  ...baseRule,
  kind: z.literal('sex'),
  is: z.array(z.enum(['female', 'male', 'other', 'unknown'])).min(1),
});

export type AgeLeaf = CompiledLeaf<'age', z.infer<typeof ageRuleSchema>>;
export type SexLeaf = CompiledLeaf<'sex', z.infer<typeof sexRuleSchema>>;

/** Age at the evaluation time, from Patient.birthDate (the `age` kind). */
export const ageKind = defineKind({
  kind: 'age',
  schema: ageRuleSchema,
  compile(spec, scope): AgeLeaf {
    const { id: _id, label, note: _note, kind, min, max, minInclusive, maxInclusive, ...rest } = spec;
    const _unkeyed: Record<string, never> = rest;
    const leaf: AgeLeaf = {
      kind,
      id: scope.id,
      label: label ?? kind,
      spec,
      memoKey: memoKey(kind, [min, max, minInclusive, maxInclusive]),
      reads: [{ resourceType: 'Patient' }],
      evaluate: (ctx) => evaluateAge(leaf, ctx),
    };
    return leaf;
  },
});

/** Patient.gender (the `sex` kind). */
export const sexKind = defineKind({
  kind: 'sex',
  schema: sexRuleSchema,
  compile(spec, scope): SexLeaf {
    const { id: _id, label, note: _note, kind, is, ...rest } = spec;
    const _unkeyed: Record<string, never> = rest;
    const leaf: SexLeaf = {
      kind,
      id: scope.id,
      label: label ?? kind,
      spec,
      memoKey: memoKey(kind, [is]),
      reads: [{ resourceType: 'Patient' }],
      evaluate: (ctx) => evaluateSex(leaf, ctx),
    };
    return leaf;
  },
});

function addYears(d: Date, years: number): Date {
  const out = new Date(d.getTime());
  out.setUTCFullYear(out.getUTCFullYear() + years);
  return out;
}

/** Completed years at `now`. */
export function ageInYears(birth: Date, now: Date): number {
  let age = now.getUTCFullYear() - birth.getUTCFullYear();
  if (addYears(birth, age) > now) age--;
  return age;
}

/**
 * Age from Patient.birthDate at the evaluation time. Bounds follow the protocol's words: an inclusive
 * minimum is reached on the birthday; an inclusive maximum ("5-18 years including threshold") holds until
 * the day before the next birthday; an exclusive minimum ("more than 18") holds from the day after it.
 *
 * A birth date recorded as a year or a year-month (FHIR R4 date) is every day in it (issue #18): the bound
 * is read for the first and the last possible birthday, and when they disagree the part is unknown with
 * both ages shown ("born 2007: age 18 or 19"), never not met.
 */
export function evaluateAge(leaf: AgeLeaf, ctx: EvalContext): PartResult {
  const patient = ctx.record.patient;
  if (!patient) {
    return part(leaf, 'unknown', ctx.record.unavailable.get('Patient') ?? 'the Patient resource was not provided', [], ['Patient.birthDate']);
  }
  const birth = dateRangeIn(ctx, patient.birthDate);
  if (!birth) return part(leaf, 'unknown', 'no birth date recorded', [], ['Patient.birthDate']);
  const now = ctx.now;
  // The latest possible birthday gives the youngest age.
  const oldest = ageInYears(birth.start, now);
  const youngest = ageInYears(birth.end, now);
  const reference = `Patient/${patient.id ?? '(no id)'}`;
  const okEarliest = withinAgeBounds(leaf.spec, birth.start, now);
  const okLatest = withinAgeBounds(leaf.spec, birth.end, now);
  if (isPartialDate(birth)) {
    const ages = oldest === youngest ? `age ${oldest}` : `age ${youngest} or ${oldest}`;
    const value = oldest === youngest ? oldest : `${youngest} or ${oldest}`;
    const evidence: Evidence[] = [{ reference, display: 'Age', value, unit: 'years', note: `born ${describeDateRange(birth)}: the day is not recorded` }];
    if (okEarliest !== okLatest) {
      return part(leaf, 'unknown', `born ${birth.text}: ${ages}, on either side of the age limit`, evidence, ['full date of birth (Patient.birthDate)']);
    }
    return part(leaf, okEarliest ? 'met' : 'not-met', `born ${birth.text}: ${ages}`, evidence);
  }
  const evidence: Evidence[] = [{ reference, display: 'Age', value: oldest, unit: 'years', note: `born ${formatDate(patient.birthDate)}` }];
  return part(leaf, okEarliest ? 'met' : 'not-met', `${oldest} years old`, evidence);
}

/** Whether someone born on `birth` is inside the rule's age bounds at `now`. */
function withinAgeBounds(spec: AgeLeaf['spec'], birth: Date, now: Date): boolean {
  let ok = true;
  if (spec.min !== undefined) {
    const boundary = addYears(birth, spec.min);
    ok &&= spec.minInclusive ? now >= boundary : now.getTime() >= boundary.getTime() + 86_400_000;
  }
  if (spec.max !== undefined) {
    ok &&= spec.maxInclusive ? now < addYears(birth, spec.max + 1) : now < addYears(birth, spec.max);
  }
  return ok;
}

export function evaluateSex(leaf: SexLeaf, ctx: EvalContext): PartResult {
  const patient = ctx.record.patient;
  const gender = patient?.gender;
  if (!patient || !gender) return part(leaf, 'unknown', 'sex not recorded', [], ['Patient.gender']);
  const evidence: Evidence[] = [{ reference: `Patient/${patient.id ?? '(no id)'}`, display: 'Sex', value: gender }];
  return part(leaf, leaf.spec.is.includes(gender) ? 'met' : 'not-met', `recorded sex ${gender}`, evidence);
}
