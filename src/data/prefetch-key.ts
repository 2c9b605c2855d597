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
   * Two `_summary=count` searches: every resource of the type, and those with a coding in a published name of
   * a system the lists use. Only when both answer and agree does the filtered search stand for the whole
   * type; otherwise the key's template (unfiltered) runs, so a record is never lost (clinical safety rule 3).
   */
  proof?: { all: string; known: string };
}

/** Fills the CDS Hooks context tokens of a template ({{context.patientId}}, ...). */
export function fillTemplate(template: string, context: Record<string, string | undefined>): string {
  return template.replace(/\{\{\s*context\.([A-Za-z]+)\s*\}\}/g, (_m, name: string) => encodeURIComponent(context[name] ?? ''));
}
