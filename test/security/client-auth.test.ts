import { createHmac, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { UnsecuredJWT, base64url } from 'jose';
import { LogCapture, exampleBundle, testApp } from '../support/app.js';
import { hookRequest, patientIdOf, prefetchFor } from '../support/hook-request.js';
import { BASE, fhirFromBundle, makeIssuer, startServer, writeTrust, type RecordingServer, type TestIssuer } from './helpers.js';

const SERVICE = '/cds-services/trialmatch-sle';

function goodHook() {
  const bundle = exampleBundle('sle-child-likely');
  return hookRequest(patientIdOf(bundle), { prefetch: prefetchFor(bundle) });
}

function expectRefused(res: { statusCode: number; headers: Record<string, unknown>; json: () => any }, status: number, message: RegExp) {
  expect(res.statusCode).toBe(status);
  expect(res.headers['content-type']).toMatch(/application\/fhir\+json/);
  const outcome = res.json();
  expect(outcome.resourceType).toBe('OperationOutcome');
  expect(outcome.issue[0].diagnostics).toMatch(message);
}

describe('client authentication (CDS Hooks 2.0 §Trusting CDS Clients)', () => {
  let app: FastifyInstance;
  let ehr: TestIssuer;
  let rsaEhr: TestIssuer;
  let stranger: TestIssuer;
  let remote: TestIssuer;
  let jwksHost: RecordingServer;

  beforeAll(async () => {
    ehr = await makeIssuer('https://ehr.example.org');
    rsaEhr = await makeIssuer('https://rsa-ehr.example.org', 'RS256');
    stranger = await makeIssuer('https://ehr.example.org'); // same iss, keys the service does not trust
    remote = await makeIssuer('https://remote-ehr.example.org', 'PS256');
    jwksHost = await startServer((_req, res) => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ keys: [remote.publicJwk] }));
    });
    const trust = writeTrust({
      issuers: [
        { issuer: ehr.issuer, jwks: { keys: [ehr.publicJwk] }, fhirServers: [] },
        { issuer: rsaEhr.issuer, jwks: { keys: [rsaEhr.publicJwk] } },
        { issuer: remote.issuer, jwksUrl: `${jwksHost.url}/jwks.json` },
      ],
      // CORS only from the EHR origins the trust file lists (issue #12 item 1).
      corsOrigins: ['https://ehr.example.org'],
    });
    app = testApp({}, { AUTH_MODE: 'on', TRUST_CONFIG: trust, PUBLIC_BASE_URL: BASE });
    await app.ready();
  });
  afterAll(async () => {
    await app.close();
    await jwksHost.close();
  });

  const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

  it('refuses every protected route without a token, with 401, an OperationOutcome and WWW-Authenticate', async () => {
    const calls = [
      { method: 'GET' as const, url: '/cds-services' },
      { method: 'POST' as const, url: SERVICE, payload: goodHook() },
      { method: 'POST' as const, url: `${SERVICE}/feedback`, payload: { feedback: [{ card: randomUUID(), outcome: 'accepted', outcomeTimestamp: '2026-11-23T10:00:00Z' }] } },
      { method: 'GET' as const, url: '/trials' },
      { method: 'POST' as const, url: '/trials/$evaluate', payload: exampleBundle('sle-child-likely') as any },
      { method: 'GET' as const, url: '/trials/zju-cd19-car-t-csle/feedback' },
    ];
    for (const call of calls) {
      const res = await app.inject(call);
      expectRefused(res, 401, /Authorization: Bearer/);
      expect(res.headers['www-authenticate']).toMatch(/^Bearer/);
    }
  });

  it('keeps the example, health and home routes open', async () => {
    for (const url of ['/healthz', '/examples', '/examples/sle-child-likely/hook-request']) {
      expect((await app.inject({ method: 'GET', url })).statusCode, url).toBe(200);
    }
    expect((await app.inject({ method: 'GET', url: '/' })).statusCode).not.toBe(401);
  });

  it('accepts a signed token whose aud is the URL called, on discovery, the hook and feedback', async () => {
    const discovery = await app.inject({ method: 'GET', url: '/cds-services', headers: bearer(await ehr.sign({ aud: `${BASE}/cds-services` })) });
    expect(discovery.statusCode).toBe(200);
    const hook = await app.inject({ method: 'POST', url: SERVICE, payload: goodHook(), headers: bearer(await ehr.sign({ aud: `${BASE}${SERVICE}` })) });
    expect(hook.statusCode).toBe(200);
    const { cards } = hook.json();
    expect(cards).toHaveLength(3);
    const feedback = await app.inject({
      method: 'POST',
      url: `${SERVICE}/feedback`,
      payload: { feedback: [{ card: cards[0].uuid, outcome: 'accepted', outcomeTimestamp: '2026-11-23T10:00:00Z' }] },
      headers: bearer(await ehr.sign({ aud: `${BASE}${SERVICE}/feedback` })),
    });
    expect(feedback.statusCode).toBe(200);
    const trials = await app.inject({ method: 'GET', url: '/trials', headers: bearer(await rsaEhr.sign({ aud: `${BASE}/trials` })) });
    expect(trials.statusCode).toBe(200);
  });

  it('accepts aud with the query string the URL was called with', async () => {
    const url = '/trials/$evaluate?at=2026-11-23';
    const res = await app.inject({ method: 'POST', url, payload: exampleBundle('sle-child-likely'), headers: bearer(await ehr.sign({ aud: `${BASE}${url}` })) });
    expect(res.statusCode).toBe(200);
  });

  it('refuses a token for another URL, naming the aud it needs', async () => {
    const res = await app.inject({ method: 'POST', url: SERVICE, payload: goodHook(), headers: bearer(await ehr.sign({ aud: `${BASE}/cds-services` })) });
    expectRefused(res, 401, new RegExp(`aud must be the URL called: ${BASE}${SERVICE}`));
    const otherHost = await app.inject({ method: 'GET', url: '/cds-services', headers: bearer(await ehr.sign({ aud: 'https://evil.example/cds-services' })) });
    expectRefused(otherHost, 401, /aud/);
  });

  it('refuses a token used twice (jti replay), and one without a jti', async () => {
    const token = await ehr.sign({ aud: `${BASE}/cds-services` });
    expect((await app.inject({ method: 'GET', url: '/cds-services', headers: bearer(token) })).statusCode).toBe(200);
    expectRefused(await app.inject({ method: 'GET', url: '/cds-services', headers: bearer(token) }), 401, /used before/);
    expectRefused(await app.inject({ method: 'GET', url: '/cds-services', headers: bearer(await ehr.sign({ aud: `${BASE}/cds-services`, jti: undefined })) }), 401, /jti/);
  });

  it('allows a small clock skew on exp, and refuses an expired token or one that lives too long', async () => {
    const now = Math.floor(Date.now() / 1000);
    const justExpired = await ehr.sign({ aud: `${BASE}/cds-services`, iat: now - 300, exp: now - 30 });
    expect((await app.inject({ method: 'GET', url: '/cds-services', headers: bearer(justExpired) })).statusCode).toBe(200);
    const expired = await ehr.sign({ aud: `${BASE}/cds-services`, iat: now - 600, exp: now - 120 });
    expectRefused(await app.inject({ method: 'GET', url: '/cds-services', headers: bearer(expired) }), 401, /expired/);
    const noExp = await ehr.sign({ aud: `${BASE}/cds-services`, exp: undefined });
    expectRefused(await app.inject({ method: 'GET', url: '/cds-services', headers: bearer(noExp) }), 401, /exp/);
    const forever = await ehr.sign({ aud: `${BASE}/cds-services`, exp: now + 30 * 24 * 3600 });
    expectRefused(await app.inject({ method: 'GET', url: '/cds-services', headers: bearer(forever) }), 401, /more than 3600 s ahead/);
  });

  it('refuses alg "none", symmetric algorithms and a key confusion attack', async () => {
    const aud = `${BASE}/cds-services`;
    const unsigned = new UnsecuredJWT({ iss: ehr.issuer, aud, jti: randomUUID() }).setIssuedAt().setExpirationTime('5m').encode();
    expectRefused(await app.inject({ method: 'GET', url: '/cds-services', headers: bearer(unsigned) }), 401, /algorithm is not accepted|not a readable JWT|compact JWT/);
    // HS256 "signed" with the issuer's public key as the HMAC secret: the classic confusion attack.
    const now = Math.floor(Date.now() / 1000);
    const header = base64url.encode(JSON.stringify({ alg: 'HS256', kid: ehr.kid, typ: 'JWT' }));
    const payload = base64url.encode(JSON.stringify({ iss: ehr.issuer, aud, iat: now, exp: now + 300, jti: randomUUID() }));
    const mac = createHmac('sha256', JSON.stringify(ehr.publicJwk)).update(`${header}.${payload}`).digest('base64url');
    expectRefused(await app.inject({ method: 'GET', url: '/cds-services', headers: bearer(`${header}.${payload}.${mac}`) }), 401, /algorithm is not accepted/);
  });

  it('refuses an unknown issuer, an unknown kid, a forged signature and junk', async () => {
    const aud = `${BASE}/cds-services`;
    const unknownIssuer = await (await makeIssuer('https://not-trusted.example')).sign({ aud });
    expectRefused(await app.inject({ method: 'GET', url: '/cds-services', headers: bearer(unknownIssuer) }), 401, /not a trusted issuer/);
    const unknownKid = await stranger.sign({ aud });
    expectRefused(await app.inject({ method: 'GET', url: '/cds-services', headers: bearer(unknownKid) }), 401, /no trusted key/);
    const forged = await stranger.sign({ aud }, { kid: ehr.kid });
    expectRefused(await app.inject({ method: 'GET', url: '/cds-services', headers: bearer(forged) }), 401, /signature/);
    const good = await ehr.sign({ aud });
    const tampered = good.replace(/\.([^.]+)\./, (_m, p: string) => `.${base64url.encode(JSON.stringify({ ...JSON.parse(new TextDecoder().decode(base64url.decode(p))), sub: 'admin' }))}.`);
    expectRefused(await app.inject({ method: 'GET', url: '/cds-services', headers: bearer(tampered) }), 401, /signature/);
    for (const header of ['Basic dXNlcjpwYXNz', 'Bearer', 'Bearer not.a.jwt', `Bearer ${'a'.repeat(10)}`]) {
      expect((await app.inject({ method: 'GET', url: '/cds-services', headers: { authorization: header } })).statusCode, header).toBe(401);
    }
  });

  it('fetches a JWK Set from its URL once, caches it, and picks the key by kid', async () => {
    for (let i = 0; i < 3; i++) {
      const res = await app.inject({ method: 'GET', url: '/cds-services', headers: bearer(await remote.sign({ aud: `${BASE}/cds-services` })) });
      expect(res.statusCode).toBe(200);
    }
    expect(jwksHost.calls).toEqual(['/jwks.json']);
  });

  it('answers a refusal with the CORS headers a browser-based EHR needs to read it', async () => {
    const res = await app.inject({ method: 'GET', url: '/cds-services', headers: { origin: 'https://ehr.example.org' } });
    expect(res.statusCode).toBe(401);
    expect(res.headers['access-control-allow-origin']).toBe('https://ehr.example.org');
  });

  it('does not read an unauthenticated body (refused before parsing)', async () => {
    const res = await app.inject({ method: 'POST', url: SERVICE, headers: { 'content-type': 'application/json' }, payload: '{"this is": not json' });
    expect(res.statusCode).toBe(401);
  });
});

