import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { resolve } from 'node:path';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { exampleBundle, testApp } from '../support/app.js';
import { hookRequest, patientIdOf, prefetchFor } from '../support/hook-request.js';
import { fhirFromBundle, startServer, type RecordingServer } from '../security/helpers.js';
import { hookTrace } from '../support/hook-trace.js';

/**
 * What the service does when the EHR's FHIR server misbehaves (issue #6). The documented result of every
 * fault: the data that search should have given is unknown, the hook still answers 200 with cards built from
 * what could be read, each card says "Part of the record could not be read from the EHR" (the fault itself is in the trace, for the app), and the criteria that needed
 * the data say why; only when nothing at all could be read is the answer a 412 OperationOutcome.
 */
const SERVICE = '/cds-services/trialmatch-sle';
const BUNDLE = exampleBundle('sle-child-likely');
const PATIENT = patientIdOf(BUNDLE);
const OBSERVATIONS = BUNDLE.entry!.map((e) => e.resource!).filter((r) => r.resourceType === 'Observation');

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const json = (res: ServerResponse, body: unknown, status = 200) => {
  res.statusCode = status;
  res.setHeader('content-type', 'application/fhir+json');
  res.end(JSON.stringify(body));
};
const page = (entries: unknown[], next?: string) => ({
  resourceType: 'Bundle',
  type: 'searchset',
  entry: entries.map((resource) => ({ resource })),
  ...(next ? { link: [{ relation: 'next', url: next }] } : {}),
});

/** The fault server: the first path segment names the fault, e.g. http://127.0.0.1:port/http-500/fhir/Observation?... */
function faultHandler(self: () => string, other: () => string) {
  return (req: IncomingMessage, res: ServerResponse): void => {
    const url = new URL(req.url ?? '/', 'http://x');
    const fault = url.pathname.split('/')[1] ?? '';
    const n = Number(url.searchParams.get('page') ?? '1');
    switch (fault) {
      case 'slow':
        void sleep(1500).then(() => json(res, page(OBSERVATIONS)));
        return;
      case 'http-500':
        return json(res, { resourceType: 'OperationOutcome', issue: [{ severity: 'fatal', code: 'exception' }] }, 500);
      case 'http-401':
        res.statusCode = 401;
        res.setHeader('www-authenticate', 'Bearer');
        res.end();
        return;
      case 'html':
        res.setHeader('content-type', 'text/html');
        res.end('<!doctype html><html><body><h1>Login</h1></body></html>');
        return;
      case 'truncated':
        res.setHeader('content-type', 'application/fhir+json');
        res.end(JSON.stringify(page(OBSERVATIONS)).slice(0, 500));
        return;
      case 'cut-mid-body':
        res.writeHead(200, { 'content-type': 'application/fhir+json', 'content-length': '100000' });
        res.write(JSON.stringify(page(OBSERVATIONS)).slice(0, 300));
        setTimeout(() => req.socket.destroy(), 20);
        return;
      case 'close':
        req.socket.destroy();
        return;
      case 'next-loop':
        return json(res, page(OBSERVATIONS.slice(0, 2), `${self()}/next-loop/fhir/Observation?page=1`));
      case 'next-endless':
        return json(res, page([], `${self()}/next-endless/fhir/Observation?page=${n + 1}`));
      case 'next-elsewhere':
        return json(res, page([], `${other()}/fhir/Observation?page=2`));
      case 'operation-outcome':
        return json(res, { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'processing' }] });
      case 'huge':
        return json(res, page(Array.from({ length: 2000 }, (_, i) => ({ ...OBSERVATIONS[0], id: `o${i}` }))));
      case 'slow-pages':
        void sleep(150).then(() => json(res, page([], `${self()}/slow-pages/fhir/Observation?page=${n + 1}`)));
        return;
      case 'all-500':
        return json(res, { resourceType: 'OperationOutcome', issue: [] }, 500);
      default:
        return json(res, { resourceType: 'OperationOutcome', issue: [] }, 404);
    }
  };
}

