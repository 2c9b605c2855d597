import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import type { MappingSet } from '../mappings/compiled.js';
import { codesRead } from '../mappings/codes-read.js';
import type { PrefetchKey, PrefetchResourceType } from '../data/prefetch-key.js';
import { CLINICAL_TYPES } from '../patient/patient-record.js';

/** The one placeholder the project adds to CDS Hooks templates: the Observation codes the trials use. */
const OBSERVATION_CODES = '{{trialmatch.observationCodes}}';

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
 * Loads the service descriptors in cds-hooks/services.json and fills the project's observation-codes
 * placeholder from the mappings. Each template must name a resource type the service reads.
 */
export function loadServiceDefinitions(dir: string, mappings: MappingSet): ServiceDefinition[] {
  const file = join(dir, 'services.json');
  const parsed = descriptorSchema.parse(JSON.parse(readFileSync(file, 'utf8')));
  const codes = observationCodes(mappings).join(',');
  return parsed.services.map((s) => {
    const prefetch = Object.entries(s.prefetch).map(([key, raw]) => {
      const resourceType = raw.split(/[/?]/)[0] as PrefetchResourceType;
      if (!TYPES.includes(resourceType)) throw new Error(`${file}: prefetch "${key}" reads ${resourceType}, which the service does not use`);
      return { key, template: raw.replace(OBSERVATION_CODES, codes), resourceType };
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
