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

/** Offset parameters of `next` links: HAPI FHIR's `_getpagesoffset`, and `_offset` (https://hl7.org/fhir/R5/search.html#offset). */
const OFFSET_PARAMETERS = ['_getpagesoffset', '_offset'] as const;

/**
 * A large search on HAPI FHIR asked again as offset searches, one per page, read side by side (issue #21 item
 * 4). HAPI serves `_getpages` links from its search cache, which a background task fills: on the large record
 * (3,000 MedicationRequests, 15 pages) the later pages waited for it, 1.2-1.5 s for all of them read at once,
 * against 0.3-0.5 s for the same pages as `[type]?<the search>&_sort=_id&_offset=N` on the same server, which
 * HAPI answers from the database directly (https://hapifhir.io/hapi-fhir/docs/server_jpa/paging.html, offset
 * paging; `_offset` is FHIR R5's, https://hl7.org/fhir/R5/search.html#offset). `_sort=_id` gives every page the
 * same order, so the pages neither miss nor repeat a resource. Only when the first page shows HAPI's cached
 * paging (`_getpages` with `_getpagesoffset` in its `next` link), gives its total, at least three pages, and the
 * search sets no order or offset of its own; undefined otherwise. The first page is asked again too: its order
 * in the search cache need not be `_id`'s.
 */
function offsetSearches(first: Bundle, next: URL, own: URL, limits: { maxResources: number; maxPages: number }): URL[] | undefined {
  const total = first.total;
  const size = matchCount(first);
  if (!next.searchParams.has('_getpages') || !next.searchParams.has('_getpagesoffset')) return undefined;
  if (typeof total !== 'number' || !Number.isSafeInteger(total) || size === undefined || size <= 0) return undefined;
  if (Number(next.searchParams.get('_count')) !== size || Number(next.searchParams.get('_getpagesoffset')) !== size) return undefined;
  if (['_sort', '_offset', '_summary'].some((p) => own.searchParams.has(p))) return undefined;
  if (own.searchParams.has('_count') && Number(own.searchParams.get('_count')) !== size) return undefined;
  const pages = Math.ceil(total / size);
  if (pages < 3 || total > limits.maxResources || pages > limits.maxPages) return undefined;
  // The search's own query as it was sent (its encoding untouched), without the total (a count per page is
  // work the first page did), with the order and each page's offset.
  const query = `${own.search.replace(/([?&])_total=[^&]*(&|$)/, (_m, lead: string, tail: string) => (tail ? lead : ''))}${own.searchParams.has('_count') ? '' : `&_count=${size}`}&_sort=_id&_offset=`;
  const urls: URL[] = [];
  for (let offset = 0; offset < total; offset += size) {
    const url = new URL(own);
    url.search = `${query}${offset}`;
    urls.push(url);
  }
  return urls;
}

/**
 * Pages of one search read side by side (`from`: the offset of the first of them, `size` a page), after `before`
 * when its first page is already in hand: their resources, or undefined unless each page is plainly its share
 * (no other total, as many matches as its place in the search holds) and the matches together are the search's
 * `total`, each resource once.
 */
function sharesOfSearch(pages: readonly Bundle[], from: number, size: number, total: number, before?: Bundle): Resource[] | undefined {
  const resources: Resource[] = [];
  const ids = new Set<string>();
  const add = (bundle: Bundle): void => {
    for (const entry of bundle.entry ?? []) if (entry.search?.mode === 'match' && entry.resource) ids.add(`${entry.resource.resourceType}/${entry.resource.id ?? ''}`);
    resources.push(...bundleResources(bundle));
  };
  if (before) add(before);
  for (const [i, page] of pages.entries()) {
    const expected = Math.min(size, total - (from + i * size));
    if ((page.total !== undefined && page.total !== total) || matchCount(page) !== expected) return undefined;
    add(page);
  }
  return ids.size === total ? resources : undefined;
}

