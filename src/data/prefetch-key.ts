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
}

/** Fills the CDS Hooks context tokens of a template ({{context.patientId}}, ...). */
export function fillTemplate(template: string, context: Record<string, string | undefined>): string {
  return template.replace(/\{\{\s*context\.([A-Za-z]+)\s*\}\}/g, (_m, name: string) => encodeURIComponent(context[name] ?? ''));
}
