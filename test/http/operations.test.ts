import { describe, expect, it } from 'vitest';
import { exampleBundle, testApp } from '../support/app.js';
import { hookRequest, patientIdOf, prefetchFor } from '../support/hook-request.js';
import { BASE, makeIssuer, writeTrust } from '../security/helpers.js';

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
    const ok = testApp();
    const unreachable = testApp({}, { AUTH_MODE: 'on', TRUST_CONFIG: writeTrust({ issuers: [{ issuer: 'https://ehr.example', jwksUrl: 'http://127.0.0.1:1/jwks.json' }] }) });
    try {
      expect((await ok.inject({ method: 'GET', url: '/readyz' })).statusCode).toBe(200);
      ok.readinessChecks.push(async () => {
        throw new Error('database unreachable');
      });
      const failing = await ok.inject({ method: 'GET', url: '/readyz' });
      expect(failing.statusCode).toBe(503);
      expect(failing.json().resourceType).toBe('OperationOutcome');
      expect(failing.json().issue[0].diagnostics).toMatch(/database unreachable/);
      const keys = await unreachable.inject({ method: 'GET', url: '/readyz' });
      expect(keys.statusCode).toBe(503);
      expect(keys.json().issue[0].diagnostics).toMatch(/key set of issuer https:\/\/ehr.example/);
    } finally {
      await ok.close();
      await unreachable.close();
    }
  });
});
