import { mkdtempSync, readFileSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { tmpdir } from 'node:os';
import { resolve } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ANCHOR } from '../../scripts/fhir-builders.js';
import { LogCapture, exampleBundle, testApp } from '../support/app.js';
import { startServer, writeTrust, type RecordingServer } from './helpers.js';

/**
 * Issue #11 item 4: POST /smart/$evaluate is open only to an active SMART access token of a trusted SMART
 * server, for the patient it names. The authorization server is a real HTTP server on 127.0.0.1 answering
 * RFC 7662 introspection the way the SMART launcher does (it wants the token itself as its Authorization).
 */
const PATIENT = 'sle-child-likely';
const exp = Math.floor(ANCHOR.getTime() / 1000) + 3600;
const TOKENS: Record<string, Record<string, unknown>> = {
  'good-token-3b9f': { active: true, scope: 'launch openid fhirUser patient/*.read', client_id: 'trialmatch-cds', fhirUser: 'Practitioner/dr-audit', patient: PATIENT, exp },
  'expired-token-77aa': { active: true, scope: 'patient/*.read', patient: PATIENT, exp: exp - 7200 },
  'no-patient-token-1c2d': { active: true, scope: 'user/*.read', exp },
  // Issue #20 item 6: another client's token, a token that reads nothing, and one naming the app only in `aud`.
  'other-client-token-5e6f': { active: true, scope: 'launch patient/*.read', client_id: 'some-other-app', patient: PATIENT, exp },
  'identity-only-token-9a8b': { active: true, scope: 'openid fhirUser', client_id: 'trialmatch-cds', patient: PATIENT, exp },
  'aud-token-4d4d': { active: true, scope: 'launch patient/Observation.rs patient/Condition.rs', aud: ['https://fhir.example', 'trialmatch-cds'], patient: PATIENT, exp },
};

async function readBody(req: IncomingMessage): Promise<string> {
  let body = '';
  for await (const chunk of req) body += String(chunk);
  return body;
}

