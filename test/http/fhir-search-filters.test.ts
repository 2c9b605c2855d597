/**
 * Large records, fast (issue #21 item 4): the service's own searches filter by code wherever that loses
 * nothing, Procedures included; a filter that needs system-wide tokens runs beside two counts that prove it
 * whole, else the type is read whole; a long search goes as POST [type]/_search; a hook's requests in flight
 * stay within FHIR_SEARCH_CONCURRENCY. (The templates in discovery: test/http/fhir-search-templates.test.ts.)
 *
 * The EHR here is a small FHIR server over one patient's Bundle that answers token searches as FHIR R4
 * §3.1.1.4.9 defines them (`[code]`, `[system]|[code]`, `[system]|`, the `:not` modifier), `_summary=count` and
 * POST _search.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Bundle, BundleEntry, Coding, Procedure, Resource } from '@medplum/fhirtypes';
import type { FastifyInstance } from 'fastify';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { FhirServerSource, POST_SEARCH_OVER_BYTES } from '../../src/data/fhir-server-source.js';
import { exampleBundle, testApp } from '../support/app.js';
import { hookRequest, patientIdOf, prefetchFor } from '../support/hook-request.js';
import { hookTrace } from '../support/hook-trace.js';
import { startServer, type RecordingServer } from '../security/helpers.js';

const SERVICE = '/cds-services/trialmatch-sle';
const SNOMED = 'http://snomed.info/sct';
const ICD10_CM = 'http://hl7.org/fhir/sid/icd-10-cm';

interface Seen {
  method: string;
  type: string;
  params: URLSearchParams;
}

/** The codings a search parameter reads on a resource (only what the service searches by). */
function codingsOf(r: Resource, parameter: string): Coding[] {
  const concept = parameter === 'vaccine-code' ? (r as { vaccineCode?: { coding?: Coding[] } }).vaccineCode : (r as { code?: { coding?: Coding[] } }).code;
  return concept?.coding ?? [];
}

/** Splits a token list on unescaped commas and reads `\,` `\|` `\$` `\\` (R4 §3.1.1.5.7). */
function tokens(value: string): { system?: string; code?: string }[] {
  const out: { system?: string; code?: string }[] = [];
  for (const raw of value.split(/(?<!\\),/)) {
    const bar = raw.search(/(?<!\\)\|/);
    const unescape = (s: string): string => s.replace(/\\([\\,|$])/g, '$1');
    if (bar < 0) out.push({ code: unescape(raw) });
    else out.push({ system: unescape(raw.slice(0, bar)), ...(raw.slice(bar + 1) ? { code: unescape(raw.slice(bar + 1)) } : {}) });
  }
  return out;
}

function matchesToken(r: Resource, parameter: string, value: string): boolean {
  return codingsOf(r, parameter).some((c) => tokens(value).some((t) => (t.system === undefined || t.system === c.system) && (t.code === undefined || t.code === c.code)));
}

/** The EHR: searches over the bundle by patient and code tokens, GET or POST _search, with a delay per answer. */
function ehr(bundle: Bundle, seen: Seen[], delayMs: () => number, inFlight: { now: number; max: number }, ignoreNot: () => boolean = () => false) {
  const resources = (bundle.entry ?? []).map((e) => e.resource).filter((r): r is Resource => r !== undefined);
  return (req: IncomingMessage, res: ServerResponse): void => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      inFlight.now++;
      inFlight.max = Math.max(inFlight.max, inFlight.now);
      const url = new URL(req.url ?? '/', 'http://x');
      const segments = url.pathname.split('/').filter(Boolean).slice(1);
      const post = req.method === 'POST' && segments.at(-1) === '_search';
      const params = post ? new URLSearchParams(Buffer.concat(chunks).toString('utf8')) : url.searchParams;
      const type = segments[0] ?? '';
      seen.push({ method: req.method ?? '', type, params });
      let body: unknown;
      if (type === 'Patient' && segments[1]) body = resources.find((r) => r.resourceType === 'Patient');
      else {
        let matches = resources.filter((r) => r.resourceType === type);
        for (const parameter of ['code', 'vaccine-code']) {
          const value = params.get(parameter);
          if (value !== null) matches = matches.filter((r) => matchesToken(r, parameter, value));
          // `:not`: the resources that do not contain a match (a resource with no code among them).
          const not = ignoreNot() ? null : params.get(`${parameter}:not`);
          if (not !== null) matches = matches.filter((r) => !matchesToken(r, parameter, not));
        }
        body = params.get('_summary') === 'count'
          ? { resourceType: 'Bundle', type: 'searchset', total: matches.length }
          : { resourceType: 'Bundle', type: 'searchset', total: matches.length, entry: matches.map((resource) => ({ resource })) };
      }
      setTimeout(() => {
        inFlight.now--;
        res.setHeader('content-type', 'application/fhir+json');
        res.end(JSON.stringify(body));
      }, delayMs());
    });
  };
}

