import type { CodedLeaf, DataRead } from '../compiled.js';
import { medicationRuleSchema, type MedicationRuleInput } from '../../mappings/schema.js';
import { codedFields, defineKind, memoKey } from '../rule-kind.js';
import { evaluateMedication } from './medication.js';

/**
 * The `medication` kind's registry entry. Its schema stays in src/mappings/schema.ts and its evaluation in
 * rules/medication.ts while both are rewritten under their own issue; this file adapts them to the kind
 * interface, and takes them in when that work lands.
 */
export type MedicationLeaf = CodedLeaf<'medication', MedicationRuleInput>;

export const medicationKind = defineKind({
  kind: 'medication',
  schema: medicationRuleSchema,
  compile(spec, scope): MedicationLeaf {
    // Every parsed field is named here, so a field added to the schema fails the type check until the key takes it.
    const { id: _id, label: _label, note: _note, kind, valueSet, exceptValueSet, window, where, ifNoData, onMatch, currentOnly, startedAtLeast, minPrednisoneMgPerKgPerDay, minCourse, minIngredients, ...rest } = spec;
    const _unkeyed: Record<string, never> = rest;
    const coded = codedFields(spec, scope);
    const reads: DataRead[] = [
      { resourceType: 'MedicationStatement', valueSet: coded.valueSet },
      { resourceType: 'MedicationRequest', valueSet: coded.valueSet },
    ];
    // A dose per kg reads the latest body weight (rules/medication.ts latestWeightKg).
    if (minPrednisoneMgPerKgPerDay !== undefined) reads.push({ resourceType: 'Observation', valueSet: scope.engine.bodyWeight });
    const leaf: MedicationLeaf = {
      kind,
      ...coded,
      spec,
      memoKey: memoKey(kind, [valueSet, exceptValueSet, window, where, ifNoData, onMatch, currentOnly, startedAtLeast, minPrednisoneMgPerKgPerDay, minCourse, minIngredients]),
      reads,
      evaluate: (ctx) => evaluateMedication(leaf, ctx),
    };
    return leaf;
  },
});
