import type { Bundle, Resource } from '@medplum/fhirtypes';
import { fillTemplate, type OwnSearch, type PrefetchKey } from './prefetch-key.js';
import type { FetchResult, PatientDataSource } from './patient-data-source.js';
import { bundleResources, nextLink } from './prefetch-source.js';
import { FetchFailure, requestFhirJson, type FetchFailureKind } from '../fhir/fhir-request.js';
import { hasAmbiguousPath } from '../fhir/fhir-base-url.js';
import { CLINICAL_TYPES } from '../patient/patient-record.js';

export interface FhirServerOptions {
  baseUrl: string;
  /** The EHR's bearer token (fhirAuthorization.access_token); never logged, never stored. */
  accessToken?: string;
  context: Record<string, string | undefined>;
  timeoutMs: number;
  maxPages: number;
  maxResources: number;
  /** Largest answer read per request, in bytes (a server streaming without end cannot exhaust memory). */
  maxResponseBytes?: number;
  /**
   * Requests in flight at once for this hook (FHIR_SEARCH_CONCURRENCY): the keys' searches run side by side,
   * and a hook with many keys waits its turn rather than opening one connection per key.
   */
  concurrency?: number;
  /** Aborted when the hook's total time is up: requests still in flight are cancelled. */
  signal?: AbortSignal;
  fetch?: typeof fetch;
  /**
   * Told of every request to the FHIR server: the resource type asked for, how long it took and how it ended
   * ('ok' or a FetchFailure kind). For /metrics (issue #12 item 6); no URL, id or patient data in it.
   */
  observe?: (event: FhirRequestEvent) => void;
}

export type { FetchFailureKind } from '../fhir/fhir-request.js';

export interface FhirRequestEvent {
  resourceType: string;
  seconds: number;
  outcome: 'ok' | FetchFailureKind;
}

/**
 * Whether a paging link stays on the FHIR server the caller named: the same origin and, on a `/` boundary,
 * the same base path (the allowlist allowed that base, so a link below it is allowed too; one elsewhere on
 * the host is not: it could reach another tenant's FHIR base or an admin endpoint with the EHR's token).
 * WHATWG URL resolves `..` and `%2e%2e` before this check, but leaves `%2f`, `%5c`, `%25` and `;` as they
 * are, which a server or proxy may decode or strip into a traversal after it (`/fhir/..%2fadmin`,
 * Tomcat's `/fhir/..;/admin`): a link whose path holds them is refused. HAPI's links are
 * `<base>?_getpages=...`, the base path itself with a query.
 */
export function linkWithinBase(link: URL, base: URL): boolean {
  if (link.origin !== base.origin || link.username || link.password) return false;
  const path = link.pathname;
  if (hasAmbiguousPath(path)) return false;
  const basePath = base.pathname.replace(/\/+$/, '');
  return path === basePath || path.startsWith(`${basePath}/`);
}

/** The resource types the service searches, as /metrics labels them; any other path is `other`. */
const LABELLED_TYPES: ReadonlySet<string> = new Set(['Patient', 'Medication', ...CLINICAL_TYPES]);

function metricResourceType(segment: string | undefined): string {
  return segment && LABELLED_TYPES.has(segment) ? segment : 'other';
}

/**
 * A search whose URL is longer than this is sent as `POST [base]/[type]/_search`, form-encoded (FHIR R4
 * §3.1.1.2; issue #21 item 4): proxies and servers cap a request line at 4-8 KB (Tomcat, which HAPI runs on,
 * at 8 KB of headers with the request line), and RFC 9110 §4.1 asks clients to support 8,000 octets only.
 */
export const POST_SEARCH_OVER_BYTES = 2048;

/** At most `limit` tasks at once, the rest in arrival order (one per hook: no state shared across hooks). */
class RequestSlots {
  private running = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(private readonly limit: number) {}

  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.running >= this.limit) await new Promise<void>((go) => this.waiting.push(go));
    else this.running++;
    try {
      return await task();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.running--;
    }
  }
}

/**
 * Reads a prefetch key's data from the EHR's FHIR server: the template's search with the EHR's token,
 * following Bundle `next` links (only on the same server, at most maxPages). Any failure is a result, not an
 * exception: the criteria that need the data become unknown and the card says why.
 */
export class FhirServerSource implements PatientDataSource {
  private readonly base: URL;
  private readonly slots: RequestSlots;

  constructor(private readonly options: FhirServerOptions) {
    this.base = new URL(options.baseUrl.endsWith('/') ? options.baseUrl : `${options.baseUrl}/`);
    this.slots = new RequestSlots(options.concurrency ?? Number.POSITIVE_INFINITY);
  }

  /**
   * The key's own search when it has one (a code filter the prefetch template cannot carry), else its
   * template. A filtered search that fails, or whose proof does not hold, gives way to the template's whole
   * search: a filter never costs a record (clinical safety rule 3).
   */
  async get(key: PrefetchKey): Promise<FetchResult> {
    if (key.ownSearch) {
      const filtered = await this.filteredSearch(key, key.ownSearch);
      if (filtered) return filtered;
    }
    return this.search(key, key.template);
  }

  /** The filtered search, with its proof run beside it; undefined when it cannot stand for the whole type. */
  private async filteredSearch(key: PrefetchKey, own: OwnSearch): Promise<FetchResult | undefined> {
    if (!own.proof) {
      const result = await this.search(key, own.template);
      return result.ok ? result : undefined;
    }
    const [result, all, unknown] = await Promise.all([this.search(key, own.template), this.count(own.proof.all), this.count(own.proof.unknown)]);
    return result.ok && all !== undefined && unknown === 0 ? result : undefined;
  }