describe('POST /smart/$evaluate: the SMART app call, checked by token introspection', () => {
  let as: RecordingServer;
  let app: FastifyInstance;
  let fhirServer: string;
  let auditFile: string;
  const introspected: { token: string | null; authorization?: string; contentType?: string }[] = [];
  const log = new LogCapture();

  beforeAll(async () => {
    as = await startServer((req, res) => {
      void readBody(req).then((body) => {
        const token = new URLSearchParams(body).get('token');
        introspected.push({ token, authorization: req.headers.authorization, contentType: req.headers['content-type'] });
        res.setHeader('content-type', 'application/json');
        if (req.url !== '/auth/introspect' || req.method !== 'POST') return res.writeHead(404).end('{}');
        if (req.headers.authorization !== `Bearer ${token}`) return res.writeHead(401).end('{"error":"Authorization is required"}');
        res.end(JSON.stringify(TOKENS[token ?? ''] ?? { active: false }));
      });
    });
    fhirServer = `${as.url}/fhir`;
    const trust = writeTrust({
      issuers: [],
      smartServers: [{ fhirBaseUrl: fhirServer, introspectionUrl: `${as.url}/auth/introspect`, introspectionAuth: { type: 'token-itself' } }],
    });
    // Client authentication on, with no CDS Hooks issuer at all: the SMART route stands on its own check.
    auditFile = resolve(mkdtempSync(resolve(tmpdir(), 'trialmatch-smart-audit-')), 'audit.jsonl');
    app = testApp({ logStream: log }, { AUTH_MODE: 'on', TRUST_CONFIG: trust, LOG_LEVEL: 'info', AUDIT_FILE: auditFile });
    await app.ready();
  });
  afterAll(async () => {
    await app.close();
    await as.close();
  });

  const call = (authorization: string | undefined, body: unknown) =>
    app.inject({ method: 'POST', url: '/smart/$evaluate', headers: { 'content-type': 'application/json', ...(authorization ? { authorization } : {}) }, payload: JSON.stringify(body) });

  it('a token of the trusted server for this patient: every trial evaluated, with the criteria and their evidence', async () => {
    introspected.length = 0;
    const res = await call('Bearer good-token-3b9f', { fhirServer, bundle: exampleBundle(PATIENT) });
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body.patient).toBe(`Patient/${PATIENT}`);
    expect(body.evaluatedAt).toBe(ANCHOR.toISOString());
    const cd19 = body.trials.find((t: { trialId: string }) => t.trialId === 'zju-cd19-car-t-csle');
    expect(cd19.status).toBe('possibly-eligible');
    expect(cd19.statusReason.code).toBe('judgement-open');
    const inc1 = cd19.criteria.find((c: { id: string }) => c.id === 'inc-1');
    expect(inc1.result).toBe('met');
    expect(inc1.evidence[0]).toMatchObject({ reference: `Patient/${PATIENT}`, value: 12, unit: 'years' });
    // RFC 7662 §2.1: a form-encoded POST carrying the token, authenticated the way the trust file says.
    expect(introspected).toEqual([{ token: 'good-token-3b9f', authorization: 'Bearer good-token-3b9f', contentType: 'application/x-www-form-urlencoded' }]);
    // The audit trail (issue #12 item 6) says who (the user the SMART server vouched for) saw which patient.
    const events = readFileSync(auditFile, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(events.at(-1)).toMatchObject({ issuer: fhirServer, subject: 'Practitioner/dr-audit', action: 'smart-evaluate', patientId: PATIENT });
  });

  it('cleans malformed resources the app sends as the hook path and $evaluate do: an answer, not a 500', async () => {
    const bundle = exampleBundle(PATIENT);
    const broken = [
      { resourceType: 'Condition', id: 'c-bad', subject: { reference: `Patient/${PATIENT}` }, code: { coding: 'not-a-list' } },
      { resourceType: 'Observation', id: 'o-bad', status: 'final', subject: { reference: `Patient/${PATIENT}` }, code: { coding: [null, 7, { system: {}, code: [] }] }, effectiveDateTime: {}, valueQuantity: { value: 'x', unit: {} } },
      { resourceType: 'MedicationRequest', id: 'm-bad', status: 'active', subject: { reference: `Patient/${PATIENT}` }, medicationCodeableConcept: 'rituximab', authoredOn: 20260101 },
    ];
    for (const resource of broken) {
      const res = await call('Bearer good-token-3b9f', { fhirServer, bundle: { ...bundle, entry: [...(bundle.entry ?? []), { resource }] } });
      expect(res.statusCode, `${resource.id}: ${res.body.slice(0, 200)}`).toBe(200);
      expect(res.json().trials.length).toBeGreaterThan(0);
    }
  });

  it('asks the authorization server once for a token it has just checked (cached by hash, briefly)', async () => {
    introspected.length = 0;
    for (let i = 0; i < 3; i++) expect((await call('Bearer good-token-3b9f', { fhirServer, bundle: exampleBundle(PATIENT) })).statusCode).toBe(200);
    expect(introspected).toHaveLength(0);
  });

  it('no token: 401 OperationOutcome with a Bearer challenge, and the authorization server is not asked', async () => {
    introspected.length = 0;
    const res = await call(undefined, { fhirServer, bundle: exampleBundle(PATIENT) });
    expect(res.statusCode).toBe(401);
    expect(res.json().resourceType).toBe('OperationOutcome');
    expect(res.headers['www-authenticate']).toBe('Bearer realm="trialmatch-cds"');
    expect(introspected).toHaveLength(0);
  });

  it.each([
    ['a token the server does not know (inactive)', 'Bearer forged-token-0000', 'not active'],
    ['an expired token the server still calls active', 'Bearer expired-token-77aa', 'expired'],
    ['a token with no patient in context', 'Bearer no-patient-token-1c2d', 'no patient'],
    ['not a bearer token', 'Basic Zm9vOmJhcg==', 'required'],
  ])('%s: 401', async (_what, authorization, says) => {
    const res = await call(authorization, { fhirServer, bundle: exampleBundle(PATIENT) });
    expect(res.statusCode).toBe(401);
    expect(res.json().issue[0].diagnostics).toContain(says);
    expect(res.headers['www-authenticate']).toContain('Bearer realm="trialmatch-cds"');
  });

  it('another client\'s token: 401, and asking again with it is answered from memory, not by the authorization server (issue #20 item 6)', async () => {
    introspected.length = 0;
    for (let i = 0; i < 3; i++) {
      const res = await call('Bearer other-client-token-5e6f', { fhirServer, bundle: exampleBundle(PATIENT) });
      expect(res.statusCode).toBe(401);
      expect(res.json().issue[0].diagnostics).toContain('another client');
    }
    expect(introspected).toHaveLength(1);
  });

  it('a token whose scopes read nothing of the patient (openid fhirUser only): 403', async () => {
    const res = await call('Bearer identity-only-token-9a8b', { fhirServer, bundle: exampleBundle(PATIENT) });
    expect(res.statusCode).toBe(403);
    expect(res.json().issue[0].diagnostics).toContain('grants no read');
  });

  it('a token naming the app in aud only, with SMART v2 read scopes: accepted', async () => {
    expect((await call('Bearer aud-token-4d4d', { fhirServer, bundle: exampleBundle(PATIENT) })).statusCode).toBe(200);
  });

  it("another patient's Bundle with this patient's token: 403", async () => {
    const res = await call('Bearer good-token-3b9f', { fhirServer, bundle: exampleBundle('sle-adult-belimumab') });
    expect(res.statusCode).toBe(403);
    expect(res.json().issue[0].diagnostics).toContain('not the record of the patient');
  });

  it('a Bundle without its Patient: 403 (the token opens one named patient only)', async () => {
    const bundle = exampleBundle(PATIENT);
    bundle.entry = bundle.entry!.filter((e) => e.resource?.resourceType !== 'Patient');
    expect((await call('Bearer good-token-3b9f', { fhirServer, bundle })).statusCode).toBe(403);
  });

  it('a FHIR server not in the trust file: refused before any introspection, whatever the token', async () => {
    introspected.length = 0;
    const res = await call('Bearer good-token-3b9f', { fhirServer: 'http://127.0.0.1:1/fhir', bundle: exampleBundle(PATIENT) });
    expect([401, 403]).toContain(res.statusCode);
    expect(res.json().resourceType).toBe('OperationOutcome');
    expect(introspected).toHaveLength(0);
  });

  it('never writes a token or the patient id to the log', () => {
    expect(log.text).toContain('SMART token refused');
    for (const secret of Object.keys(TOKENS).concat('forged-token-0000')) expect(log.text).not.toContain(secret);
    expect(log.text).not.toContain(PATIENT);
  });

  it('serves the app with a policy that lets it reach the trusted SMART server only, and fhirclient\'s browser build', async () => {
    const page = await app.inject({ method: 'GET', url: '/smart/launch.html' });
    expect(page.statusCode).toBe(200);
    expect(page.body).toContain('vendor/fhir-client.min.js');
    const launch = await app.inject({ method: 'GET', url: '/smart/launch.js' });
    expect(launch.body).toContain("authorize({ clientId: 'trialmatch-cds', scope: 'launch openid fhirUser patient/*.read', redirectUri: 'index.html' })");
    expect(page.headers['content-security-policy']).toContain(`connect-src 'self' ${as.url}`);
    const index = await app.inject({ method: 'GET', url: '/smart/index.html' });
    expect(index.statusCode).toBe(200);
    const lib = await app.inject({ method: 'GET', url: '/smart/vendor/fhir-client.min.js' });
    expect(lib.statusCode).toBe(200);
    expect(lib.headers['content-type']).toContain('javascript');
    expect((await app.inject({ method: 'GET', url: '/smart/vendor/fhir-client.js.map' })).statusCode).toBe(404);
  });
});

