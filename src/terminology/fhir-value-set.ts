import type { ValueSet, ValueSetComposeInclude } from '@medplum/fhirtypes';
import { INGREDIENT_EXTENSION, SOURCE_EXTENSION, valueSetUrl } from './canonical.js';
import type { CodeEntry, HierarchyRule, ValueSetInput } from './value-set-input.js';

/**
 * A code list's authoring file (fhir-mappings/valuesets/<id>.json) as an R4 ValueSet definition (FHIR R4
 * §4.9, ValueSet.compose): explicit concepts, SNOMED CT `is-a` / `descendent-of` filters, ICD-10 prefix rules
 * as `is-a` filters on the ICD system (a WHO or ICD-10-CM code's children are the codes that extend it) and
 * their `exclude`s, RxNorm ingredients with their products. Every include and exclude carries its public
 * citation in the project extension SOURCE_EXTENSION: R4 has no standard extension that cites the source of
 * an include (valueset-reference and valueset-rules-text describe other things), and the citation must stay
 * with the rule it justifies, so a site's terminology team can follow each one.
 */

export const PUBLISHER = 'TrialMatch CDS';

/** A prefix that is itself an ICD code is an is-a filter; a chapter letter ("C") is a regex on the code. */
const ICD_CODE_SHAPE = /^[A-Z]\d{2}/;

function sourceExtension(source: string): { url: string; valueString: string }[] {
  return [{ url: SOURCE_EXTENSION, valueString: source }];
}

/** Explicit concepts of one system and source, in the file's order; products name their ingredient. */
function conceptInclude(system: string, source: string, entries: readonly CodeEntry[]): ValueSetComposeInclude {
  return {
    extension: sourceExtension(source),
    system,
    concept: entries.map((e) => ({
      code: e.code,
      display: e.display,
      ...(e.ingredient && e.ingredient !== e.code ? { extension: [{ url: INGREDIENT_EXTENSION, valueCode: e.ingredient }] } : {}),
    })),
  };
}

function prefixInclude(e: CodeEntry): ValueSetComposeInclude {
  const filter = ICD_CODE_SHAPE.test(e.code)
    ? { property: 'concept', op: 'is-a' as const, value: e.code }
    : { property: 'code', op: 'regex' as const, value: `${e.code}.*` };
  return { extension: sourceExtension(e.source), system: e.system, filter: [filter] };
}

function hierarchyInclude(h: HierarchyRule): ValueSetComposeInclude {
  return { extension: sourceExtension(h.source), system: h.system, filter: [{ property: 'concept', op: h.op, value: h.code }] };
}

/** Groups plain codes by system and source (one include each, where the first appears), prefix rules one apiece. */
function includesOf(entries: readonly CodeEntry[]): ValueSetComposeInclude[] {
  const order: (CodeEntry | CodeEntry[])[] = [];
  const groups = new Map<string, CodeEntry[]>();
  for (const e of entries) {
    if (e.prefix) {
      order.push(e);
      continue;
    }
    const key = `${e.system}\u0000${e.source}`;
    const g = groups.get(key);
    if (g) g.push(e);
    else {
      const fresh = [e];
      groups.set(key, fresh);
      order.push(fresh);
    }
  }
  return order.map((x) => (Array.isArray(x) ? conceptInclude(x[0]!.system, x[0]!.source, x) : prefixInclude(x)));
}

/** The ValueSet's definition (no expansion): its compose, url and metadata, from the authoring file. */
export function toFhirValueSet(input: ValueSetInput): ValueSet {
  const hierarchy = input.hierarchy ?? [];
  const include = [...includesOf(input.codes.filter((c) => !c.exclude)), ...hierarchy.filter((h) => !h.exclude).map(hierarchyInclude)];
  const exclude = [...includesOf(input.codes.filter((c) => c.exclude)), ...hierarchy.filter((h) => h.exclude).map(hierarchyInclude)];
  return {
    resourceType: 'ValueSet',
    id: input.id,
    ...(input.oid ? { extension: sourceExtension(`VSAC ${input.oid}: https://vsac.nlm.nih.gov/valueset/${input.oid}/expansion (the list may be a reviewed subset)`) } : {}),
    url: valueSetUrl(input.id),
    status: 'active',
    publisher: PUBLISHER,
    name: input.id.replace(/(^|-)([a-z0-9])/g, (_m, _d: string, c: string) => c.toUpperCase()),
    title: input.title,
    description: input.description,
    compose: { include, ...(exclude.length > 0 ? { exclude } : {}) },
  };
}
