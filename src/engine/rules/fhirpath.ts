import { z } from 'zod';
import type { CodeableConcept, Resource } from '@medplum/fhirtypes';
import { conceptText } from '../../fhir/concept-text.js';
import { CLINICAL_TYPES, referenceOf, type ClinicalType } from '../../patient/patient-record.js';
import type { CompiledValueSet } from '../../terminology/value-set.js';
import type { CompiledLeaf } from '../compiled.js';
import { findByValueSet, unavailableReason, type EvalContext } from '../context.js';
import { formatDate } from '../dates.js';
import { noDataOutcome, part } from '../part.js';
import { defineKind, memoKey, type CompiledExpression } from '../rule-kind.js';
import type { Evidence, PartResult } from '../types.js';
import { baseRule } from './fields.js';

/**
 * The `fhirpath` kind (issue #13 item 6): a criterion no other kind expresses, as a boolean FHIRPath
 * expression over the patient's resources. Each `reads` entry names a resource type and a code list and
 * binds the patient's resources of that type in that list to `%<as>`, so code-list membership is the
 * variable an expression reads; `%now` is the evaluation time (an ISO dateTime: `%now.toDateTime()`), never
 * the clock. Compiled once at load. True is met, false not met, an empty result `ifNoData` (unknown unless
 * the mapping says review), and a type it reads that could not be fetched is unknown.
 */
const fhirpathRuleSchema = z.strictObject({
  ...baseRule,
  kind: z.literal('fhirpath'),
  label: z.string().min(1),
  reads: z
    .array(
      z.strictObject({
        resourceType: z.enum(CLINICAL_TYPES),
        valueSet: z.union([z.string().min(1), z.array(z.string().min(1)).min(2)]),
        /** The environment variable the resources are bound to: `%as`. */
        as: z.string().regex(/^[a-z][A-Za-z0-9]*$/),
        /**
         * The expression cannot decide without these: when the patient has none, it is not run and the part
         * is `ifNoData` at once (most patients have none of what a criterion reads, and FHIRPath is costly).
         */
        required: z.boolean().optional(),
      }),
    )
    .min(1),
  /**
   * Named steps, each bound to `%name` for the other steps, `expression` and `evidence` (the therapy start,
   * the results that count), so both read one reading; each is evaluated when first read, once.
   */
  let: z.array(z.strictObject({ name: z.string().regex(/^[a-z][A-Za-z0-9]*$/), expression: z.string().min(1) })).optional(),
  /** Boolean: true met, false not met, empty undecided. */
  expression: z.string().min(1),
  /** The resources shown as evidence when the expression decides (a collection of resources); absent: none. */
  evidence: z.string().min(1).optional(),
  /** What an empty result means: unknown (default) or review. Never not-met: empty is not an answer. */
  ifNoData: z.enum(['unknown', 'review']).optional(),
});

type FhirpathSpec = z.infer<typeof fhirpathRuleSchema>;

interface BoundRead {
  resourceType: ClinicalType;
  valueSet: CompiledValueSet;
  as: string;
  required: boolean;
}

export interface FhirpathLeaf extends CompiledLeaf<'fhirpath', FhirpathSpec> {
  bound: readonly BoundRead[];
  steps: readonly { name: string; expression: CompiledExpression }[];
  expression: CompiledExpression;
  evidence?: CompiledExpression;
}

export const fhirpathKind = defineKind({
  kind: 'fhirpath',
  schema: fhirpathRuleSchema,
  compile(spec, scope): FhirpathLeaf {
    const { id: _id, label, note: _note, kind, reads, let: steps = [], expression, evidence, ifNoData, ...rest } = spec;
    const _unkeyed: Record<string, never> = rest;
    const names = new Set<string>(['now']);
    for (const name of [...reads.map((r) => r.as), ...steps.map((s) => s.name)]) {
      if (names.has(name)) scope.fail(`variable "%${name}" is defined twice or is reserved`);
      names.add(name);
    }
    const bound = reads.map((r) => ({ resourceType: r.resourceType, valueSet: scope.valueSet(r.valueSet), as: r.as, required: r.required ?? false }));
    const leaf: FhirpathLeaf = {
      kind,
      id: scope.id,
      label,
      spec,
      bound,
      steps: steps.map((s) => ({ name: s.name, expression: scope.expression(s.expression) })),
      expression: scope.expression(expression),
      memoKey: memoKey(kind, [reads, steps, expression, evidence, ifNoData]),
      reads: bound.map((b) => ({ resourceType: b.resourceType, valueSet: b.valueSet })),
      evaluate: (ctx) => evaluateFhirpath(leaf, ctx),
    };
    if (evidence) leaf.evidence = scope.expression(evidence);
    return leaf;
  },
});