const BASE = exampleBundle('sle-child-likely');
const PATIENT = patientIdOf(BASE);
const subject = { reference: `Patient/${PATIENT}` };
const procedure = (id: string, coding: Coding[], date: string): Procedure => ({
  resourceType: 'Procedure',
  id,
  status: 'completed',
  code: { coding },
  subject,
  performedDateTime: `${date}T09:00:00Z`,
});

/**
 * sle-child-likely with the bulk Synthea writes for a chronic patient (300 "Documentation of current
 * medications", SNOMED 428191000124101, which no criterion reads), plus what the transplant and dialysis
 * exclusions read: a kidney transplant complication coded in ICD-10-CM below a list prefix (T86.11, under
 * "T86.1 and below": only the system-wide token finds it) and a hemodialysis in SNOMED CT under its OID.
 */
function bulkRecord(extra: Procedure[] = []): Bundle {
  const entries: BundleEntry[] = [];
  for (let i = 0; i < 300; i++) entries.push({ resource: procedure(`bulk-${i}`, [{ system: SNOMED, code: '428191000124101' }], '2026-06-01') });
  entries.push({ resource: procedure('transplant-complication', [{ system: ICD10_CM, code: 'T86.11', display: 'Kidney transplant rejection' }], '2025-03-02') });
  entries.push({ resource: procedure('dialysis', [{ system: 'urn:oid:2.16.840.1.113883.6.96', code: '302497006', display: 'Hemodialysis' }], '2025-04-02') });
  for (const p of extra) entries.push({ resource: p });
  return { ...BASE, entry: [...(BASE.entry ?? []), ...entries] };
}

/** The cards as the clinician reads them, and each one's status. */
const view = (cards: any[]): unknown => cards.map((c) => [c.summary, c.detail, c.extension['org.trialmatch-cds.eligibility'].status]);

