import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { exampleBundle, testApp } from '../support/app.js';
import { BASE, makeIssuer, writeTrust, type TestIssuer } from './helpers.js';

// Issue #12 item 5, the smaller items: claim checks, the scheme's case, and $evaluate on malformed resources.
describe('token claims and scheme (issue #12 item 5)', () => {
  let app: FastifyInstance;
  let ehr: TestIssuer;
  beforeAll(async () => {
    ehr = await makeIssuer('https://ehr.example.org');
    app = testApp({}, { AUTH_MODE: 'on', TRUST_CONFIG: writeTrust({ issuers: [{ issuer: ehr.issuer, jwks: { keys: [ehr.publicJwk] } }] }), PUBLIC_BASE_URL: BASE });
    await app.ready();
  });
  afterAll(async () => app.close());
  const call = async (claims: Record<string, unknown>, scheme = 'Bearer') =>
    app.inject({ method: 'GET', url: '/trials', headers: { authorization: `${scheme} ${await ehr.sign({ aud: `${BASE}/trials`, ...claims })}` } });

  it('refuses a token issued ten years ahead (iat beyond the leeway)', async () => {
    const res = await call({ iat: Math.floor(Date.now() / 1000) + 10 * 365 * 86400 });
    expect(res.statusCode).toBe(401);
    expect(res.json().issue[0].diagnostics).toMatch(/iat/);
  });

  it('refuses a numeric or empty jti', async () => {
    for (const jti of [12345, '']) {
      const res = await call({ jti });
      expect(res.statusCode, String(jti)).toBe(401);
      expect(res.json().issue[0].diagnostics).toMatch(/jti/);
    }
  });

  it('accepts a token without sub, as the CDS Hooks sandbox sends (sub is not a required claim here; docs/security.md)', async () => {
    expect((await call({ sub: undefined })).statusCode).toBe(200);
  });

  it('reads the scheme case-insensitively (RFC 6750 §2.1)', async () => {
    for (const scheme of ['bearer', 'BEARER', 'Bearer']) expect((await call({}, scheme)).statusCode, scheme).toBe(200);
  });
});

describe('POST /trials/$evaluate on malformed resources (issue #12 item 5)', () => {
  it('cleans them as the hook path does: an answer, not a 500', async () => {
    const app = testApp();
    await app.ready();
    try {
      const bundle = exampleBundle('sle-child-likely');
      const broken = [
        { resourceType: 'Condition', id: 'c-bad', subject: { reference: 'Patient/sle-child-likely' }, code: { coding: 'not-a-list' } },
        { resourceType: 'Observation', id: 'o-bad', status: 'final', subject: { reference: 'Patient/sle-child-likely' }, code: { coding: [null, 7, { system: {}, code: [] }] }, effectiveDateTime: {}, valueQuantity: { value: 'x', unit: {} } },
        { resourceType: 'MedicationRequest', id: 'm-bad', status: 'active', subject: { reference: 'Patient/sle-child-likely' }, medicationCodeableConcept: 'rituximab', authoredOn: 20260101 },
      ];
      for (const resource of broken) {
        const res = await app.inject({ method: 'POST', url: '/trials/$evaluate', payload: { ...bundle, entry: [...(bundle.entry ?? []), { resource }] } as unknown as Record<string, unknown> });
        expect(res.statusCode, `${resource.id}: ${res.body.slice(0, 200)}`).toBe(200);
        expect(res.json().trials.length).toBeGreaterThan(0);
      }
    } finally {
      await app.close();
    }
  });
});
