import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import type { MappingSet } from '../mappings/compiled.js';
import { escapeToken, listSystemNames, searchFilter } from '../mappings/codes-read.js';
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

/** A placeholder, the resource type whose criteria fill it, and the FHIR search parameter it stands in. */
const PLACEHOLDERS: readonly { placeholder: string; type: 'Observation' | 'Procedure' | 'Immunization' }[] = [
  { placeholder: OBSERVATION_CODES, type: 'Observation' },
  { placeholder: PROCEDURE_CODES, type: 'Procedure' },
  { placeholder: IMMUNIZATION_CODES, type: 'Immunization' },
];

/**
 * Longest prefetch template sent in discovery, in bytes: many proxies and servers cap a request line at 4-8 KB
 * (issue #21 item 4; Apache httpd LimitRequestLine 8190, nginx large_client_header_buffers 8k, IIS 4 KB
 * query string by default), and the EHR runs the template as a GET.
 */
export const MAX_PREFETCH_TEMPLATE_BYTES = 4096;

/** The template without the query parameter that holds the placeholder: the type read whole. */
function withoutParameter(template: string, placeholder: string): string {
  const [path, query = ''] = template.split('?', 2) as [string, string?];
  const kept = query.split('&').filter((p) => !p.includes(placeholder));
  return kept.length > 0 ? `${path}?${kept.join('&')}` : path;
}

/** The same search as a count (`_summary=count`, R4 §3.1.1.5.6), without paging, sorting or includes. */
function countOf(template: string): string {
  const [path, query = ''] = template.split('?', 2) as [string, string?];
  const kept = query.split('&').filter((p) => p && !/^(_count|_sort|_include|_revinclude)=/.test(p));
  return `${path}?${[...kept, '_summary=count'].join('&')}`;
}

/**
 * Fills a template's code placeholder from the criteria (src/mappings/codes-read.ts searchFilter): the EHR's
 * prefetch gets the filter only when it is whole by construction and short enough; otherwise it reads the type
 * whole, and the service's own search carries the filter (sent as POST _search when long,
 * src/data/fhir-server-source.ts) with, for system-wide tokens, the counts that prove it whole.
 */
function fillCodes(raw: string, mappings: MappingSet): Pick<PrefetchKey, 'template' | 'ownSearch'> {
  const slot = PLACEHOLDERS.find((p) => raw.includes(p.placeholder));
  if (!slot) return { template: raw };
  const filter = searchFilter(mappings, slot.type, mappings.terminology.localPlacements.keys());
  const whole = withoutParameter(raw, slot.placeholder);
  if (!filter) return { template: whole };
  const filtered = raw.replace(slot.placeholder, filter.tokens.join(','));
  if (!filter.systemWide && Buffer.byteLength(filtered) <= MAX_PREFETCH_TEMPLATE_BYTES) return { template: filtered };
  if (!filter.systemWide) return { template: whole, ownSearch: { template: filtered } };
  const parameter = raw.split('?', 2)[1]!.split('&').find((p) => p.includes(slot.placeholder))!.split('=', 1)[0]!;
  const unknown = `${whole}${whole.includes('?') ? '&' : '?'}${parameter}:not=${listSystemNames().map((n) => `${escapeToken(n)}|`).join(',')}`;
  return { template: whole, ownSearch: { template: filtered, proof: { all: countOf(whole), unknown: countOf(unknown) } } };
}

/**
 * Loads the service descriptors in cds-hooks/services.json and fills the project's observation-codes
 * placeholder from the mappings. Each template must name a resource type the service reads.
 */
export function loadServiceDefinitions(dir: string, mappings: MappingSet): ServiceDefinition[] {
  const file = join(dir, 'services.json');
  const parsed = descriptorSchema.parse(JSON.parse(readFileSync(file, 'utf8')));
  return parsed.services.map((s) => {
    const prefetch = Object.entries(s.prefetch).map(([key, raw]) => {
      const resourceType = raw.split(/[/?]/)[0] as PrefetchResourceType;
      if (!TYPES.includes(resourceType)) throw new Error(`${file}: prefetch "${key}" reads ${resourceType}, which the service does not use`);
      const filled = fillCodes(raw, mappings);
      if (/\{\{\s*trialmatch\./.test(filled.template) || (filled.ownSearch && /\{\{\s*trialmatch\./.test(filled.ownSearch.template))) {
        throw new Error(`${file}: prefetch "${key}" holds a placeholder the service does not fill`);
      }
      return { key, resourceType, ...filled };
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