describe('the service\'s own searches on a large record', () => {
  let app: FastifyInstance;
  let server: RecordingServer;
  const seen: Seen[] = [];
  const inFlight = { now: 0, max: 0 };
  let record = bulkRecord();
  let delay = 0;
  /** The EHR ignores the `:not` modifier (reads `code:not` as an unknown parameter). */
  let notIgnored = false;

  beforeAll(async () => {
    server = await startServer((req, res) => ehr(record, seen, () => delay, inFlight, () => notIgnored)(req, res));
    app = testApp({}, { FHIR_SEARCH_CONCURRENCY: '3' });
    await app.ready();
  });
  afterAll(async () => {
    await app.close();
    await server.close();
  });
  afterEach(() => {
    seen.length = 0;
    record = bulkRecord();
    delay = 0;
    notIgnored = false;
    inFlight.max = 0;
  });

  const withoutPrefetch = (): Record<string, unknown> => hookRequest(PATIENT, { fhirServer: `${server.url}/fhir` });
  const cardsOf = async (payload: Record<string, unknown>): Promise<any[]> => {
    const res = await app.inject({ method: 'POST', url: SERVICE, payload });
    expect(res.statusCode, res.body).toBe(200);
    return res.json().cards;
  };

  it('reads only the Procedures a criterion can match, proves the filter whole, and gives the cards of full prefetch', async () => {
    const full = view(await cardsOf(hookRequest(PATIENT, { prefetch: prefetchFor(record) })));
    const fetched = view(await cardsOf(withoutPrefetch()));
    expect(fetched).toEqual(full);
    const procedureSearches = seen.filter((s) => s.type === 'Procedure');
    const filtered = procedureSearches.find((s) => s.params.has('code') && s.params.get('_summary') !== 'count')!;
    expect(filtered.params.get('code')).toContain(`${ICD10_CM}|`);
    expect(filtered.params.get('code')!.split(',')).toContain('302497006');
    expect(procedureSearches.filter((s) => s.params.get('_summary') === 'count')).toHaveLength(2);
    // No unfiltered Procedure search: the 300 bulk Procedures never left the EHR.
    expect(procedureSearches.filter((s) => !s.params.has('code') && s.params.get('_summary') !== 'count')).toEqual([]);
    const { provenance, evaluations } = await hookTrace(app, withoutPrefetch());
    expect(provenance.find((p) => p.key === 'procedures')).toMatchObject({ origin: 'fhir-server', count: 2 });
    // The complication below the ICD-10-CM prefix reached the transplant exclusion.
    expect(JSON.stringify(evaluations)).toContain('"reference":"Procedure/transplant-complication"');
  });

  it('reads Procedures whole when one has no coding in a system the lists use (the counts disagree)', async () => {
    record = bulkRecord([procedure('local-only', [{ system: 'urn:example:local-procedures', code: 'KTX-1' }], '2025-05-02')]);
    const full = view(await cardsOf(hookRequest(PATIENT, { prefetch: prefetchFor(record) })));
    expect(view(await cardsOf(withoutPrefetch()))).toEqual(full);
    const whole = seen.filter((s) => s.type === 'Procedure' && !s.params.has('code') && s.params.get('_summary') !== 'count');
    expect(whole.length).toBeGreaterThan(0);
    const { provenance } = await hookTrace(app, withoutPrefetch());
    expect(provenance.find((p) => p.key === 'procedures')).toMatchObject({ origin: 'fhir-server', count: 303 });
  });

  it('reads Procedures whole when the EHR ignores the :not modifier (its count of the uncoded is every Procedure)', async () => {
    notIgnored = true;
    const full = view(await cardsOf(hookRequest(PATIENT, { prefetch: prefetchFor(record) })));
    expect(view(await cardsOf(withoutPrefetch()))).toEqual(full);
    const whole = seen.filter((s) => s.type === 'Procedure' && !s.params.has('code') && !s.params.has('code:not') && s.params.get('_summary') !== 'count');
    expect(whole.length).toBeGreaterThan(0);
    const { provenance } = await hookTrace(app, withoutPrefetch());
    expect(provenance.find((p) => p.key === 'procedures')).toMatchObject({ origin: 'fhir-server', count: 302 });
  });

  it('reads Procedures whole when the EHR cannot count', async () => {
    // A server that ignores _summary=count answers the search's page with no total: no proof, no filter.
    const source = new FhirServerSource({ baseUrl: `${server.url}/fhir`, context: { patientId: PATIENT }, timeoutMs: 2000, maxPages: 5, maxResources: 10_000 });
    const key = { key: 'procedures', resourceType: 'Procedure' as const, template: 'Procedure?patient={{context.patientId}}', ownSearch: { template: 'Procedure?patient={{context.patientId}}&code=302497006', proof: { all: 'Procedure?patient={{context.patientId}}&_summary=count', unknown: 'Patient/nobody' } } };
    const result = await source.get(key);
    expect(result.ok && result.resources.length).toBe(302);
  });

  it('keeps a hook\'s requests in flight within FHIR_SEARCH_CONCURRENCY', async () => {
    delay = 30;
    await cardsOf(withoutPrefetch());
    expect(seen.length).toBeGreaterThan(3);
    expect(inFlight.max).toBe(3);
  });

  it('sends a search longer than the limit as POST [type]/_search, form-encoded, and a short one as GET', async () => {
    const source = new FhirServerSource({ baseUrl: `${server.url}/fhir`, context: { patientId: PATIENT }, timeoutMs: 2000, maxPages: 5, maxResources: 10_000 });
    const codes = Array.from({ length: 400 }, (_, i) => `${10_000 + i}-${i % 10}`);
    const long = `Procedure?patient={{context.patientId}}&code=${[...codes, '302497006'].join(',')}&_count=200`;
    expect(long.length).toBeGreaterThan(POST_SEARCH_OVER_BYTES);
    const result = await source.get({ key: 'procedures', resourceType: 'Procedure', template: long });
    expect(result.ok && result.resources.map((r) => r.id)).toEqual(['dialysis']);
    expect(seen.at(-1)).toMatchObject({ method: 'POST', type: 'Procedure' });
    expect(seen.at(-1)!.params.get('patient')).toBe(PATIENT);
    await source.get({ key: 'procedures', resourceType: 'Procedure', template: 'Procedure?patient={{context.patientId}}&code=302497006' });
    expect(seen.at(-1)).toMatchObject({ method: 'GET', type: 'Procedure' });
  });
});
