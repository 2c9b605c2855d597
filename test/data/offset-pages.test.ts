/**
 * Large records, fast (issue #21 item 4): a search whose server pages by offset, as HAPI FHIR does
 * (`[base]?_getpages=<id>&_getpagesoffset=200&_count=200`) and that gives its total on the first page
 * (`_total=accurate`), has its later pages read side by side; anything that does not plainly add up makes the
 * service follow the `next` links one by one, and a page that cannot be read makes the data unknown.
 *
 * The EHR here is a small FHIR server over one patient's MedicationRequests that pages the way HAPI does.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Bundle, BundleEntry, MedicationRequest } from '@medplum/fhirtypes';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { FhirServerSource } from '../../src/data/fhir-server-source.js';
import type { PrefetchKey } from '../../src/data/prefetch-key.js';
import { startServer, type RecordingServer } from '../security/helpers.js';

const PATIENT = 'offset-paged';
const COUNT = 1000;
const PAGE = 200;

const requests: MedicationRequest[] = Array.from({ length: COUNT }, (_, i) => ({
  resourceType: 'MedicationRequest',
  id: `rx-${i}`,
  status: 'completed',
  intent: 'order',
  subject: { reference: `Patient/${PATIENT}` },
  medicationCodeableConcept: { coding: [{ system: 'http://www.nlm.nih.gov/research/umls/rxnorm', code: '313782' }], text: 'Acetaminophen 325 MG Oral Tablet' },
  authoredOn: new Date(Date.UTC(2026, 0, 1) - i * 86_400_000).toISOString(),
}));

/** The same MedicationRequests in `_sort=_id` order (FHIR ids compare as strings: rx-0, rx-1, rx-10, ...). */
const byId = [...requests].sort((a, b) => (a.id! < b.id! ? -1 : 1));

/** How the EHR misbehaves, per test. */
interface Behaviour {
  /** No total even when `_total=accurate` is asked. */
  noTotal?: boolean;
  /** Entries without `search.mode`. */
  noModes?: boolean;
  /** This offset answers 500. */
  failAt?: number;
  /** This offset answers the page before it (a server whose offsets are not what its links say). */
  wrongAt?: number;
  /**
   * Offset searches (`_offset` with `_sort=_id`): served as HAPI FHIR serves them, or refused with a 400; by
   * default ignored, as a server that does not know the parameter does (it answers the first page).
   */
  offsetSearch?: 'serve' | 'refuse';
}

