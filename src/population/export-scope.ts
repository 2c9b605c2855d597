import type { MappingSet } from '../mappings/compiled.js';
import { filterableCodes } from '../mappings/codes-read.js';
import { CLINICAL_TYPES } from '../patient/patient-record.js';

/**
 * What a Bulk Data export for screening asks (FHIR Bulk Data 2.0 §Query Parameters): `_type` the Patient, the
 * record types the criteria read (src/patient/patient-record.ts) and the Medication their records reference.
 */
export const EXPORT_TYPES: readonly string[] = ['Patient', ...CLINICAL_TYPES, 'Medication'];

/**
 * Per type, the tokens a `_typeFilter` may keep without losing anything a criterion reads: the codes the hook's
 * own prefetch asks for (src/mappings/codes-read.ts filterableCodes, src/cds/service-definition.ts), when a
 * token search can express the type's lists whole. A type not in the map is exported whole.
 */
export function exportCodeFilters(mappings: MappingSet): Map<string, ReadonlySet<string>> {
  const filters = new Map<string, ReadonlySet<string>>();
  for (const type of ['Observation', 'Procedure', 'Immunization'] as const) {
    const codes = filterableCodes(mappings, type);
    if (codes) filters.set(type, new Set(codes));
  }
  return filters;
}

/** The `_typeFilter` values (`Observation?code=sys|code,…`), one per filtered type; Immunization's search parameter is vaccine-code. */
export function exportTypeFilters(mappings: MappingSet): string[] {
  return [...exportCodeFilters(mappings)].map(([type, codes]) => `${type}?${type === 'Immunization' ? 'vaccine-code' : 'code'}=${[...codes].map(encodeURIComponent).join(',')}`);
}