describe('per-issuer FHIR servers', () => {
  let app: FastifyInstance;
  let fhir: RecordingServer;
  let allowed: TestIssuer;
  let other: TestIssuer;

  beforeAll(async () => {
    fhir = await startServer(fhirFromBundle(exampleBundle('sle-child-likely')));
    allowed = await makeIssuer('https://allowed-ehr.example');
    other = await makeIssuer('https://other-ehr.example');
    const trust = writeTrust({
      issuers: [
        { issuer: allowed.issuer, jwks: { keys: [allowed.publicJwk] }, fhirServers: [`${fhir.url}/fhir`] },
        { issuer: other.issuer, jwks: { keys: [other.publicJwk] }, fhirServers: ['https://fhir.other-hospital.example/r4'] },
      ],
      unauthenticatedFhirServers: ['http://127.0.0.1:*'],
    });
    app = testApp({}, { AUTH_MODE: 'on', TRUST_CONFIG: trust, PUBLIC_BASE_URL: BASE });
    await app.ready();
  });
  afterAll(async () => {
    await app.close();
    await fhir.close();
  });

  const serverHook = () => hookRequest(patientIdOf(exampleBundle('sle-child-likely')), { fhirServer: `${fhir.url}/fhir` });

  it('lets an issuer name the FHIR servers configured for it', async () => {
    const res = await app.inject({ method: 'POST', url: SERVICE, payload: serverHook(), headers: { authorization: `Bearer ${await allowed.sign({ aud: `${BASE}${SERVICE}` })}` } });
    expect(res.statusCode).toBe(200);
    expect(res.json().cards).toHaveLength(3);
    expect(fhir.calls.length).toBeGreaterThan(0);
  });

  it('refuses another issuer naming that server with 403, and sends it nothing', async () => {
    const before = fhir.calls.length;
    const res = await app.inject({ method: 'POST', url: SERVICE, payload: serverHook(), headers: { authorization: `Bearer ${await other.sign({ aud: `${BASE}${SERVICE}` })}` } });
    expectRefused(res, 403, /not a FHIR server this service is configured to trust/);
    expect(res.json().issue[0].expression).toEqual(['fhirServer']);
    expect(fhir.calls.length).toBe(before);
  });
});

