/**
 * A paged prefetch completed from the EHR's FHIR server (issue #10 item 7): the page's `next` link is
 * followed with the EHR's token under the same policy as any fetch (same server, same base path, no encoded
 * traversal); a link that breaks the policy is never requested, and the service runs the key's own search on
 * fhirServer instead; when nothing works the data stays partial. The record is the 31-statement patient of
 * test/clinical/data-paged-prefetch.test.ts.
 */
import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { resolve } from 'node:path';
import type { Bundle, BundleEntry } from '@medplum/fhirtypes';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXTENSION_KEY } from '../../src/cds/render-cards.js';
import { linkWithinBase } from '../../src/data/fhir-server-source.js';
import { LogCapture, testApp } from '../support/app.js';
import { hookTrace } from '../support/hook-trace.js';
import { hookRequest, patientIdOf, prefetchFor } from '../support/hook-request.js';
import { startServer, type RecordingServer } from '../security/helpers.js';

const SERVICE = '/cds-services/trialmatch-sle';
const BLINA = 'nct06789107-blinatumomab';
const TOKEN = 'paging-token-3b9d';
const RECORD = JSON.parse(readFileSync(resolve(import.meta.dirname, '..', 'clinical', 'records', 'data-paged-31-medication-statements.json'), 'utf8')) as Bundle;
const PATIENT = patientIdOf(RECORD);
const STATEMENTS = ((prefetchFor(RECORD).medicationStatements as Bundle).entry ?? []);

const searchset = (entry: BundleEntry[], next?: string): Bundle => ({
  resourceType: 'Bundle',
  type: 'searchset',
  entry,
  ...(next ? { link: [{ relation: 'next', url: next }] } : {}),
});

/**
 * A FHIR server at /fhir with HAPI-style paging: `/fhir?_getpages=p1` is the second page (statements 21-31);
 * `/fhir/MedicationStatement?patient=` is the whole search in one page. Under /broken/fhir everything is a
 * 500. Anything else (an admin path, another tenant) is a 404, and every request is recorded.
 */
function handler(req: IncomingMessage, res: ServerResponse): void {
  const url = new URL(req.url ?? '/', 'http://x');
  res.setHeader('content-type', 'application/fhir+json');
  const send = (status: number, body: unknown) => {
    res.statusCode = status;
    res.end(JSON.stringify(body));
  };
  if (url.pathname.startsWith('/slow/')) return; // holds the connection: the hook's deadline ends it
  if (url.pathname.startsWith('/broken/')) return send(500, { resourceType: 'OperationOutcome', issue: [{ severity: 'fatal', code: 'exception' }] });
  if (url.pathname === '/fhir' && url.searchParams.get('_getpages') === 'p1') return send(200, searchset(STATEMENTS.slice(20)));
  if (url.pathname === '/fhir/MedicationStatement' && url.searchParams.get('patient') === PATIENT) return send(200, searchset(STATEMENTS));
  send(404, { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'not-found' }] });
}

