import { describe, expect, it } from 'vitest';
import { exampleBundle, testApp } from '../support/app.js';
import { hookRequest, patientIdOf, prefetchFor } from '../support/hook-request.js';
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PatientBuilder, daysAgo, yearsAgo } from '../../scripts/fhir-builders.js';
import { ROOT } from '../support/app.js';
import { BASE, fhirFromBundle, makeIssuer, startServer, writeTrust } from '../security/helpers.js';

// Issue #12 item 6: /metrics in Prometheus text with route patterns (never raw URLs, no patient data), /readyz.
describe('GET /metrics and GET /readyz (issue #12 item 6)', () => {
  it('counts requests by route pattern and status, times hooks, and carries no patient id', async () => {
    const app = testApp();
    await app.ready();
    try {
      await app.inject({ method: 'GET', url: '/examples/sle-child-likely/hook-request' });
      const bundle = exampleBundle('sle-child-likely');
      expect((await app.inject({ method: 'POST', url: '/cds-services/trialmatch-sle', payload: hookRequest(patientIdOf(bundle), { prefetch: prefetchFor(bundle) }) })).statusCode).toBe(200);
      const res = await app.inject({ method: 'GET', url: '/metrics' });
      expect(res.statusCode).toBe(200);
      expect(res.headers['content-type']).toMatch(/text\/plain/);
      expect(res.body).toMatch(/trialmatch_http_requests_total\{route="\/examples\/:id\/hook-request",method="GET",status="200"\} 1/);
      expect(res.body).toMatch(/trialmatch_hook_duration_seconds_count\{status="200"\} 1/);
      expect(res.body).toMatch(/trialmatch_replay_cache_entries 0/);
      expect(res.body).toMatch(/trialmatch_database_errors_total/);
      expect(res.body).not.toMatch(/sle-child-likely/);
    } finally {
      await app.close();
    }
  });

  it('shows the live jtis of the shared state\'s replay store (wired in app.ts)', async () => {
    const ehr = await makeIssuer('https://ehr.example.org');
    const trust = writeTrust({ issuers: [{ issuer: ehr.issuer, jwks: { keys: [ehr.publicJwk] } }] });
    const app = testApp({}, { AUTH_MODE: 'on', TRUST_CONFIG: trust, PUBLIC_BASE_URL: BASE });
    try {
      for (let i = 0; i < 2; i++) {
        const authorization = `Bearer ${await ehr.sign({ aud: `${BASE}/cds-services` })}`;
        expect((await app.inject({ method: 'GET', url: '/cds-services', headers: { authorization } })).statusCode).toBe(200);
      }
      expect((await app.inject({ method: 'GET', url: '/metrics' })).body).toMatch(/trialmatch_replay_cache_entries 2/);
    } finally {
      await app.close();
    }
  });

  it('times FHIR server requests by resource type and counts their failures by kind, with no URL or patient id', async () => {
    const bundle = exampleBundle('sle-child-likely');
    const patient = patientIdOf(bundle);
    const good = await startServer(fhirFromBundle(bundle));
    const failing = await startServer((_req, res) => {
      res.statusCode = 500;
      res.end('{}');
    });
    const app = testApp();
    try {
      for (const server of [good, failing]) {
        const res = await app.inject({ method: 'POST', url: '/cds-services/trialmatch-sle', payload: hookRequest(patient, { fhirServer: `${server.url}/fhir` }) });
        expect([200, 412]).toContain(res.statusCode);
      }
      const body = (await app.inject({ method: 'GET', url: '/metrics' })).body;
      expect(body).toMatch(/trialmatch_fhir_request_duration_seconds_count\{resource="Observation",outcome="ok"\} [1-9]/);
      expect(body).toMatch(/trialmatch_fhir_request_duration_seconds_count\{resource="Observation",outcome="http-status"\} [1-9]/);
      expect(body).not.toContain(patient);
      expect(body).not.toContain('127.0.0.1');
    } finally {
      await app.close();
      await good.close();
      await failing.close();
    }
  });

  it('labels a paging link\'s request from a closed set of resource types, never from the link\'s path (issue #20 item 6)', async () => {
    const bundle = exampleBundle('sle-child-likely');
    const patient = patientIdOf(bundle);
    const answer = fhirFromBundle(bundle);
    let base = '';
    const paging = await startServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://x');
      if (url.pathname.endsWith('/Observation')) {
        res.setHeader('content-type', 'application/fhir+json');
        res.end(JSON.stringify({ resourceType: 'Bundle', type: 'searchset', link: [{ relation: 'next', url: `${base}/fhir/page-token-8f3a91?_getpagesoffset=1` }], entry: [] }));
      } else if (url.pathname.includes('page-token-')) {
        res.setHeader('content-type', 'application/fhir+json');
        res.end(JSON.stringify({ resourceType: 'Bundle', type: 'searchset', entry: [] }));
      } else answer(req, res);
    });
    base = paging.url;
    const app = testApp();
    try {
      const res = await app.inject({ method: 'POST', url: '/cds-services/trialmatch-sle', payload: hookRequest(patient, { fhirServer: `${paging.url}/fhir` }) });
      expect(res.statusCode).toBe(200);
      expect(paging.calls.some((c) => c.includes('page-token-8f3a91'))).toBe(true);
      const body = (await app.inject({ method: 'GET', url: '/metrics' })).body;
      expect(body).toMatch(/trialmatch_fhir_request_duration_seconds_count\{resource="other",outcome="ok"\} 1/);
      expect(body).not.toContain('page-token');
    } finally {
      await app.close();
      await paging.close();
    }
  });

  it('counts a criterion part that could not be evaluated by its mapping id, never its message', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'trialmatch-mappings-'));
    cpSync(join(ROOT, 'fhir-mappings'), dir, { recursive: true });
    const file = join(dir, 'trials', 'nct06789107-blinatumomab.json');
    const trial = JSON.parse(readFileSync(file, 'utf8'));
    // Compiles, but gives a CodeableConcept where a boolean is needed: a fault only at evaluation time.
    trial.criteria.find((c: { id: string }) => c.id === 'exc-3').rule.of[0].where = 'code';
    writeFileSync(file, JSON.stringify(trial));
    // With SLE, so the hook (detail 'decision') reaches exc-3: an ineligible trial stops at its first blocking
    // criterion, and a part it never evaluates cannot fault.
    const record = new PatientBuilder('fault-patient', { gender: 'female', birthDate: yearsAgo(12) })
      .condition('http://snomed.info/sct', '55464009', 'Systemic lupus erythematosus', { onset: daysAgo(400) })
      .condition('http://snomed.info/sct', '26843008', 'Antiphospholipid syndrome', { onset: daysAgo(30) })
      .bundle();
    const app = testApp({}, { MAPPINGS_DIR: dir });
    try {
      expect((await app.inject({ method: 'POST', url: '/cds-services/trialmatch-sle', payload: hookRequest('fault-patient', { prefetch: prefetchFor(record) }) })).statusCode).toBe(200);
      const body = (await app.inject({ method: 'GET', url: '/metrics' })).body;
      expect(body).toMatch(/trialmatch_evaluation_faults_total\{rule="exc-3\.severe"\} 1/);
      expect(body).not.toMatch(/did not give a boolean/);
    } finally {
      await app.close();
    }
  });

  it('has no /metrics with METRICS=off, and needs the token when METRICS_TOKEN is set', async () => {
    const off = testApp({}, { METRICS: 'off' });
    const token = testApp({}, { METRICS_TOKEN: 'a-long-metrics-token-123' });
    try {
      expect((await off.inject({ method: 'GET', url: '/metrics' })).statusCode).toBe(404);
      expect((await token.inject({ method: 'GET', url: '/metrics' })).statusCode).toBe(401);
      expect((await token.inject({ method: 'GET', url: '/metrics', headers: { authorization: 'Bearer a-long-metrics-token-123' } })).statusCode).toBe(200);
    } finally {
      await off.close();
      await token.close();
    }
  });

  it('is ready with loadable keys, and 503 with an OperationOutcome when a key set or a pushed check fails', async () => {
    const operator = { METRICS_TOKEN: 'a-long-metrics-token-123' };
    const bearer = { authorization: 'Bearer a-long-metrics-token-123' };
    const ok = testApp({}, operator);
    const unreachable = testApp({}, { ...operator, AUTH_MODE: 'on', TRUST_CONFIG: writeTrust({ issuers: [{ issuer: 'https://ehr.example', jwksUrl: 'http://127.0.0.1:1/jwks.json' }] }) });
    try {
      expect((await ok.inject({ method: 'GET', url: '/readyz' })).statusCode).toBe(200);
      ok.readinessChecks.push(async () => {
        throw new Error('database unreachable at 10.1.2.3:5432');
      });
      const failing = await ok.inject({ method: 'GET', url: '/readyz', headers: bearer });
      expect(failing.statusCode).toBe(503);
      expect(failing.json().resourceType).toBe('OperationOutcome');
      expect(failing.json().issue[0].diagnostics).toMatch(/database unreachable/);
      // Issue #20 item 6: an anonymous caller learns up or down, never the database's address.
      const anonymous = await ok.inject({ method: 'GET', url: '/readyz' });
      expect(anonymous.statusCode).toBe(503);
      expect(anonymous.json().issue[0].diagnostics).toBe('not ready');
      expect(anonymous.body).not.toMatch(/10\.1\.2\.3/);
      const keys = await unreachable.inject({ method: 'GET', url: '/readyz', headers: bearer });
      expect(keys.statusCode).toBe(503);
      expect(keys.json().issue[0].diagnostics).toMatch(/key set of issuer https:\/\/ehr.example/);
    } finally {
      await ok.close();
      await unreachable.close();
    }
  });
});