describe('development mode and the development token endpoint', () => {
  it('says loudly at start-up that authentication is off', async () => {
    const log = new LogCapture();
    const app = testApp({ logStream: log }, { AUTH_MODE: 'off', LOG_LEVEL: 'warn' });
    await app.ready();
    await app.close();
    expect(log.text).toMatch(/AUTHENTICATION IS OFF/);
    expect(JSON.parse(log.lines.find((l) => l.includes('AUTHENTICATION IS OFF')) as string).level).toBe(40);
  });

  it('is authenticated by default (no AUTH_MODE), and with DEV_TRUST=1 the example trust file serves /dev/token whose tokens work once', async () => {
    const app = testApp({}, { AUTH_MODE: '', DEV_TRUST: '1', PORT: '3000' });
    await app.ready();
    try {
      expect((await app.inject({ method: 'GET', url: '/cds-services' })).statusCode).toBe(401);
      const aud = 'http://localhost:3000/cds-services/trialmatch-sle';
      const issued = await app.inject({ method: 'GET', url: `/dev/token?aud=${encodeURIComponent(aud)}` });
      expect(issued.statusCode).toBe(200);
      expect(issued.headers['cache-control']).toBe('no-store');
      const { token, expiresIn } = issued.json();
      expect(expiresIn).toBe(300);
      const [header] = token.split('.');
      expect(JSON.parse(new TextDecoder().decode(base64url.decode(header)))).toMatchObject({ alg: 'ES384', typ: 'JWT' });
      const res = await app.inject({ method: 'POST', url: '/cds-services/trialmatch-sle', payload: goodHook(), headers: { authorization: `Bearer ${token}` } });
      expect(res.statusCode).toBe(200);
      expect(res.json().cards).toHaveLength(3);
      // It signs only for this service's own URLs.
      const foreign = await app.inject({ method: 'GET', url: `/dev/token?aud=${encodeURIComponent('https://other-service.example/cds-services')}` });
      expectRefused(foreign, 400, /aud must be a URL of this service/);
      expect((await app.inject({ method: 'GET', url: '/dev/token' })).statusCode).toBe(400);
    } finally {
      await app.close();
    }
  });

  it('has no /dev/token (404) when the trust file does not enable it', async () => {
    const issuer = await makeIssuer('https://ehr.example.org');
    const trust = writeTrust({ issuers: [{ issuer: issuer.issuer, jwks: { keys: [issuer.publicJwk] } }] });
    const app = testApp({}, { AUTH_MODE: 'on', TRUST_CONFIG: trust });
    await app.ready();
    try {
      const res = await app.inject({ method: 'GET', url: `/dev/token?aud=${encodeURIComponent('http://localhost:3000/cds-services')}` });
      expect(res.statusCode).toBe(404);
    } finally {
      await app.close();
    }
  });
});