  /** A `_summary=count` search's total, or undefined when it fails or gives none. */
  private async count(template: string): Promise<number | undefined> {
    try {
      const bundle = await this.request(this.searchUrl(template), true);
      const total = bundle.resourceType === 'Bundle' ? bundle.total : undefined;
      return typeof total === 'number' && Number.isInteger(total) && total >= 0 ? total : undefined;
    } catch {
      return undefined;
    }
  }

  private searchUrl(template: string): URL {
    const url = new URL(fillTemplate(template, this.options.context), this.base);
    // Tomcat, which HAPI FHIR runs on, answers a literal '|' in the query (system|code tokens) with an HTML
    // 400 unless relaxed-query-chars is set (RFC 3986 does not allow it there); %7C is the same token to
    // every FHIR server. WHATWG URL leaves '|' as it is, so encode it here.
    url.search = url.search.replaceAll('|', '%7C');
    return url;
  }

  private async search(key: PrefetchKey, template: string): Promise<FetchResult> {
    const url = this.searchUrl(template);
    try {
      const first = await this.request(url, true);
      if (first.resourceType !== 'Bundle') return { ok: true, resources: [first], origin: 'fhir-server', pages: 1 };
      return await this.collectPages(first);
    } catch (err) {
      const reason = err instanceof FetchFailure ? err.message : 'the FHIR server could not be reached';
      return { ok: false, reason: `${key.resourceType} could not be read from the EHR's FHIR server: ${reason}` };
    }
  }

  /**
   * The rest of a search whose first page came in the prefetch (CDS Hooks clients MAY page prefetch): its
   * `next` links are followed with the same token, limits and link policy as this source's own searches,
   * and the result holds every page, the prefetch's first one included.
   */
  async continuePaging(key: PrefetchKey, page: Bundle): Promise<FetchResult> {
    try {
      return await this.collectPages(page);
    } catch (err) {
      const reason = err instanceof FetchFailure ? err.message : 'the FHIR server could not be reached';
      return { ok: false, reason: `the rest of ${key.resourceType} could not be read from the EHR's FHIR server: ${reason}` };
    }
  }

  private async collectPages(first: Bundle): Promise<FetchResult> {
    const resources: Resource[] = bundleResources(first);
    const seen = new Set<string>();
    let bundle = first;
    let pages = 1;
    for (;;) {
      if (resources.length > this.options.maxResources) throw new FetchFailure(`more than ${this.options.maxResources} resources`, 'limits');
      const next = nextLink(bundle);
      if (!next) break;
      if (seen.has(next)) throw new FetchFailure('its paging links loop', 'paging');
      seen.add(next);
      if (pages >= this.options.maxPages) throw new FetchFailure(`more than ${this.options.maxPages} pages`, 'limits');
      let url: URL;
      try {
        url = new URL(next, this.base);
      } catch {
        throw new FetchFailure('a paging link is not a URL', 'paging');
      }
      if (url.origin !== this.base.origin) throw new FetchFailure('a paging link points to another server', 'paging');
      if (!linkWithinBase(url, this.base)) throw new FetchFailure('a paging link points outside the FHIR server\'s base path', 'paging');
      const page = await this.request(url);
      if (page.resourceType !== 'Bundle') throw new FetchFailure('a paging link did not return a Bundle', 'paging');
      bundle = page;
      pages++;
      resources.push(...bundleResources(bundle));
    }
    return { ok: true, resources, origin: 'fhir-server', pages };
  }

  /** One request in the hook's slots; `search`: the service's own search, which may go as POST _search. */
  private async request(url: URL, search = false): Promise<Resource> {
    return this.slots.run(() => this.observed(url, search));
  }

  private async observed(url: URL, search: boolean): Promise<Resource> {
    if (!this.options.observe) return this.send(url, search);
    const started = performance.now();
    // The search's resource type, from the path under the base (never the query, which names the patient), as
    // a label from a closed set (issue #20 item 6: a paging link's path became the label, 26,488 series).
    const resourceType = metricResourceType(url.pathname.slice(this.base.pathname.length).split('/')[0]);
    try {
      const resource = await this.send(url, search);
      this.options.observe({ resourceType, seconds: (performance.now() - started) / 1000, outcome: 'ok' });
      return resource;
    } catch (err) {
      this.options.observe({ resourceType, seconds: (performance.now() - started) / 1000, outcome: err instanceof FetchFailure ? err.kind : 'connection' });
      throw err;
    }
  }

  private async send(url: URL, search: boolean): Promise<Resource> {
    const { timeoutMs, maxResponseBytes, signal, accessToken, fetch } = this.options;
    // A long search goes as POST [type]/_search with the same parameters in the body. Only the service's own
    // searches: a paging link is the server's own URL, to be read as the server gave it.
    let form: string | undefined;
    if (search && url.href.length > POST_SEARCH_OVER_BYTES && url.search) {
      form = url.search.slice(1);
      url = new URL(`${url.pathname.replace(/\/+$/, '')}/_search`, url);
    }
    return requestFhirJson(url, {
      ...(form !== undefined ? { form } : {}),
      timeoutMs,
      abortedMessage: 'the hook ran out of time',
      ...(maxResponseBytes !== undefined ? { maxResponseBytes } : {}),
      ...(signal ? { signal } : {}),
      ...(accessToken ? { accessToken } : {}),
      ...(fetch ? { fetch } : {}),
    });
  }
}
