import type { Coding } from '@medplum/fhirtypes';
import type { ReadType } from '../engine/compiled.js';
import type { MappingSet } from '../mappings/compiled.js';
import { filterableCodes } from '../mappings/codes-read.js';
import { CLINICAL_TYPES } from '../patient/patient-record.js';

/**
 * What a population job asks of the FHIR server's Bulk Data export (FHIR Bulk Data Access 2.0, §Query
 * Parameters): `_type`, the resource types the trials' criteria read (from each leaf's `reads`), and
 * `_typeFilter`, only where a filter loses nothing a criterion could read. The one place the export's scope is
 * decided: the job's kick-off (src/bulk/run-job.ts) and the benchmark cohort (scripts/build-cohort.ts), which
 * holds what such an export would, both read it.
 */
export interface ExportRequest {
  types: string[];
  /** FHIR search queries (`Observation?code=…`), one per filtered type; a type not named here comes whole. */
  typeFilters: string[];
  /** The same filters as tokens per type (`code` or `system|code`, FHIR-escaped as in a search). */
  codeFilters: ReadonlyMap<string, readonly string[]>;
}

/** The search parameter that holds a type's codes (FHIR R4 search parameters of each resource). */
const CODE_PARAMETER: Partial<Record<ReadType, string>> = { Observation: 'code', Procedure: 'code', Immunization: 'vaccine-code' };

/**
 * The export request for these mappings. Types: the Patient and every type a leaf reads, in the record
 * builder's order. Not Medication: Bulk Data 2.0 says a Patient-level export holds the patient compartment,
 * which Medication is not in, so a server may refuse the whole kick-off; the job reads the Medications the
 * records reference by id instead (src/bulk/referenced-medications.ts).
 *
 * Filters (clinical safety rule 3: a record that might matter must not be filtered away; when unsure, no
 * filter): a type is filtered by code only when every leaf that reads it names exact codes a token search
 * can express (src/mappings/codes-read.ts filterableCodes: no prefixes, no WHO ICD-10 stems, no names, no
 * leaf reading the type whole), and only when the site has no local codes of its own (local code systems or
 * a ConceptMap's placements): a local code would be filtered away before the placement could read it.
 * Condition and medication types are never filtered (the engine reads text and local codes there, and a
 * washout reads every administration). Each token is percent-encoded inside the query (RFC 3986 §2.1), so a
 * `+`, `&` or `%` in a code survives the server's decoding of the `_typeFilter` query.
 */
export function exportRequest(mappings: MappingSet): ExportRequest {
  const read = new Set<string>(['Patient']);
  const walk = (rule: Parameters<typeof visit>[0]): void => visit(rule, read);
  for (const t of mappings.trials) for (const c of t.criteria) walk(c.rule);
  // Keep the record builder's own order (Patient first, then src/patient/patient-record.ts CLINICAL_TYPES).
  const types = ['Patient', ...CLINICAL_TYPES.filter((t) => read.has(t))];
  const codeFilters = new Map<string, readonly string[]>();
  const localCodes = mappings.terminology.localSources.size > 0 || mappings.terminology.localPlacements.size > 0;
  if (!localCodes) {
    for (const type of types) {
      if (!CODE_PARAMETER[type as ReadType]) continue;
      const codes = filterableCodes(mappings, type as ReadType);
      if (codes) codeFilters.set(type, codes);
    }
  }
  const typeFilters = [...codeFilters].map(([type, codes]) => `${type}?${CODE_PARAMETER[type as ReadType]!}=${codes.map(encodeURIComponent).join(',')}`);
  return { types, typeFilters, codeFilters };
}

/**
 * Whether a resource with these codings passes a type's export filter, as a FHIR token search matches
 * (FHIR R4 §3.1.1.4.9 token): `code` matches the code in any system, `system|code` that system's code,
 * `system|` any code of that system. Used where an export is simulated (the benchmark cohort).
 */
export function passesCodeFilter(tokens: readonly string[], codings: readonly Coding[]): boolean {
  return codings.some((c) =>
    tokens.some((token) => {
      const bar = unescapedBar(token);
      if (bar < 0) return unescape(token) === c.code;
      const system = unescape(token.slice(0, bar));
      const code = unescape(token.slice(bar + 1));
      return c.system === system && (code === '' || c.code === code);
    }),
  );
}

function unescapedBar(token: string): number {
  for (let i = 0; i < token.length; i++) {
    if (token[i] === '\\') i++;
    else if (token[i] === '|') return i;
  }
  return -1;
}

function unescape(value: string): string {
  return value.replace(/\\([\\,|$])/g, '$1');
}

type Rule = MappingSet['trials'][number]['criteria'][number]['rule'];

function visit(rule: Rule, out: Set<string>): void {
  if ('of' in rule) {
    for (const r of rule.of) visit(r, out);
    return;
  }
  for (const r of rule.reads) out.add(r.resourceType);
}