describe('POST /smart/$evaluate when the authorization server answers too much', () => {
  it('reads at most 64 KiB of an introspection answer: 503, with the rest never read (issue #20 item 6)', async () => {
    let sent = 0;
    const huge = await startServer((_req, res) => {
      res.setHeader('content-type', 'application/json');
      res.write(`{"active":true,"client_id":"trialmatch-cds","scope":"patient/*.read","patient":"${PATIENT}","exp":${exp},"pad":"`);
      const chunk = 'x'.repeat(64 * 1024);
      const pump = (): void => {
        while (sent < 64 * 1024 * 1024 && res.write(chunk)) sent += chunk.length;
        if (sent < 64 * 1024 * 1024) res.once('drain', pump);
        else res.end('"}');
      };
      res.on('close', () => (sent = Number.MAX_SAFE_INTEGER));
      pump();
    });
    const trust = writeTrust({ issuers: [], smartServers: [{ fhirBaseUrl: `${huge.url}/fhir`, introspectionUrl: `${huge.url}/introspect` }] });
    const app = testApp({}, { AUTH_MODE: 'on', TRUST_CONFIG: trust });
    try {
      const res = await app.inject({ method: 'POST', url: '/smart/$evaluate', headers: { 'content-type': 'application/json', authorization: 'Bearer big-answer-token' }, payload: JSON.stringify({ fhirServer: `${huge.url}/fhir`, bundle: exampleBundle(PATIENT) }) });
      expect(res.statusCode).toBe(503);
    } finally {
      await app.close();
      await huge.close();
    }
  });
});

describe('POST /smart/$evaluate when the authorization server cannot answer', () => {
  it('503 OperationOutcome, not a pass and not a 401', async () => {
    const down = await startServer((_req, res) => res.writeHead(500).end());
    const trust = writeTrust({ issuers: [], smartServers: [{ fhirBaseUrl: `${down.url}/fhir`, introspectionUrl: `${down.url}/introspect` }] });
    const app = testApp({}, { AUTH_MODE: 'on', TRUST_CONFIG: trust });
    try {
      const res = await app.inject({
        method: 'POST',
        url: '/smart/$evaluate',
        headers: { 'content-type': 'application/json', authorization: 'Bearer good-token-3b9f' },
        payload: JSON.stringify({ fhirServer: `${down.url}/fhir`, bundle: exampleBundle(PATIENT) }),
      });
      expect(res.statusCode).toBe(503);
      expect(res.json().resourceType).toBe('OperationOutcome');
      expect(down.calls).toEqual(['/introspect']);
    } finally {
      await app.close();
      await down.close();
    }
  });

  it('with no SMART server in the trust file, every call is refused', async () => {
    const app = testApp({}, { AUTH_MODE: 'off' });
    try {
      const res = await app.inject({
        method: 'POST',
        url: '/smart/$evaluate',
        headers: { 'content-type': 'application/json', authorization: 'Bearer good-token-3b9f' },
        payload: JSON.stringify({ fhirServer: 'http://127.0.0.1:8446/v/r4/fhir', bundle: exampleBundle(PATIENT) }),
      });
      expect(res.statusCode).toBeGreaterThanOrEqual(401);
      expect(res.statusCode).toBeLessThanOrEqual(403);
    } finally {
      await app.close();
    }
  });
});
