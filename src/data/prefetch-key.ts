import type { ClinicalType } from '../patient/patient-record.js';

/** The resource types a prefetch key may read: the Patient and the clinical types the record indexes. */
export type PrefetchResourceType = ClinicalType | 'Patient';

/**
 * One prefetch key of a CDS service (CDS Hooks 2.0 §Prefetch template): what the data sources answer for,
 * from the request's prefetch or by running the template against the EHR's FHIR server.
 */
export interface PrefetchKey {
  key: string;
  /** The template as sent in discovery, with CDS Hooks tokens still in it. */
  template: string;
  resourceType: PrefetchResourceType;
  /**
   * The service's own search for this key when it is not the template (issue #21 item 4): a code filter the
   * template cannot carry (longer than a prefetch template may be, or whole only with the proof beside it).
   */
  ownSearch?: OwnSearch;
}

export interface OwnSearch {
  /** The filtered search, with CDS Hooks tokens still in it. */
  template: string;
  /**
   * Two `_summary=count` searches: every resource of the type, and those with no coding in any published name
   * of a system the lists use (`[parameter]:not=[system]|,...`: FHIR's `:not` returns the resources that do not
   * contain a match, https://hl7.org/fhir/R4/search.html#token and the search-modifier-code "not", so one with no code at all is counted too). Only
   * when the first answers and the second answers 0 does the filtered search stand for the whole type;
   * otherwise the key's template (unfiltered) runs, so a record is never lost (clinical safety rule 3). A
   * server that ignores the modifier or the parameter counts every resource, one that refuses it gives no
   * count: both read the type whole.
   *
   * Not the positive count of resources with such a coding compared with the first: HAPI FHIR answers that
   * OR of system-only tokens in 13-72 s on a record of 2,900 Procedures (bench/results.md, issue #21 item 4),
   * longer than the hook may take; the `:not` count takes 0.25 s.
   */
  proof?: { all: string; unknown: string };
}

/** Fills the CDS Hooks context tokens of a template ({{context.patientId}}, ...). */
export function fillTemplate(template: string, context: Record<string, string | undefined>): string {
  return template.replace(/\{\{\s*context\.([A-Za-z]+)\s*\}\}/g, (_m, name: string) => encodeURIComponent(context[name] ?? ''));
}
