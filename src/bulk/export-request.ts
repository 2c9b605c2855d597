import type { ReadType } from '../engine/compiled.js';
import type { MappingSet } from '../mappings/compiled.js';
import { filterableCodes } from '../mappings/codes-read.js';
import { CLINICAL_TYPES } from '../patient/patient-record.js';

/**
 * What a population job asks of the FHIR server's Bulk Data export (FHIR Bulk Data Access 2.0, §Query
 * Parameters): `_type`, the resource types the trials' criteria read (from each leaf's `reads`), and
 * `_typeFilter`, only where a filter loses nothing a criterion could read.
 */
export interface ExportRequest {
  types: string[];
  /** FHIR search queries (`Observation?code=…`), one per filtered type; a type not named here comes whole. */
  typeFilters: string[];
}

/** The search parameter that holds a type's codes (FHIR R4 search parameters of each resource). */
const CODE_PARAMETER: Partial<Record<ReadType, string>> = { Observation: 'code', Procedure: 'code', Immunization: 'vaccine-code' };

/**
 * The export request for these mappings. Types: the Patient, every type a leaf reads, and Medication when a
 * medication type is read (a MedicationRequest's `medicationReference` names one; the record reads its code).
 * Bulk Data 2.0 says a Patient-level export holds the patient compartment; Medication is not in it, so a
 * server may refuse it or leave it out: the job asks it only when a server accepts it (exportTypes' caller).
 *
 * Filters (clinical safety rule 3: a record that might matter must not be filtered away; when unsure, no
 * filter): a type is filtered by code only when every leaf that reads it names exact codes a token search
 * can express (src/mappings/codes-read.ts filterableCodes: no prefixes, no WHO ICD-10 stems, no names, no
 * leaf reading the type whole), and only when the site places no local codes of its own (a ConceptMap): a
 * local code would be filtered away before the placement could read it. Condition and medication types are
 * never filtered (the engine reads text and local codes there, and a washout reads every administration).
 */
export function exportRequest(mappings: MappingSet): ExportRequest {
  const read = new Set<string>(['Patient']);
  const walk = (rule: Parameters<typeof visit>[0]): void => visit(rule, read);
  for (const t of mappings.trials) for (const c of t.criteria) walk(c.rule);
  // Keep the record builder's own order (Patient first, then src/patient/patient-record.ts CLINICAL_TYPES).
  const types = ['Patient', ...CLINICAL_TYPES.filter((t) => read.has(t))];
  const typeFilters: string[] = [];
  const localCodes = mappings.terminology.localSources.size > 0 || mappings.terminology.localPlacements.size > 0;
  if (!localCodes) {
    for (const type of types) {
      const parameter = CODE_PARAMETER[type as ReadType];
      if (!parameter) continue;
      const codes = filterableCodes(mappings, type as ReadType);
      if (codes) typeFilters.push(`${type}?${parameter}=${codes.join(',')}`);
    }
  }
  return { types, typeFilters };
}

type Rule = MappingSet['trials'][number]['criteria'][number]['rule'];

function visit(rule: Rule, out: Set<string>): void {
  if ('of' in rule) {
    for (const r of rule.of) visit(r, out);
    return;
  }
  for (const r of rule.reads) out.add(r.resourceType);
}