describe('a paged prefetch with a fhirServer', () => {
  let server: RecordingServer;
  let app: FastifyInstance;
  let logs: LogCapture;
  const authorizations: (string | undefined)[] = [];

  beforeAll(async () => {
    server = await startServer((req, res) => {
      authorizations.push(req.headers.authorization);
      handler(req, res);
    });
    logs = new LogCapture();
    app = testApp({ logStream: logs }, { LOG_LEVEL: 'info' });
    await app.ready();
  });
  afterAll(async () => {
    await app.close();
    await server.close();
  });

  /** The hook with the statements' first page (next link `next`) and everything else in full prefetch. */
  async function hook(next: string, fhirServer = `${server.url}/fhir`) {
    const before = server.calls.length;
    const prefetch = { ...prefetchFor(RECORD), medicationStatements: searchset(STATEMENTS.slice(0, 20), next) };
    const body = hookRequest(PATIENT, {
      prefetch,
      fhirServer,
      fhirAuthorization: { access_token: TOKEN, token_type: 'Bearer', expires_in: 300, scope: 'patient/*.read', subject: 'trialmatch-sle' },
    });
    const res = await app.inject({ method: 'POST', url: SERVICE, payload: body });
    expect(res.statusCode, res.body).toBe(200);
    return { body, cards: res.json().cards as any[], calls: server.calls.slice(before), auth: authorizations.slice(before) };
  }
  const view = (cards: any[]) => cards.map((c) => ({ trial: c.source.topic.code, status: c.extension[EXTENSION_KEY].status, detail: c.detail }));
  async function wholeRecordCards() {
    const res = await app.inject({ method: 'POST', url: SERVICE, payload: hookRequest(PATIENT, { prefetch: prefetchFor(RECORD) }) });
    return view(res.json().cards);
  }

  it('follows the next link on fhirServer with the EHR token and gets the cards of the whole record', async () => {
    const { cards, calls, auth } = await hook(`${server.url}/fhir?_getpages=p1&_getpagesoffset=20&_count=20`);
    expect(calls).toEqual(['/fhir?_getpages=p1&_getpagesoffset=20&_count=20']);
    expect(auth).toEqual([`Bearer ${TOKEN}`]);
    expect(view(cards)).toEqual(await wholeRecordCards());
    expect(view(cards).map((c) => c.trial)).toContain(BLINA);
    expect(logs.text).toContain('medicationStatements:prefetch:31');
    expect(logs.text).not.toContain(TOKEN);
  });

  const refused: [string, (base: string) => string][] = [
    ['climbs out of the base path with an encoded slash (..%2f)', (b) => `${b}/fhir/..%2fadmin/MedicationStatement?page=2`],
    ['climbs out with an encoded backslash (..%5c)', (b) => `${b}/fhir/..%5cadmin?page=2`],
    ["uses Tomcat's path parameter (..;/)", (b) => `${b}/fhir/..;/admin?page=2`],
    ['points at another base path on the same host', (b) => `${b}/other-tenant/fhir?_getpages=p1`],
    ['points at a path that only starts like the base (/fhirx)', (b) => `${b}/fhirx?_getpages=p1`],
    ['points at another port', () => 'http://127.0.0.1:1/fhir?_getpages=p1'],
  ];
  for (const [name, link] of refused) {
    it(`never requests a next link that ${name}; runs its own search on fhirServer instead`, async () => {
      const { cards, calls, auth } = await hook(link(server.url));
      expect(calls).toEqual([`/fhir/MedicationStatement?patient=${PATIENT}&_include=MedicationStatement:medication&_count=200&_total=accurate`]);
      expect(auth).toEqual([`Bearer ${TOKEN}`]);
      expect(view(cards)).toEqual(await wholeRecordCards());
    });
  }

  it('keeps the first page as partial when neither the link nor its own search can be read: unknown, never not met', async () => {
    const { body, cards, calls } = await hook(`${server.url}/broken/fhir?_getpages=p1`, `${server.url}/broken/fhir`);
    expect(calls).toEqual(['/broken/fhir?_getpages=p1', `/broken/fhir/MedicationStatement?patient=${PATIENT}&_include=MedicationStatement:medication&_count=200&_total=accurate`]);
    const blina = cards.find((c) => c.source.topic.code === BLINA);
    expect(blina).toBeDefined();
    const inc4 = blina.extension[EXTENSION_KEY].criteria.find((c: any) => c.id === 'inc-4');
    expect(inc4.result).toBe('unknown');
    // The card says so in plain words (issue #11); which search, which page and the HTTP status are in the
    // trace the app shows.
    expect(blina.detail).toContain('Part of the record could not be read from the EHR');
    expect(blina.detail).not.toContain('HTTP 500');
    const trace = (await hookTrace(app, body)).evaluations.find((e) => e.trialId === BLINA)!;
    const reasons = trace.criteria.find((c) => c.id === 'inc-4')!.open.map((p) => p.reason).join('; ');
    expect(reasons).toMatch(/MedicationStatement: the EHR sent only the first page of the search \(20 resources\); the rest of MedicationStatement could not be read from the EHR's FHIR server: HTTP 500/);
  });
});

describe('a paged prefetch whose rest is still being read at the hook deadline (HOOK_TIMEOUT_MS)', () => {
  let server: RecordingServer;
  let app: FastifyInstance;
  beforeAll(async () => {
    server = await startServer(handler);
    app = testApp({}, { HOOK_TIMEOUT_MS: '500' });
    await app.ready();
  });
  afterAll(async () => {
    await app.close();
    await server.close();
  });

  it('keeps the first page as partial evidence instead of dropping it: the SLE drugs on it still count', async () => {
    // The six SLE drugs and 14 others on the first page; the rest behind a link that never answers.
    const sle = STATEMENTS.filter((e) => !e.resource!.id!.includes('-otc-'));
    const otc = STATEMENTS.filter((e) => e.resource!.id!.includes('-otc-'));
    const prefetch = { ...prefetchFor(RECORD), medicationStatements: searchset([...sle, ...otc].slice(0, 20), `${server.url}/slow/fhir?_getpages=p1`) };
    const body = hookRequest(PATIENT, { prefetch, fhirServer: `${server.url}/slow/fhir` });
    const res = await app.inject({ method: 'POST', url: SERVICE, payload: body });
    expect(res.statusCode, res.body).toBe(200);
    const blina = (res.json().cards as any[]).find((c) => c.source.topic.code === BLINA);
    const criteria = blina.extension[EXTENSION_KEY].criteria;
    // Inclusion 4 is met from the page (only its review item is left); exclusion 13 needs an absence: unknown.
    const inc4 = criteria.find((c: any) => c.id === 'inc-4');
    expect(inc4).toMatchObject({ result: 'unknown', review: true });
    expect(inc4.missing).toBeUndefined();
    expect(criteria.find((c: any) => c.id === 'exc-13').result).toBe('unknown');
    expect(blina.detail).toContain('Part of the record could not be read from the EHR');
    const trace = (await hookTrace(app, body)).evaluations.find((e) => e.trialId === BLINA)!;
    expect(trace.criteria.find((c) => c.id === 'exc-13')!.open.map((p) => p.reason).join('; ')).toContain(
      'MedicationStatement: the EHR sent only the first page of the search (20 resources); reading the rest took longer than 500 ms',
    );
  });
});

describe('the paging-link policy (linkWithinBase)', () => {
  const base = new URL('https://ehr.example.org/r4/fhir/');
  const ok = (href: string) => linkWithinBase(new URL(href, base), base);
  it('allows the base itself with a query (HAPI) and paths below it', () => {
    expect(ok('https://ehr.example.org/r4/fhir?_getpages=x')).toBe(true);
    expect(ok('https://ehr.example.org/r4/fhir/Observation?page=2')).toBe(true);
    expect(ok('Observation?page=2')).toBe(true);
  });
  it('refuses other origins, other paths, credentials and encoded traversal', () => {
    expect(ok('http://ehr.example.org/r4/fhir?_getpages=x')).toBe(false);
    expect(ok('https://ehr.example.org:8443/r4/fhir?_getpages=x')).toBe(false);
    expect(ok('https://evil.example.org/r4/fhir?_getpages=x')).toBe(false);
    expect(ok('https://ehr.example.org/r4/fhirx?_getpages=x')).toBe(false);
    expect(ok('https://ehr.example.org/r4/fhir/../admin')).toBe(false);
    expect(ok('https://ehr.example.org/r4/fhir/%2e%2e/admin')).toBe(false);
    expect(ok('https://ehr.example.org/r4/fhir/..%2fadmin')).toBe(false);
    expect(ok('https://ehr.example.org/r4/fhir/..%2Fadmin')).toBe(false);
    expect(ok('https://ehr.example.org/r4/fhir/..%5cadmin')).toBe(false);
    expect(ok('https://ehr.example.org/r4/fhir/%252e%252e%252fadmin')).toBe(false);
    expect(ok('https://ehr.example.org/r4/fhir/..;/admin')).toBe(false);
    expect(ok('https://user:pw@ehr.example.org/r4/fhir?_getpages=x')).toBe(false);
  });
});