function environment(leaf: FhirpathLeaf, ctx: EvalContext, focus: unknown): Record<string, unknown> {
  const env: Record<string, unknown> = { now: ctx.now.toISOString() };
  for (const b of leaf.bound) env[b.as] = findByValueSet(ctx, b.valueSet, [b.resourceType]);
  // Steps are evaluated when first read (and once), so a guard such as `iif(%results.exists(), ...)` spares
  // a record without the data every step after it: most patients have none of what a criterion reads.
  for (const step of leaf.steps) {
    let value: unknown[] | undefined;
    Object.defineProperty(env, step.name, { enumerable: true, get: () => (value ??= step.expression(focus, env)) });
  }
  return env;
}

function isResource(x: unknown): x is Resource {
  return typeof x === 'object' && x !== null && typeof (x as { resourceType?: unknown }).resourceType === 'string';
}

type Dated = Resource & Partial<Record<'effectiveDateTime' | 'authoredOn' | 'onsetDateTime' | 'recordedDate' | 'performedDateTime' | 'occurrenceDateTime', string>> & {
  effectivePeriod?: { start?: string };
  code?: CodeableConcept;
  medicationCodeableConcept?: CodeableConcept;
  vaccineCode?: CodeableConcept;
  valueQuantity?: { value?: number; unit?: string; code?: string };
};

/** A touched resource as evidence: what it is, its value with unit when it has one, and its date. */
function evidenceOf(r: Resource): Evidence {
  const d = r as Dated;
  const ev: Evidence = {
    reference: referenceOf(r),
    display: conceptText(d.code ?? d.medicationCodeableConcept ?? d.vaccineCode) ?? r.resourceType,
  };
  const q = d.valueQuantity;
  if (typeof q?.value === 'number') {
    ev.value = q.value;
    const unit = q.code ?? q.unit;
    if (unit) ev.unit = unit;
  }
  const date = formatDate(d.effectiveDateTime ?? d.effectivePeriod?.start ?? d.authoredOn ?? d.onsetDateTime ?? d.performedDateTime ?? d.occurrenceDateTime ?? d.recordedDate);
  if (date) ev.date = date;
  return ev;
}

export function evaluateFhirpath(leaf: FhirpathLeaf, ctx: EvalContext): PartResult {
  const unavailable = unavailableReason(ctx, leaf.bound.map((b) => b.resourceType));
  if (unavailable) return part(leaf, 'unknown', unavailable, [], [leaf.label]);
  const missing = leaf.bound.some((b) => b.required && findByValueSet(ctx, b.valueSet, [b.resourceType]).length === 0);
  const focus = ctx.record.patient ?? { resourceType: 'Patient' };
  const env = missing ? undefined : environment(leaf, ctx, focus);
  const out = env ? leaf.expression(focus, env) : [];
  if (out.length === 0) {
    // Undecided: what would settle it is the part itself; there is no finding to show (nor to compute).
    return part(leaf, noDataOutcome(leaf, 'unknown'), 'the record does not decide it', [], [leaf.label]);
  }
  if (out.length !== 1 || typeof out[0] !== 'boolean') throw new Error('the expression did not give one boolean');
  const evidence = leaf.evidence && env ? leaf.evidence(focus, env).filter(isResource).map(evidenceOf) : [];
  return part(leaf, out[0] ? 'met' : 'not-met', out[0] ? 'shown by the record' : 'the record shows it is not met', evidence);
}
