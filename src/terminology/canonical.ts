/** The project's canonical URL base for its code lists as FHIR ValueSets (issue #17 item 1). */
const VALUE_SET_BASE = 'https://trialmatch-cds.org/fhir/ValueSet/';

/** The canonical URL of the code list `id`: what a terminology server's `$validate-code?url=` names. */
export function valueSetUrl(id: string): string {
  return `${VALUE_SET_BASE}${id}`;
}
