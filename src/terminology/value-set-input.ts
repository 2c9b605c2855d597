import { z } from 'zod';

/**
 * The authoring form of a code list (fhir-mappings/valuesets/<id>.json), validated strictly. It lives with
 * the terminology, below engine/ and mappings/ (issue 17 item 8): the loader imports it from here. Each
 * list becomes, by generation, an R4 ValueSet (src/terminology/fhir-value-set.ts).
 */

const codeEntrySchema = z.strictObject({
  system: z.string().min(1),
  code: z.string().min(1),
  display: z.string().min(1),
  source: z.string().min(1),
  prefix: z.boolean().optional(),
  exclude: z.boolean().optional(),
  tty: z.string().optional(),
  ingredient: z.string().optional(),
  strength: z.strictObject({ value: z.number().positive(), unit: z.string() }).optional(),
  prednisoneEquivalentFactor: z.number().positive().optional(),
  unit: z.string().optional(),
});

/**
 * A hierarchy rule: a concept and its descendants (`is-a`) or its descendants only (`descendent-of`), the
 * R4 ValueSet compose filter operators on the `concept` property (FHIR R4 §4.9.5, filter-operator). With
 * `exclude` the rule removes those concepts (compose.exclude). `source` is the public page that names the
 * concept; the descendants themselves come from the tables in fhir-mappings/terminology-sources/.
 */
const hierarchySchema = z.strictObject({
  system: z.string().min(1),
  code: z.string().min(1),
  op: z.enum(['is-a', 'descendent-of']),
  display: z.string().min(1).optional(),
  source: z.string().min(1),
  exclude: z.boolean().optional(),
});

export const valueSetSchema = z.strictObject({
  id: z.string().regex(/^[a-z0-9-]+$/),
  title: z.string().min(1),
  hierarchy: z.array(hierarchySchema).optional(),
  description: z.string().min(1),
  codes: z.array(codeEntrySchema),
  /** The VSAC value set (OID) the codes were drawn from; the list may be a reviewed subset of it. */
  oid: z.string().regex(/^\d+(\.\d+)+$/).optional(),
  names: z.array(z.string().min(3)).optional(),
  /**
   * Other names of an ingredient (brands, abbreviations, other languages) -> the ingredient they stand for:
   * an RxNorm IN code of this list, or a generic name in `names`. Each is also matched as a name, and counts
   * as that ingredient, so "CellCept" and "mycophenolate mofetil" (coded or named) are one agent.
   */
  synonyms: z.record(z.string().min(2), z.string().min(1)).optional(),
});

/** A site's own codes, added to the shared code lists without a code change. */
export const localCodesSchema = z.strictObject({
  valueSets: z.record(
    z.string(),
    z.array(
      codeEntrySchema.extend({
        source: z.string().min(1).default('site configuration'),
      }),
    ),
  ),
});

export type ValueSetInput = z.infer<typeof valueSetSchema>;
export type CodeEntry = z.infer<typeof codeEntrySchema>;
export type HierarchyRule = z.infer<typeof hierarchySchema>;