describe('FHIR server faults', () => {
  let server: RecordingServer;
  let elsewhere: RecordingServer;
  let app: FastifyInstance;

  beforeAll(async () => {
    elsewhere = await startServer((_req, res) => json(res, page(OBSERVATIONS)));
    let base = '';
    server = await startServer(faultHandler(() => base, () => elsewhere.url));
    base = server.url;
    app = testApp({}, { FHIR_TIMEOUT_MS: '400', FHIR_MAX_PAGES: '5', FHIR_MAX_RESPONSE_BYTES: '200000', HOOK_TIMEOUT_MS: '3000' });
    await app.ready();
  });
  afterAll(async () => {
    await app.close();
    await server.close();
    await elsewhere.close();
  });

  /** Everything but the Observations in prefetch: the service must fetch those from the faulty server. */
  const hookWithout = (fault: string) => {
    const { observations: _o, ...prefetch } = prefetchFor(BUNDLE);
    return hookRequest(PATIENT, { prefetch, fhirServer: `${server.url}/${fault}/fhir` });
  };

  const cases: [string, string, RegExp][] = [
    ['is slow (no answer within FHIR_TIMEOUT_MS)', 'slow', /no answer within 400 ms/],
    ['answers 500', 'http-500', /HTTP 500/],
    ['answers 401', 'http-401', /HTTP 401/],
    ['answers HTML instead of JSON', 'html', /the answer was not JSON/],
    ['answers truncated JSON', 'truncated', /the answer was not JSON/],
    ['closes the connection mid-answer', 'cut-mid-body', /the connection broke while reading the answer/],
    ['closes the connection without answering', 'close', /the connection failed/],
    ['has a next link that loops', 'next-loop', /its paging links loop/],
    ['has next links without end (FHIR_MAX_PAGES)', 'next-endless', /more than 5 pages/],
    ['has a next link to another server', 'next-elsewhere', /a paging link points to another server/],
    ['answers an OperationOutcome with 200', 'operation-outcome', /it answered with an OperationOutcome/],
    ['answers more bytes than FHIR_MAX_RESPONSE_BYTES', 'huge', /the answer was larger than 200000 bytes/],
  ];

  for (const [name, fault, reason] of cases) {
    it(`when the server ${name}: Observations are unknown, the cards say so and why`, async () => {
      const body = hookWithout(fault);
      const res = await app.inject({ method: 'POST', url: SERVICE, payload: body });
      expect(res.statusCode).toBe(200);
      const { cards } = res.json();
      expect(cards.length).toBeGreaterThan(0);
      for (const card of cards) {
        // In plain words on the card; the fault itself is for the app (issue #11).
        expect(card.detail).toContain('Part of the record could not be read from the EHR');
        expect(card.detail).not.toMatch(reason);
        // Without the labs the service cannot call anyone "likely".
        expect(card.summary).toMatch(/^Possibly eligible/);
      }
      expect(elsewhere.calls).toEqual([]);
      // The reason reaches the trace that $evaluate-from-server and the app show.
      const { provenance, evaluations } = await hookTrace(app, body);
      expect(provenance.find((p) => p.resourceType === 'Observation')).toMatchObject({ origin: 'unavailable' });
      expect(JSON.stringify(evaluations)).toMatch(reason);
    });
  }

  it('answers 412 when nothing at all could be read', async () => {
    const res = await app.inject({ method: 'POST', url: SERVICE, payload: hookRequest(PATIENT, { fhirServer: `${server.url}/all-500/fhir` }) });
    expect(res.statusCode).toBe(412);
    expect(res.json()).toMatchObject({ resourceType: 'OperationOutcome', issue: [{ code: 'required' }] });
    expect(res.json().issue[0].diagnostics).toMatch(/no patient data could be read: .*HTTP 500/);
  });

  it('still serves a good request after all of that', async () => {
    const res = await app.inject({ method: 'POST', url: SERVICE, payload: hookRequest(PATIENT, { prefetch: prefetchFor(BUNDLE) }) });
    expect(res.statusCode).toBe(200);
    expect(res.json().cards).toHaveLength(3);
  });
});

describe('the total time per hook (HOOK_TIMEOUT_MS)', () => {
  let server: RecordingServer;
  let app: FastifyInstance;
  beforeAll(async () => {
    let base = '';
    server = await startServer(faultHandler(() => base, () => base));
    base = server.url;
    app = testApp({}, { FHIR_TIMEOUT_MS: '1000', FHIR_MAX_PAGES: '50', HOOK_TIMEOUT_MS: '600' });
    await app.ready();
  });
  afterAll(async () => {
    await app.close();
    await server.close();
  });

  it('answers with what it has when a search is still paging at the deadline, and stops fetching', async () => {
    const { observations: _o, ...prefetch } = prefetchFor(BUNDLE);
    const started = performance.now();
    const res = await app.inject({ method: 'POST', url: SERVICE, payload: hookRequest(PATIENT, { prefetch, fhirServer: `${server.url}/slow-pages/fhir` }) });
    const elapsed = performance.now() - started;
    expect(res.statusCode).toBe(200);
    expect(elapsed).toBeLessThan(1500);
    const { cards } = res.json();
    expect(cards.length).toBeGreaterThan(0);
    for (const card of cards) {
      expect(card.detail).toContain('Part of the record could not be read from the EHR');
      expect(card.detail).not.toContain('took longer than 600 ms');
    }
    const calls = server.calls.length;
    expect(calls).toBeGreaterThan(1);
    await sleep(500);
    expect(server.calls.length).toBe(calls);
  });
});

describe('the number of resources per hook (MAX_RESOURCES_PER_HOOK)', () => {
  it('refuses a call carrying more resources than allowed with 413', async () => {
    const app = testApp({}, { MAX_RESOURCES_PER_HOOK: '20' });
    await app.ready();
    try {
      const res = await app.inject({ method: 'POST', url: SERVICE, payload: hookRequest(PATIENT, { prefetch: prefetchFor(BUNDLE) }) });
      expect(res.statusCode).toBe(413);
      expect(res.json()).toMatchObject({ resourceType: 'OperationOutcome', issue: [{ code: 'too-costly' }] });
      expect(res.json().issue[0].diagnostics).toMatch(/32 resources, more than the 20/);
    } finally {
      await app.close();
    }
  });

  it('audits the reads it made from the EHR\'s FHIR server with its token even when the hook then answers 413 (issue #20 item 5)', async () => {
    const fhir = await startServer(fhirFromBundle(BUNDLE));
    const auditFile = resolve(mkdtempSync(resolve(tmpdir(), 'trialmatch-audit-413-')), 'audit.jsonl');
    const app = testApp({}, { MAX_RESOURCES_PER_HOOK: '20', AUDIT_FILE: auditFile });
    await app.ready();
    try {
      const res = await app.inject({ method: 'POST', url: SERVICE, payload: hookRequest(PATIENT, { fhirServer: `${fhir.url}/fhir` }) });
      expect(res.statusCode).toBe(413);
      expect(fhir.calls.length).toBeGreaterThan(0);
    } finally {
      await app.close();
      await fhir.close();
    }
    const events = readFileSync(auditFile, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(events).toEqual([expect.objectContaining({ action: 'patient-view', patientId: PATIENT, fhirServer: `${fhir.url}/fhir`, trials: [] })]);
  });
});
