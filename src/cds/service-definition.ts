import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import type { MappingSet } from '../mappings/compiled.js';
import { isGroup, type CompiledRule } from '../mappings/compiled.js';
import type { PrefetchKey, PrefetchResourceType } from '../data/prefetch-key.js';
import { CLINICAL_TYPES } from '../patient/patient-record.js';

/**
 * The placeholders the project adds to CDS Hooks templates: the codes the trials read, per resource type, so
 * that a search asks only for what a criterion can use (issue #10 item 9: fewer, smaller pages).
 */
const OBSERVATION_CODES = '{{trialmatch.observationCodes}}';
const PROCEDURE_CODES = '{{trialmatch.procedureCodes}}';
const IMMUNIZATION_CODES = '{{trialmatch.immunizationCodes}}';

const descriptorSchema = z.object({
  services: z.array(
    z.object({
      id: z.string().regex(/^[a-z0-9-]+$/),
      hook: z.literal('patient-view'),
      title: z.string().min(1),
      description: z.string().min(1),
      prefetch: z.record(z.string(), z.string().min(1)),
      usageRequirements: z.string().optional(),
    }),
  ),
});

export interface ServiceDefinition {
  id: string;
  hook: 'patient-view';
  title: string;
  description: string;
  usageRequirements?: string;
  prefetch: PrefetchKey[];
}

const TYPES: readonly PrefetchResourceType[] = ['Patient', ...CLINICAL_TYPES];

function collectObservationCodes(rule: CompiledRule, out: Set<string>): void {
  if (isGroup(rule)) {
    for (const r of rule.of) collectObservationCodes(r, out);
    return;
  }
  if ((rule.kind === 'measurement' || rule.kind === 'lab-positive' || rule.kind === 'titer') && rule.valueSet) {
    for (const set of rule.valueSet.members ?? [rule.valueSet]) for (const key of set.exact.keys()) out.add(key);
  }
}

/** Every `system|code` an Observation criterion can use, so the service asks only for those. */
export function observationCodes(mappings: MappingSet): string[] {
  const out = new Set<string>();
  for (const t of mappings.trials) for (const c of t.criteria) collectObservationCodes(c.rule, out);
  for (const key of mappings.engine.bodyWeight.exact.keys()) out.add(key);
  return [...out].sort();
}

/**
 * The rule kinds the engine has today and the one resource type each reads by code (src/engine/rules/*),
 * `undefined` for the kinds that read no code-filterable type. A kind not in this table (one added later)
 * may read anything, so no type is filtered while it is in use.
 */
const CODE_READS: Readonly<Record<string, 'Procedure' | 'Immunization' | undefined>> = {
  procedure: 'Procedure',
  immunization: 'Immunization',
  condition: undefined,
  medication: undefined,
  measurement: undefined,
  'lab-positive': undefined,
  titer: undefined,
  age: undefined,
  sex: undefined,
  review: undefined,
};

/**
 * Every `system|code` a Procedure or Immunization criterion can match, or `undefined` when a token search
 * cannot express the criteria's lists: a prefix ("T86.1 and below"), a match by name, or a rule kind this
 * table does not know. A `code=` search with exact tokens finds exactly the resources those lists match (the
 * engine too compares system and code exactly: src/terminology/value-set.ts matchCoding), so the filter
 * loses nothing the criteria read; where it cannot, the type is read whole.
 */
export function eventCodes(mappings: MappingSet, type: 'Procedure' | 'Immunization'): string[] | undefined {
  const out = new Set<string>();
  let expressible = true;
  const walk = (rule: CompiledRule): void => {
    if (isGroup(rule)) {
      for (const r of rule.of) walk(r);
      return;
    }
    if (!(rule.kind in CODE_READS)) {
      expressible = false;
      return;
    }
    if (CODE_READS[rule.kind] !== type) return;
    if (!rule.valueSet) {
      expressible = false;
      return;
    }
    for (const set of rule.valueSet.members ?? [rule.valueSet]) {
      if (set.prefixes.length > 0 || set.names.length > 0) expressible = false;
      for (const key of set.exact.keys()) out.add(key);
    }
  };
  for (const t of mappings.trials) for (const c of t.criteria) walk(c.rule);
  // No criterion reads the type: nothing to filter by, and an empty `code=` is not a valid search.
  return expressible && out.size > 0 ? [...out].sort() : undefined;
}

/**
 * Fills one placeholder: with the codes, or, when they cannot be expressed as tokens, by removing the
 * query parameter that holds it, so the type is read whole rather than filtered wrongly.
 */
function fillCodes(template: string, placeholder: string, codes: readonly string[] | undefined): string {
  if (!template.includes(placeholder)) return template;
  if (codes && codes.length > 0) return template.replace(placeholder, codes.join(','));
  const [path, query = ''] = template.split('?', 2) as [string, string?];
  const kept = query.split('&').filter((p) => !p.includes(placeholder));
  return kept.length > 0 ? `${path}?${kept.join('&')}` : path;
}

/**
 * Loads the service descriptors in cds-hooks/services.json and fills the project's observation-codes
 * placeholder from the mappings. Each template must name a resource type the service reads.
 */
export function loadServiceDefinitions(dir: string, mappings: MappingSet): ServiceDefinition[] {
  const file = join(dir, 'services.json');
  const parsed = descriptorSchema.parse(JSON.parse(readFileSync(file, 'utf8')));
  const observations = observationCodes(mappings);
  const procedures = eventCodes(mappings, 'Procedure');
  const immunizations = eventCodes(mappings, 'Immunization');
  return parsed.services.map((s) => {
    const prefetch = Object.entries(s.prefetch).map(([key, raw]) => {
      const resourceType = raw.split(/[/?]/)[0] as PrefetchResourceType;
      if (!TYPES.includes(resourceType)) throw new Error(`${file}: prefetch "${key}" reads ${resourceType}, which the service does not use`);
      let template = fillCodes(raw, OBSERVATION_CODES, observations);
      template = fillCodes(template, PROCEDURE_CODES, procedures);
      template = fillCodes(template, IMMUNIZATION_CODES, immunizations);
      if (/\{\{\s*trialmatch\./.test(template)) throw new Error(`${file}: prefetch "${key}" holds a placeholder the service does not fill`);
      return { key, template, resourceType };
    });
    const def: ServiceDefinition = { id: s.id, hook: s.hook, title: s.title, description: s.description, prefetch };
    if (s.usageRequirements) def.usageRequirements = s.usageRequirements;
    return def;
  });
}

/** GET /cds-services: the discovery document (CDS Hooks 2.0 §Discovery). */
export function renderDiscovery(services: readonly ServiceDefinition[]): { services: Record<string, unknown>[] } {
  return {
    services: services.map((s) => {
      const entry: Record<string, unknown> = {
        hook: s.hook,
        id: s.id,
        title: s.title,
        description: s.description,
        prefetch: Object.fromEntries(s.prefetch.map((p) => [p.key, p.template])),
      };
      if (s.usageRequirements) entry.usageRequirements = s.usageRequirements;
      return entry;
    }),
  };
}
