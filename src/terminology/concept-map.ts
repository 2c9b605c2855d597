import { z } from 'zod';
import { codeKey, matchesKey, type CompiledValueSet } from './value-set.js';

/**
 * A site's local codes as a FHIR R4 ConceptMap (LOCAL_CONCEPT_MAP_FILE, and a terminology server's
 * ConceptMap/$translate answers): a local coding (group.source + element.code) is read as its mapped targets,
 * as far as the mapping's equivalence allows (placementOf below).
 */

/** R4 ConceptMapEquivalence (http://hl7.org/fhir/R4/valueset-concept-map-equivalence.html). */
export const EQUIVALENCES = ['relatedto', 'equivalent', 'equal', 'wider', 'subsumes', 'narrower', 'specializes', 'inexact', 'unmatched', 'disjoint'] as const;
export type Equivalence = (typeof EQUIVALENCES)[number];

/**
 * What a mapping with this equivalence lets the service conclude about the local code, from the R4
 * definitions (http://hl7.org/fhir/R4/valueset-concept-map-equivalence.html):
 * - `equivalent` ("the definitions of the concepts mean the same thing") and `equal` ("exactly the same"):
 *   the local code is the target: `full`, it counts wherever the target counts.
 * - `wider` ("the target mapping is wider in meaning than the source concept") and `subsumes` ("the target
 *   mapping subsumes the meaning of the source concept (e.g. the source is-a target)"): the local code is a
 *   kind of the target, but a list may hold the target to mean that concept as the protocol names it (with
 *   narrower codes excluded), so reading the local code as the target widens what the record says. It may
 *   place the code only in lists whose presence can only count for the patient (`favourable`: an SLE
 *   diagnosis for an inclusion), never in one whose presence excludes (clinical safety rule 3: ambiguity
 *   moves toward unknown, never toward an exclusion). Elsewhere the code stays unplaced: unknown at most.
 * - `narrower` and `specializes` (the target is narrower: reading it would assert more than the record
 *   says), `inexact` and `relatedto` (overlap of unknown extent; R4 warns "applications should be careful
 *   when attempting to use these mappings operationally"), `unmatched` and `disjoint` (no mapping): `none`.
 */
export function placementOf(equivalence: string): 'full' | 'favourable' | 'none' {
  switch (equivalence) {
    case 'equivalent':
    case 'equal':
      return 'full';
    case 'wider':
    case 'subsumes':
      return 'favourable';
    default:
      return 'none';
  }
}

const extension = z.array(z.record(z.string(), z.unknown())).optional();

const targetSchema = z
  .strictObject({
    id: z.string().optional(),
    extension,
    code: z.string().min(1).optional(),
    display: z.string().optional(),
    equivalence: z.enum(EQUIVALENCES),
    comment: z.string().optional(),
  })
  // R4 invariant cmd-1: "If the map is narrower or inexact, there SHALL be some comments".
  .refine((t) => !(t.equivalence === 'narrower' || t.equivalence === 'inexact') || !!t.comment, { message: 'a narrower or inexact mapping needs a comment (R4 invariant cmd-1)', path: ['comment'] })
  // R4 invariant cmd-2: "If the map is source for unmatched, there SHALL be no target code"; a map naming a target needs its code.
  .refine((t) => (t.equivalence === 'unmatched' || t.equivalence === 'disjoint' ? true : !!t.code), { message: 'a mapping other than unmatched or disjoint names its target code', path: ['code'] });

/**
 * The R4 ConceptMap, strictly: an unknown key is refused, so a misspelt `equivalance` stops start-up instead
 * of being dropped. `dependsOn`, `product` and `group.unmapped` are refused too: they make a mapping depend on
 * other data, which the service cannot honour, and a mapping read without its condition could be wrong.
 */
export const conceptMapSchema = z.strictObject({
  resourceType: z.literal('ConceptMap'),
  id: z.string().optional(),
  meta: z.record(z.string(), z.unknown()).optional(),
  implicitRules: z.string().optional(),
  language: z.string().optional(),
  text: z.record(z.string(), z.unknown()).optional(),
  extension,
  url: z.string().optional(),
  identifier: z.record(z.string(), z.unknown()).optional(),
  version: z.string().optional(),
  name: z.string().optional(),
  title: z.string().optional(),
  status: z.enum(['draft', 'active', 'retired', 'unknown']),
  experimental: z.boolean().optional(),
  date: z.string().optional(),
  publisher: z.string().optional(),
  contact: z.array(z.unknown()).optional(),
  description: z.string().optional(),
  useContext: z.array(z.unknown()).optional(),
  jurisdiction: z.array(z.unknown()).optional(),
  purpose: z.string().optional(),
  copyright: z.string().optional(),
  sourceUri: z.string().optional(),
  sourceCanonical: z.string().optional(),
  targetUri: z.string().optional(),
  targetCanonical: z.string().optional(),
  group: z
    .array(
      z.strictObject({
        id: z.string().optional(),
        extension,
        /** The local code system: required here (optional in R4), or the local codes could not be recognised. */
        source: z.string().min(1),
        sourceVersion: z.string().optional(),
        target: z.string().min(1),
        targetVersion: z.string().optional(),
        element: z.array(
          z.strictObject({
            id: z.string().optional(),
            extension,
            code: z.string().min(1),
            display: z.string().optional(),
            target: z.array(targetSchema).optional(),
          }),
        ),
      }),
    )
    .min(1),
});
export type ConceptMapInput = z.infer<typeof conceptMapSchema>;

/** One mapping of a local code: its target as a `system|code` key and the equivalence. */
export interface Translation {
  target: string;
  equivalence: string;
}

/** Source `system|code` -> its mappings, from a parsed ConceptMap. */
export function conceptMapTranslations(map: ConceptMapInput): Map<string, Translation[]> {
  const out = new Map<string, Translation[]>();
  for (const g of map.group) {
    for (const e of g.element) {
      const key = codeKey(g.source, e.code);
      const list = out.get(key) ?? [];
      for (const t of e.target ?? []) if (t.code) list.push({ target: codeKey(g.target, t.code), equivalence: t.equivalence });
      out.set(key, list);
    }
  }
  return out;
}

/**
 * The lists a local code is placed in by its mappings: a `full` mapping in every list its target is in, a
 * `favourable` one only in the lists `favourableOnly` names (placementOf says why).
 */
export function listsForTranslations(translations: readonly Translation[], lists: Iterable<CompiledValueSet>, favourableOnly: ReadonlySet<string>): Set<string> {
  const out = new Set<string>();
  const all = [...lists];
  for (const t of translations) {
    const strength = placementOf(t.equivalence);
    if (strength === 'none') continue;
    for (const vs of all) {
      if (strength === 'favourable' && !favourableOnly.has(vs.id)) continue;
      if (matchesKey(vs, t.target)) out.add(vs.id);
    }
  }
  return out;
}
