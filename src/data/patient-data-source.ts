import type { Bundle, Resource } from '@medplum/fhirtypes';
import type { PrefetchKey } from './prefetch-key.js';

export type FetchResult =
  | {
      ok: true;
      resources: Resource[];
      origin: 'prefetch' | 'fhir-server';
      pages?: number;
      /**
       * Set when the resources are only part of the search's result (a paged prefetch the service could not
       * complete): what is there is real evidence, but an absence in it cannot be read as "not present".
       */
      partial?: string;
      /** A prefetch Bundle's page with a `next` link: the search goes on there (CDS Hooks 2.0 lets clients page). */
      continueFrom?: Bundle;
    }
  | { ok: false; reason: string };

/**
 * Where a hook's patient data comes from. Two implementations: the request's prefetch, and the EHR's FHIR
 * server. `undefined` means "this source cannot answer for that key" and the next source is asked.
 */
export interface PatientDataSource {
  get(key: PrefetchKey): Promise<FetchResult | undefined>;
  /**
   * Reads the rest of a search another source holds the first page of, from that page's `next` link (the
   * FHIR server only, under the same policy as its own searches). Sources that cannot page leave it out.
   */
  continuePaging?(key: PrefetchKey, page: Bundle): Promise<FetchResult>;
}
