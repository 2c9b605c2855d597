import { z } from 'zod';
import type { CodedLeaf, DataRead } from '../compiled.js';
import { MEDICATION_TYPES } from '../../patient/patient-record.js';
import { codedFields, defineKind, memoKey } from '../rule-kind.js';
import { durationSchema, resourceRule } from './fields.js';
import { evaluateMedication } from './medication.js';

/**
 * The `medication` kind: its schema and compile step here, its evaluation (matching, exposure, courses,
 * doses) in rules/medication.ts and src/engine/medication-exposure.ts, which are large enough to stand alone.
 */
const medicationRuleSchema = z.strictObject({
  ...resourceRule,
  kind: z.literal('medication'),
  /** Only medications being taken now. */
  currentOnly: z.boolean().default(false),
  /** The current course must have started at least this long ago (a "stable dose for N days" reading). */
  startedAtLeast: durationSchema.optional(),
  /** Glucocorticoid dose as prednisone equivalents per kg of body weight per day. */
  minPrednisoneMgPerKgPerDay: z.number().positive().optional(),
  /** The course at that dose must have lasted at least this long. */
  minCourse: durationSchema.optional(),
  /** At least this many different ingredients of the list ("at least 2 of the following treatments"). */
  minIngredients: z.number().int().min(2).optional(),
  /**
   * Which routes count. 'systemic' (the default for every medication criterion: the protocols mean systemic
   * therapy) leaves out topical, ophthalmic, otic, nasal, inhaled, rectal and vaginal use, read from the
   * dosage route or the product's dose form; 'any' counts every route.
   */
  routes: z.enum(['systemic', 'any']).default('systemic'),
});

export type MedicationLeaf = CodedLeaf<'medication', z.infer<typeof medicationRuleSchema>> & {
  /** CompileScope.absenceExcludes: a medication the EHR did not name leaves this part unknown, never "not given". */
  absenceExcludes: boolean;
};

export const medicationKind = defineKind({
  kind: 'medication',
  schema: medicationRuleSchema,
  compile(spec, scope): MedicationLeaf {
    // Every parsed field is named here, so a field added to the schema fails the type check until the key takes it.
    const { id: _id, label: _label, note: _note, kind, valueSet, exceptValueSet, window, where, ifNoData, onMatch, currentOnly, startedAtLeast, minPrednisoneMgPerKgPerDay, minCourse, minIngredients, routes, ...rest } = spec;
    const _unkeyed: Record<string, never> = rest;
    const coded = codedFields(spec, scope);
    // Every medication record type, matched by code or by name (the names keep these searches unfiltered).
    const reads: DataRead[] = MEDICATION_TYPES.map((resourceType) => ({ resourceType, valueSet: coded.valueSet }));
    // A dose per kg reads the latest body weight (rules/medication.ts latestWeightKg).
    if (minPrednisoneMgPerKgPerDay !== undefined) reads.push({ resourceType: 'Observation', valueSet: scope.engine.bodyWeight });
    const leaf: MedicationLeaf = {
      kind,
      ...coded,
      spec,
      memoKey: memoKey(kind, [valueSet, exceptValueSet, window, where, ifNoData, onMatch, currentOnly, startedAtLeast, minPrednisoneMgPerKgPerDay, minCourse, minIngredients, routes, scope.absenceExcludes]),
      reads,
      evaluate: (ctx) => evaluateMedication(leaf, ctx),
      absenceExcludes: scope.absenceExcludes,
    };
    return leaf;
  },
});
