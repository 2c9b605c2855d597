import type { Bundle, Resource } from '@medplum/fhirtypes';
import type { PrefetchKey } from './prefetch-key.js';
import type { FetchResult, PatientDataSource } from './patient-data-source.js';

function isResource(value: unknown): value is Resource {
  return typeof value === 'object' && value !== null && typeof (value as { resourceType?: unknown }).resourceType === 'string';
}

/** Resources of a Bundle, without search-outcome OperationOutcomes and malformed entries. */
export function bundleResources(bundle: Bundle): Resource[] {
  const out: Resource[] = [];
  for (const entry of Array.isArray(bundle.entry) ? bundle.entry : []) {
    const r: unknown = entry?.resource;
    if (isResource(r) && r.resourceType !== 'OperationOutcome') out.push(r);
  }
  return out;
}

/**
 * Prefetch per CDS Hooks 2.0: an absent key, or one holding an OperationOutcome (the EHR's query failed),
 * is not an answer; `null` means there is no such data; a Bundle or a resource is the data.
 */
export class PrefetchSource implements PatientDataSource {
  constructor(private readonly prefetch: Record<string, unknown> | undefined) {}

  get(key: PrefetchKey): Promise<FetchResult | undefined> {
    return Promise.resolve(this.read(key));
  }

  private read(key: PrefetchKey): FetchResult | undefined {
    if (!this.prefetch || !(key.key in this.prefetch)) return undefined;
    const value = this.prefetch[key.key];
    if (value === null) return { ok: true, resources: [], origin: 'prefetch' };
    if (!isResource(value) || value.resourceType === 'OperationOutcome') return undefined;
    if (value.resourceType === 'Bundle') return { ok: true, resources: bundleResources(value), origin: 'prefetch' };
    return { ok: true, resources: [value], origin: 'prefetch' };
  }
}
