import type { Resource } from '@medplum/fhirtypes';
import type { PrefetchKey } from './prefetch-key.js';

export type FetchResult =
  | { ok: true; resources: Resource[]; origin: 'prefetch' | 'fhir-server'; pages?: number }
  | { ok: false; reason: string };

/**
 * Where a hook's patient data comes from. Two implementations: the request's prefetch, and the EHR's FHIR
 * server. `undefined` means "this source cannot answer for that key" and the next source is asked.
 */
export interface PatientDataSource {
  get(key: PrefetchKey): Promise<FetchResult | undefined>;
}
