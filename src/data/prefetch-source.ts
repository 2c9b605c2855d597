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

/** The Bundle's `next` paging link, if it has one (FHIR R4 §3.1.1.3.3 Paging). */
export function nextLink(bundle: Bundle): string | undefined {
  const links = Array.isArray(bundle.link) ? bundle.link : [];
  const url = links.find((l) => l?.relation === 'next')?.url;
  return typeof url === 'string' && url.length > 0 ? url : undefined;
}

/**
 * Why a prefetch Bundle is not the whole search, or undefined when nothing says so. CDS Hooks 2.0 §Prefetch
 * lets the client page its prefetch (the CDS Hooks sandbox sends HAPI's 20-per-page Bundles): a `next` link
 * means more pages exist; a searchset `total` above the matches it holds says the same without a link.
 */
function incompleteness(bundle: Bundle, resources: readonly Resource[]): string | undefined {
  if (nextLink(bundle)) return 'next';
  if (bundle.type !== 'searchset' || typeof bundle.total !== 'number') return undefined;
  const entries = Array.isArray(bundle.entry) ? bundle.entry : [];
  // _include'd resources are not matches; entries without a search mode are counted as matches.
  const matches = entries.filter((e) => isResource(e?.resource) && e.resource.resourceType !== 'OperationOutcome' && e.search?.mode !== 'include').length;
  return bundle.total > Math.min(matches, resources.length) ? 'total' : undefined;
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
    if (value.resourceType === 'Bundle') {
      const resources = bundleResources(value);
      const incomplete = incompleteness(value, resources);
      if (!incomplete) return { ok: true, resources, origin: 'prefetch' };
      // Never read as the whole record (issue #10 item 7): the gatherer completes it from the FHIR server
      // when it can; otherwise the criteria that would read an absence in it become unknown.
      const of = incomplete === 'total' ? ` of ${String(value.total)}` : '';
      const partial = `${key.resourceType}: the EHR sent only the first page of the search (${resources.length}${of} resources)`;
      return { ok: true, resources, origin: 'prefetch', partial, ...(incomplete === 'next' ? { continueFrom: value } : {}) };
    }
    return { ok: true, resources: [value], origin: 'prefetch' };
  }
}
