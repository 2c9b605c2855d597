/**
 * The terminology server's limits (issue #17 item 3) against a small FHIR terminology server on loopback
 * (a real HTTP server answering batch Bundles of $subsumes, $validate-code and $translate): a cap on the
 * questions per hook, a time budget, a server that fails, and no EHR token ever sent to it. The hook always
 * answers; what is not settled stays unplaced and is counted on /metrics.
 */
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { Bundle, BundleEntry, Parameters } from '@medplum/fhirtypes';
import type { FastifyInstance } from 'fastify';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { testApp } from '../support/app.js';
import { hookRequest, prefetchFor } from '../support/hook-request.js';
import { closeServer, listen } from '../support/loopback.js';
import { ALL_CODE, NEW_SLE_SUBTYPE, SCT, hierarchyMappingsDir, sleChildCodedAs } from '../support/terminology.js';

/** is-a parents in the fake server's SNOMED CT fragment. */
const PARENT: Record<string, string> = { [NEW_SLE_SUBTYPE]: '55464009', [ALL_CODE]: '93143009', '93143009': '363346000' };

function subsumption(a: string, b: string): string {
  if (a === b) return 'equivalent';
  for (let c = PARENT[b]; c; c = PARENT[c]) if (c === a) return 'subsumes';
  return 'not-subsumed';
}

function answer(url: string): BundleEntry {
  const q = new URL(url, 'http://x/');
  let p: Parameters;
  if (q.pathname.endsWith('CodeSystem/$subsumes')) p = { resourceType: 'Parameters', parameter: [{ name: 'outcome', valueCode: subsumption(q.searchParams.get('codeA')!, q.searchParams.get('codeB')!) }] };
  else p = { resourceType: 'Parameters', parameter: [{ name: 'result', valueBoolean: false }] };
  return { resource: p, response: { status: '200 OK' } };
}

interface Seen {
  method: string;
  entries: string[];
  headers: IncomingHttpHeaders;
}

/** `no-batch`: refuses a batch (405), as servers that do not take one do, and answers each GET. */
type Mode = 'ok' | 'hang' | 500 | 'no-batch';

async function startTerminologyServer(): Promise<{ url: string; seen: Seen[]; mode: (m: Mode) => void; close: () => Promise<void> }> {
  const seen: Seen[] = [];
  let mode: Mode = 'ok';
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      if (req.method === 'GET') {
        seen.push({ method: 'GET', entries: [(req.url ?? '').replace(/^\/fhir\//, '')], headers: req.headers });
        res.writeHead(200, { 'content-type': 'application/fhir+json' }).end(JSON.stringify(answer((req.url ?? '').replace(/^\/fhir\//, '')).resource));
        return;
      }
      const batch = JSON.parse(body || '{}') as Bundle;
      seen.push({ method: 'POST', entries: (batch.entry ?? []).map((e) => e.request?.url ?? ''), headers: req.headers });
      if (mode === 'hang') return;
      if (mode === 'no-batch') {
        res.writeHead(405, { 'content-type': 'application/fhir+json' }).end(JSON.stringify({ resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'not-supported' }] }));
        return;
      }
      if (mode === 500) {
        res.writeHead(500, { 'content-type': 'application/fhir+json' }).end(JSON.stringify({ resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'exception' }] }));
        return;
      }
      const response: Bundle = { resourceType: 'Bundle', type: 'batch-response', entry: (batch.entry ?? []).map((e) => answer(e.request?.url ?? '')) };
      res.writeHead(200, { 'content-type': 'application/fhir+json' }).end(JSON.stringify(response));
    });
  });
  const url = await listen(server);
  return { url: `${url}/fhir`, seen, mode: (m) => void (mode = m), close: () => closeServer(server) };
}

async function metric(app: FastifyInstance, series: string): Promise<number> {
  const line = (await app.inject({ method: 'GET', url: '/metrics' })).body.split('\n').find((l) => l.startsWith(`${series} `));
  return line ? Number(line.split(' ')[1]) : 0;
}

async function cardsOf(app: FastifyInstance, bundle: Bundle, id: string, extra: Record<string, unknown> = {}): Promise<string[]> {
  const res = await app.inject({ method: 'POST', url: '/cds-services/trialmatch-sle', payload: hookRequest(id, { prefetch: prefetchFor(bundle), ...extra }) });
  expect(res.statusCode).toBe(200);
  return res.json<{ cards: { extension: Record<string, { trialId: string; status: string }> }[] }>().cards.map((c) => {
    const e = Object.values(c.extension)[0]!;
    return `${e.trialId}:${e.status}`;
  });
}