/** The page's entries with search mode `match`, or undefined when an entry has no search mode. */
function matchCount(bundle: Bundle): number | undefined {
  let n = 0;
  for (const entry of Array.isArray(bundle.entry) ? bundle.entry : []) {
    const mode = entry?.search?.mode;
    if (mode === undefined) return undefined;
    if (mode === 'match') n++;
  }
  return n;
}

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
    // The first page with the search's total (`_total`, https://hl7.org/fhir/R4/search.html#total; HAPI FHIR leaves it out of a large
    // search's first page otherwise): with it the later pages can be read side by side (offsetPages). A
    // server that ignores it pages one after another, as before.
    if (url.search && !url.searchParams.has('_total') && !url.searchParams.has('_summary')) url.search += '&_total=accurate';
    try {
      const first = await this.request(url, true);
      if (first.resourceType !== 'Bundle') return { ok: true, resources: [first], origin: 'fhir-server', pages: 1 };
      return await this.collectPages(first, url);
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

  /** `own`: the service's own search whose first page this is (not a prefetch's), which may be asked again by offset. */
  private async collectPages(first: Bundle, own?: URL): Promise<FetchResult> {
    const next = nextLink(first);
    const url = next === undefined ? undefined : this.pagingUrl(next);
    const searches = url && own ? offsetSearches(first, url, own, this.options) : undefined;
    if (searches) {
      const all = await this.readOffsetSearches(first.total!, searches);
      if (all) return all;
    }
    const pages = url ? this.offsetPages(first, url) : undefined;
    if (pages) {
      const all = await this.readOffsetPages(first, pages);
      if (all) return all;
    }
    return this.followPages(first);
  }

  /** A `next` link as a URL on this server, or a FetchFailure saying why it may not be followed. */
  private pagingUrl(next: string): URL {
    let url: URL;
    try {
      url = new URL(next, this.base);
    } catch {
      throw new FetchFailure('a paging link is not a URL', 'paging');
    }
    if (url.origin !== this.base.origin) throw new FetchFailure('a paging link points to another server', 'paging');
    if (!linkWithinBase(url, this.base)) throw new FetchFailure('a paging link points outside the FHIR server\'s base path', 'paging');
    return url;
  }

  /** The pages one after another, each from the `next` link of the one before (FHIR R4 §3.1.1.6 paging). */
  private async followPages(first: Bundle): Promise<FetchResult> {
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
      const page = await this.request(this.pagingUrl(next));
      if (page.resourceType !== 'Bundle') throw new FetchFailure('a paging link did not return a Bundle', 'paging');
      bundle = page;
      pages++;
      resources.push(...bundleResources(bundle));
    }
    return { ok: true, resources, origin: 'fhir-server', pages };
  }

  /**
   * Every page after the first, when the server pages by offset and says how many the search matched (HAPI
   * FHIR's `next` link is `[base]?_getpages=<search>&_getpagesoffset=200&_count=200`, and `_total=accurate`
   * gives the total on the first page): the same link with each later offset, so the pages can be read side
   * by side within the hook's slots rather than one after another (issue #21 item 4: 3,000 MedicationRequests
   * are 15 pages). Undefined when the first page and its link do not show that paging plainly.
   */
  private offsetPages(first: Bundle, next: URL): URL[] | undefined {
    const total = first.total;
    const parameter = OFFSET_PARAMETERS.find((p) => next.searchParams.getAll(p).length === 1);
    const matched = matchCount(first);
    if (typeof total !== 'number' || !Number.isSafeInteger(total) || !parameter || matched === undefined) return undefined;
    const offset = Number(next.searchParams.get(parameter));
    const size = Number(next.searchParams.get('_count'));
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(size) || offset !== matched || offset <= 0 || size <= 0 || total <= offset) return undefined;
    if (total > this.options.maxResources) throw new FetchFailure(`more than ${this.options.maxResources} resources`, 'limits');
    if (1 + Math.ceil((total - offset) / size) > this.options.maxPages) throw new FetchFailure(`more than ${this.options.maxPages} pages`, 'limits');
    const at = new RegExp(`([?&]${parameter}=)\\d+(?=&|$)`);
    const urls: URL[] = [];
    for (let o = offset; o < total; o += size) {
      const url = new URL(next);
      url.search = next.search.replace(at, `$1${o}`);
      urls.push(url);
    }
    return urls;
  }

  /**
   * The offset pages read at once; undefined (the caller then follows the links one by one) when what came
   * back is not plainly the rest of the search: a page with another total, entries without a search mode, or
   * a count of matches other than its share, or the matches together not the total with each resource once.
   * A page that cannot be read fails the search, as it would one after another (clinical safety rule 3: the
   * data is then unknown, never absent).
   */
  private async readOffsetPages(first: Bundle, urls: readonly URL[]): Promise<FetchResult | undefined> {
    const pages = await Promise.all(urls.map((url) => this.request(url)));
    for (const page of pages) if (page.resourceType !== 'Bundle') throw new FetchFailure('a paging link did not return a Bundle', 'paging');
    const resources = sharesOfSearch(pages as Bundle[], matchCount(first)!, Number(urls[0]!.searchParams.get('_count')), first.total!, first);
    return resources ? { ok: true, resources, origin: 'fhir-server', pages: 1 + pages.length } : undefined;
  }

  /**
   * The whole search again as offset searches read side by side (see offsetSearches), or undefined when the
   * server does not plainly serve them: a request that fails (a server that refuses `_offset` or `_sort=_id`),
   * a page that is not its share, or the matches together not the first page's total with each resource once
   * (a server that ignores `_offset` answers the first page every time). The caller then reads the pages of
   * the first search as before, so the data is never shorter for trying.
   */
  private async readOffsetSearches(total: number, urls: readonly URL[]): Promise<FetchResult | undefined> {
    let pages: Resource[];
    try {
      pages = await Promise.all(urls.map((url) => this.request(url, true)));
    } catch (err) {
      if (this.options.signal?.aborted) throw err;
      return undefined;
    }
    if (pages.some((page) => page.resourceType !== 'Bundle')) return undefined;
    const resources = sharesOfSearch(pages as Bundle[], 0, Number(urls[0]!.searchParams.get('_count')), total);
    return resources ? { ok: true, resources, origin: 'fhir-server', pages: pages.length } : undefined;
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