describe('trust file validation', () => {
  const cases: [string, unknown, RegExp][] = [
    ['a symmetric key', { issuers: [{ issuer: 'x', jwks: { keys: [{ kty: 'oct', k: 'c2VjcmV0', kid: 'a' }] } }] }, /symmetric/],
    ['a private key', { issuers: [{ issuer: 'x', jwks: { keys: [{ kty: 'EC', crv: 'P-384', x: 'a', y: 'b', d: 'c', kid: 'a' }] } }] }, /must be public/],
    ['a key without kid', { issuers: [{ issuer: 'x', jwks: { keys: [{ kty: 'EC', crv: 'P-384', x: 'a', y: 'b' }] } }] }, /kid/],
    ['neither jwks nor jwksUrl', { issuers: [{ issuer: 'x' }] }, /exactly one of jwks and jwksUrl/],
    ['a plain-http jwksUrl elsewhere', { issuers: [{ issuer: 'x', jwksUrl: 'http://keys.example/jwks' }] }, /https/],
    ['a bad FHIR server pattern', { issuers: [], unauthenticatedFhirServers: ['*.example.org'] }, /scheme:\/\/host/],
    ['a misspelt field', { issuers: [{ issuer: 'x', jwksUrl: 'https://k.example/jwks', fhirServer: ['https://f.example'] }] }, /fhirServer/],
  ];
  for (const [name, trust, message] of cases) {
    it(`stops the service at start on ${name}, naming the file`, () => {
      const file = writeTrust(trust);
      expect(() => testApp({}, { AUTH_MODE: 'on', TRUST_CONFIG: file })).toThrow(message);
      expect(() => testApp({}, { AUTH_MODE: 'on', TRUST_CONFIG: file })).toThrow(file);
    });
  }
});
