/**
 * Minimal stand-in for the "records" engineer's code-system module (issue 17 item 2), holding only what the
 * value-set matching needs: which systems are national editions of WHO ICD-10. The full module (HL7 OID and
 * URI aliases, canonicalised at indexing time) replaces this file; the contract is this one export.
 */

/** WHO ICD-10, the system national editions extend (terminology.hl7.org CodeSystem icd10). */
export const WHO_ICD10 = 'http://hl7.org/fhir/sid/icd-10';

/**
 * National editions that extend WHO ICD-10 codes with more characters, so an edition code matches its WHO
 * parent's lists. ICD-10-GM: the German base profiles' system URIs (https://simplifier.net/basisprofil-de-r4,
 * "ICD-10-GM", BfArM and the former DIMDI URI). ICD-10-CM is not one: its children are matched as its own
 * system with its own lists.
 */
const NATIONAL_EDITIONS: ReadonlySet<string> = new Set(['http://fhir.de/CodeSystem/bfarm/icd-10-gm', 'http://fhir.de/CodeSystem/dimdi/icd-10-gm']);

export function isIcd10NationalEdition(system: string): boolean {
  return NATIONAL_EDITIONS.has(system);
}