describe('the terminology server\'s limits', () => {
  const mappings = hierarchyMappingsDir();
  /** SLE coded as a subtype the list does not hold, and acute lymphoblastic leukaemia added. */
  const patient = sleChildCodedAs('tx-both', { system: SCT, code: NEW_SLE_SUBTYPE, display: 'SLE, new subtype' });
  patient.entry!.push({
    resource: {
      resourceType: 'Condition',
      id: 'tx-both-all',
      clinicalStatus: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-clinical', code: 'active' }] },
      code: { coding: [{ system: SCT, code: ALL_CODE, display: 'Acute lymphoid leukemia' }] },
      subject: { reference: 'Patient/tx-both' },
      onsetDateTime: '2026-10-01',
    },
  });
  const subtypeOnly = sleChildCodedAs('tx-sub', { system: SCT, code: NEW_SLE_SUBTYPE, display: 'SLE, new subtype' });
  const sleOnly = sleChildCodedAs('tx-sle', { system: SCT, code: '55464009', display: 'Systemic lupus erythematosus' });
  let server: Awaited<ReturnType<typeof startTerminologyServer>>;
  let noServer: FastifyInstance;
  const apps: FastifyInstance[] = [];
  const appWith = async (env: Record<string, string>): Promise<FastifyInstance> => {
    const app = testApp({}, { MAPPINGS_DIR: mappings.dir, TERMINOLOGY_SERVER: server.url, ...env });
    apps.push(app);
    await app.ready();
    return app;
  };

  beforeAll(async () => {
    server = await startTerminologyServer();
    noServer = testApp({}, { MAPPINGS_DIR: mappings.dir });
    await noServer.ready();
  });
  afterEach(async () => {
    server.mode('ok');
    server.seen.length = 0;
    await Promise.all(apps.splice(0).map((a) => a.close()));
  });
  afterAll(async () => {
    await noServer.close();
    await server.close();
    mappings.remove();
  });

  it('places both codes when the server answers: SLE met, and leukaemia hides the trials that exclude it', async () => {
    const app = await appWith({});
    const sle = await cardsOf(noServer, sleOnly, 'tx-sle');
    expect(await cardsOf(app, subtypeOnly, 'tx-sub')).toEqual(sle);
    const excluding = ['nct06789107-blinatumomab', 'nct06934447-bcma-cd70-car-t', 'zju-cd19-car-t-csle'];
    expect(sle.some((s) => excluding.some((t) => s.startsWith(t)))).toBe(true);
    expect(await cardsOf(app, patient, 'tx-both')).toEqual(sle.filter((s) => !excluding.some((t) => s.startsWith(t))));
    expect(server.seen).toHaveLength(2);
  });

  it('asks at most TERMINOLOGY_MAX_LOOKUPS questions a hook, in the record\'s order, and counts the rest', async () => {
    const app = await appWith({ TERMINOLOGY_MAX_LOOKUPS: '1' });
    // The first question (the SLE subtype in the SLE list) is asked and places it; the leukaemia is not asked.
    expect(await cardsOf(app, patient, 'tx-both')).toEqual(await cardsOf(noServer, sleOnly, 'tx-sle'));
    expect(server.seen).toHaveLength(1);
    expect(server.seen[0]!.entries.every((u) => u.includes(NEW_SLE_SUBTYPE))).toBe(true);
    // Each code raises a question per hierarchy list read in Conditions that does not hold it (two codes, at
    // least the SLE and malignancy lists each): all but the first are over the cap.
    expect(await metric(app, 'trialmatch_terminology_unsettled_total{reason="cap"}')).toBeGreaterThanOrEqual(3);
  });

  it('answers within the time budget when the server does not answer, with the codes unplaced', async () => {
    server.mode('hang');
    const app = await appWith({ TERMINOLOGY_BUDGET_MS: '300' });
    const started = performance.now();
    const cards = await cardsOf(app, subtypeOnly, 'tx-sub');
    expect(performance.now() - started).toBeLessThan(3_000);
    expect(cards).toEqual(await cardsOf(noServer, subtypeOnly, 'tx-sub'));
    expect(cards).not.toEqual(await cardsOf(noServer, sleOnly, 'tx-sle'));
    expect(await metric(app, 'trialmatch_terminology_unsettled_total{reason="time"}')).toBeGreaterThanOrEqual(2);
  });

  it('answers when the server fails, counts the failure by kind, and does not cache it', async () => {
    server.mode(500);
    const app = await appWith({});
    expect(await cardsOf(app, subtypeOnly, 'tx-sub')).toEqual(await cardsOf(noServer, subtypeOnly, 'tx-sub'));
    expect(await metric(app, 'trialmatch_terminology_unsettled_total{reason="failed"}')).toBeGreaterThanOrEqual(2);
    expect(await metric(app, 'trialmatch_terminology_request_duration_seconds_count{outcome="http-status"}')).toBe(1);
    server.mode('ok');
    expect(await cardsOf(app, subtypeOnly, 'tx-sub')).toEqual(await cardsOf(noServer, sleOnly, 'tx-sle'));
  });

  it('asks one GET per question when the server refuses a batch, and stops offering it batches', async () => {
    server.mode('no-batch');
    const app = await appWith({});
    expect(await cardsOf(app, subtypeOnly, 'tx-sub')).toEqual(await cardsOf(noServer, sleOnly, 'tx-sle'));
    const methods = server.seen.map((s) => s.method);
    expect(methods[0]).toBe('POST');
    expect(methods.slice(1).every((m) => m === 'GET') && methods.length >= 5).toBe(true);
    server.seen.length = 0;
    await cardsOf(app, sleChildCodedAs('tx-all-only', { system: SCT, code: ALL_CODE, display: 'ALL' }), 'tx-all-only');
    expect(server.seen.length).toBeGreaterThan(0);
    expect(server.seen.every((s) => s.method === 'GET')).toBe(true);
  });

  it('never sends the EHR\'s token or the patient to the terminology server', async () => {
    const app = await appWith({});
    // A prefetch that holds everything: the closed port named as fhirServer is never called.
    await cardsOf(app, patient, 'tx-both', { fhirServer: 'http://127.0.0.1:9/fhir', fhirAuthorization: { access_token: 'ehr-token-must-stay', token_type: 'Bearer', expires_in: 300, scope: 'patient/*.read', subject: 'x' } });
    expect(server.seen).toHaveLength(1);
    expect(server.seen[0]!.headers.authorization).toBeUndefined();
    expect(JSON.stringify(server.seen)).not.toContain('tx-both');
  });
});