describe('reading the pages of an offset-paged search side by side', () => {
  let server: RecordingServer;
  let behaviour: Behaviour = {};
  const inFlight = { now: 0, max: 0 };

  const page = (offset: number, total: boolean): Bundle => {
    const slice = requests.slice(offset, offset + PAGE);
    const entry: BundleEntry[] = slice.map((resource) => (behaviour.noModes ? { resource } : { resource, search: { mode: 'match' as const } }));
    const next = offset + PAGE < COUNT ? [{ relation: 'next', url: `${server.url}/fhir?_getpages=s1&_getpagesoffset=${offset + PAGE}&_count=${PAGE}&_bundletype=searchset` }] : [];
    return { resourceType: 'Bundle', type: 'searchset', ...(total && !behaviour.noTotal ? { total: COUNT } : {}), link: next, entry };
  };

  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    inFlight.now++;
    inFlight.max = Math.max(inFlight.max, inFlight.now);
    const url = new URL(req.url ?? '/', 'http://x');
    const offset = Number(url.searchParams.get('_getpagesoffset') ?? 0);
    setTimeout(() => {
      inFlight.now--;
      res.setHeader('content-type', 'application/fhir+json');
      if (url.searchParams.has('_offset') && behaviour.offsetSearch === 'refuse') {
        res.statusCode = 400;
        res.end(JSON.stringify({ resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'not-supported' }] }));
        return;
      }
      if (url.searchParams.has('_offset') && behaviour.offsetSearch === 'serve' && url.searchParams.get('_sort') === '_id') {
        const at = Number(url.searchParams.get('_offset'));
        const slice = byId.slice(at, at + Number(url.searchParams.get('_count')));
        res.end(JSON.stringify({ resourceType: 'Bundle', type: 'searchset', entry: slice.map((resource) => ({ resource, search: { mode: 'match' } })) }));
        return;
      }
      if (offset === behaviour.failAt) {
        res.statusCode = 500;
        res.end(JSON.stringify({ resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'exception' }] }));
        return;
      }
      const served = offset === behaviour.wrongAt ? offset - PAGE : offset;
      res.end(JSON.stringify(page(served, url.searchParams.get('_total') === 'accurate' || url.searchParams.has('_getpages'))));
    }, 50);
  };

  beforeAll(async () => {
    server = await startServer(handler);
  });
  afterAll(async () => {
    await server.close();
  });
  afterEach(() => {
    behaviour = {};
    inFlight.max = 0;
    server.calls.length = 0;
  });

  const key: PrefetchKey = { key: 'medicationRequests', resourceType: 'MedicationRequest', template: 'MedicationRequest?patient={{context.patientId}}&_count=200' };
  const read = async (): Promise<Awaited<ReturnType<FhirServerSource['get']>>> =>
    new FhirServerSource({ baseUrl: `${server.url}/fhir`, context: { patientId: PATIENT }, timeoutMs: 5000, maxPages: 50, maxResources: 20_000, concurrency: 6 }).get(key);
  const ids = (result: Awaited<ReturnType<FhirServerSource['get']>>): string[] => (result.ok ? result.resources.map((r) => r.id!) : []);

  it('asks for the total and reads the later pages at once, each resource once and in the server\'s order', async () => {
    const result = await read();
    expect(ids(result)).toEqual(requests.map((r) => r.id));
    expect(result.ok && result.pages).toBe(5);
    expect(server.calls[0]).toContain('_total=accurate');
    // The four later pages in flight together (one after another never exceeds one; how many overlap depends
    // on the machine's load).
    expect(inFlight.max).toBeGreaterThan(1);
  });

  it('asks a HAPI-paged search again as offset searches in _id order, read side by side, each resource once', async () => {
    behaviour = { offsetSearch: 'serve' };
    const result = await read();
    expect(ids(result)).toEqual(byId.map((r) => r.id));
    // The result's pages are the offset searches' five: the first search's page is not part of it.
    expect(result.ok && result.pages).toBe(5);
    const offsets = server.calls.filter((c) => c.includes('_offset='));
    // The first page again (its order in the server's search cache need not be _id's), and the four after it,
    // each without the total the first page gave; no paging link followed.
    expect(offsets.map((c) => Number(/_offset=(\d+)/.exec(c)![1])).sort((a, b) => a - b)).toEqual([0, 200, 400, 600, 800]);
    for (const c of offsets) expect(c).toMatch(/^\/fhir\/MedicationRequest\?patient=offset-paged&_count=200&_sort=_id&_offset=\d+$/);
    expect(server.calls.filter((c) => c.includes('_getpages='))).toEqual([]);
    expect(inFlight.max).toBeGreaterThan(1);
  });

  it('reads the paging links as before when the server answers every offset search with its first page (it ignores _offset)', async () => {
    const result = await read();
    expect(ids(result)).toEqual(requests.map((r) => r.id));
    expect(server.calls.filter((c) => c.includes('_offset='))).toHaveLength(5);
    expect(server.calls.filter((c) => c.includes('_getpagesoffset='))).toHaveLength(4);
  });

  it('reads the paging links as before when the server refuses offset searches', async () => {
    behaviour = { offsetSearch: 'refuse' };
    const result = await read();
    expect(ids(result)).toEqual(requests.map((r) => r.id));
    expect(server.calls.filter((c) => c.includes('_getpagesoffset='))).toHaveLength(4);
  });

  it('follows the links one by one when the server gives no total', async () => {
    behaviour = { noTotal: true };
    const result = await read();
    expect(ids(result)).toEqual(requests.map((r) => r.id));
    expect(inFlight.max).toBe(1);
  });

  it('follows the links one by one when the entries carry no search mode (matches cannot be told from includes)', async () => {
    behaviour = { noModes: true };
    expect(ids(await read())).toEqual(requests.map((r) => r.id));
    expect(inFlight.max).toBe(1);
  });

  it('sets the side-by-side read aside when an offset page is not its share of the search, and follows the links', async () => {
    behaviour = { wrongAt: 600 };
    const result = await read();
    // Read at once, offset 600 held rx-400..599 again: not 1,000 distinct, so it was set aside. Followed one by
    // one, the server's page 600 links to itself: the paging loops, and the data is unknown, not short.
    expect(server.calls.filter((c) => c.includes('_getpagesoffset=600'))).toHaveLength(2);
    expect(result.ok).toBe(false);
    expect(!result.ok && result.reason).toMatch(/paging links loop/);
  });

  it('makes the data unknown when a page cannot be read, never a shorter list', async () => {
    behaviour = { failAt: 400 };
    const result = await read();
    expect(result.ok).toBe(false);
    expect(!result.ok && result.reason).toMatch(/MedicationRequest could not be read/);
  });
});
