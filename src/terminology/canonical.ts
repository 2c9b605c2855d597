/**
 * Canonical URLs of the project's terminology resources. A ValueSet's `url` is how a terminology server is
 * asked about it (`$validate-code?url=…`, FHIR R4 §4.9.10) and how a site's own server may host it, so it
 * is built in one place.
 */
export const CANONICAL_BASE = 'https://trialmatch-cds.org/fhir';

/** The canonical URL of a code list (fhir-mappings/valuesets/<id>.json) as an R4 ValueSet. */
export function valueSetUrl(id: string): string {
  return `${CANONICAL_BASE}/ValueSet/${id}`;
}

/** Project extension on a ValueSet include: the public source its codes were checked against. */
export const SOURCE_EXTENSION = `${CANONICAL_BASE}/StructureDefinition/code-source`;

/** Project extension on a compose concept: the RxNorm ingredient a product stands for. */
export const INGREDIENT_EXTENSION = `${CANONICAL_BASE}/StructureDefinition/rxnorm-ingredient`;
