import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import type { MappingSet } from '../mappings/compiled.js';
import { codesRead, filterableCodes } from '../mappings/codes-read.js';
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

/** Every `system|code` an Observation criterion can use, so the service asks only for those. */
export function observationCodes(mappings: MappingSet): string[] {
  return codesRead(mappings, 'Observation');
}

/**
 * Every `system|code` the Procedure or Immunization criteria can match, or `undefined` when a token search
 * cannot express what they read (from each leaf's `reads`, src/mappings/codes-read.ts): a prefix ("T86.1 and
 * below"), a match by name, or a leaf that reads the type without a code list. A `code=` search with exact
 * tokens finds exactly the resources those lists match (the engine too compares system and code exactly:
 * src/terminology/value-set.ts matchCoding), so the filter loses nothing the criteria read; where it cannot,
 * the type is read whole.
 */
export function eventCodes(mappings: MappingSet, type: 'Procedure' | 'Immunization'): string[] | undefined {
  return filterableCodes(mappings, type);
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
