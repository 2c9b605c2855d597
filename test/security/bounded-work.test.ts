import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { ADVERSARIAL_KINDS, adversarialBundle } from '../support/adversarial.js';
import { convertUnit, UnitBudget } from '../../src/engine/units.js';
import { testApp } from '../support/app.js';
import { hookRequest, patientIdOf, prefetchFor } from '../support/hook-request.js';
import { makeIssuer, writeTrust } from './helpers.js';

// Issue #12 item 2: one request must not stop the service. Before the caps, a 135 KiB valueString took 21 s
// and a 64 KB UCUM unit 7 s, with /healthz blocked meanwhile. The bound is generous for a shared 2-core machine.
const BOUND_MS = 3000;

describe('bounded work per request (issue #12 item 2)', () => {
  let app: FastifyInstance;
  beforeAll(async () => {
    app = testApp();
    await app.ready();
  });
  afterAll(async () => app.close());

  it('answers every adversarial record within the bound, on both paths, and /healthz keeps answering', async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...ADVERSARIAL_KINDS), fc.constantFrom('hook', 'evaluate'), fc.double({ min: 0.5, max: 1, noNaN: true }), async (kind, path, scale) => {
        const bundle = adversarialBundle(kind, scale);
        const started = performance.now();
        const body = JSON.stringify(path === 'hook' ? hookRequest(patientIdOf(bundle), { prefetch: prefetchFor(bundle) }) : bundle);
        const res = await app.inject({ method: 'POST', url: path === 'hook' ? '/cds-services/trialmatch-sle' : '/trials/$evaluate', payload: body, headers: { 'content-type': 'application/json' } });
        const took = performance.now() - started;
        expect(took, `${kind} via ${path} took ${took.toFixed(0)} ms`).toBeLessThan(BOUND_MS);
        // Hostile data is the caller's bad input (4xx) or read as unknown (200), never a crash.
        expect(res.statusCode, `${kind} via ${path}: ${res.body.slice(0, 200)}`).toBeLessThan(500);
        const health = await app.inject({ method: 'GET', url: '/healthz' });
        expect(health.statusCode).toBe(200);
      }),
      { numRuns: 16 },
    );
  });

  it('sets the server timeouts and connection caps from the configuration', async () => {
    const configured = testApp({}, { REQUEST_TIMEOUT_MS: '20000', HEADERS_TIMEOUT_MS: '7000', KEEP_ALIVE_TIMEOUT_MS: '4000', MAX_CONNECTIONS: '300', MAX_REQUESTS_PER_SOCKET: '50' });
    await configured.ready();
    try {
      expect(configured.server.requestTimeout).toBe(20000);
      expect(configured.server.headersTimeout).toBe(7000);
      expect(configured.server.keepAliveTimeout).toBe(4000);
      expect(configured.server.maxConnections).toBe(300);
      expect(configured.server.maxRequestsPerSocket).toBe(50);
    } finally {
      await configured.close();
    }
    const defaults = testApp();
    await defaults.ready();
    try {
      // Defaults: none of them unlimited (requestTimeout 0 let a slow body hold a socket for ever).
      expect(defaults.server.requestTimeout).toBeGreaterThan(0);
      expect(defaults.server.headersTimeout).toBeGreaterThan(0);
      expect(defaults.server.timeout).toBeGreaterThan(0);
      expect(defaults.server.maxConnections).toBeGreaterThan(0);
    } finally {
      await defaults.close();
    }
  });
});

describe('rate limits (issue #12 item 2)', () => {
  it('limits requests per verified issuer, each issuer on its own budget, and never /healthz', async () => {
    const a = await makeIssuer('https://ehr-a.example');
    const b = await makeIssuer('https://ehr-b.example');
    const trust = writeTrust({ issuers: [a, b].map((i) => ({ issuer: i.issuer, jwks: { keys: [i.publicJwk] } })) });
    const BASE = 'http://cds.test';
    const app = testApp({}, { AUTH_MODE: 'on', TRUST_CONFIG: trust, PUBLIC_BASE_URL: BASE, RATE_LIMIT: 'on', RATE_LIMIT_PER_MINUTE: '3' });
    await app.ready();
    try {
      const call = async (issuer: typeof a) => app.inject({ method: 'GET', url: '/trials', headers: { authorization: `Bearer ${await issuer.sign({ aud: `${BASE}/trials` })}` } });
      for (let i = 0; i < 3; i++) expect((await call(a)).statusCode).toBe(200);
      const limited = await call(a);
      expect(limited.statusCode).toBe(429);
      expect(limited.headers['content-type']).toMatch(/application\/fhir\+json/);
      expect(limited.json().issue[0].code).toBe('throttled');
      expect((await call(b)).statusCode).toBe(200);
      for (let i = 0; i < 5; i++) expect((await app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
    } finally {
      await app.close();
    }
  });

  it('answers 429 without verifying once an address has sent too many bad tokens; RATE_LIMIT=off turns it off', async () => {
    const ehr = await makeIssuer('https://ehr.example');
    const forger = await makeIssuer('https://ehr.example'); // same iss, keys the service does not trust
    const trust = writeTrust({ issuers: [{ issuer: ehr.issuer, jwks: { keys: [ehr.publicJwk] } }] });
    const BASE = 'http://cds.test';
    for (const [switchValue, expected] of [['on', 429], ['off', 401]] as const) {
      const app = testApp({}, { AUTH_MODE: 'on', TRUST_CONFIG: trust, PUBLIC_BASE_URL: BASE, RATE_LIMIT: switchValue, AUTH_FAILURES_PER_MINUTE: '3' });
      await app.ready();
      try {
        const forged = async () => app.inject({ method: 'GET', url: '/trials', headers: { authorization: `Bearer ${await forger.sign({ aud: `${BASE}/trials` })}` } });
        for (let i = 0; i < 3; i++) expect((await forged()).statusCode).toBe(401);
        const next = await forged();
        expect(next.statusCode, `RATE_LIMIT=${switchValue}`).toBe(expected);
        if (expected === 429) {
          expect(next.json().issue[0].diagnostics).toMatch(/refused tokens/);
          expect(next.headers['retry-after']).toBe('60');
        }
      } finally {
        await app.close();
      }
    }
  });
});

describe('UCUM units (issue #12 item 2)', () => {
  it('refuses a unit longer than the cap without parsing it: 40 different 64 KB units convert to nothing at once', () => {
    const started = performance.now();
    for (let i = 0; i < 40; i++) {
      const r = convertUnit(12, `${'U/'.repeat(32 * 1024)}${i}`, 'U/L', new UnitBudget());
      expect(r.ok).toBe(false);
    }
    expect(performance.now() - started).toBeLessThan(500);
  });

  it('never hands the UCUM parser a unit with blanks, which it would print to stdout (house rule 5: no record data in the log)', () => {
    const printed: unknown[] = [];
    const original = console.log;
    console.log = (...args: unknown[]) => void printed.push(args);
    try {
      expect(convertUnit(12, 'mg per dL MARKER-7731', 'g/L', new UnitBudget()).ok).toBe(false);
    } finally {
      console.log = original;
    }
    expect(printed).toEqual([]);
  });

  it('still converts real units, the same on a repeated call', () => {
    for (let i = 0; i < 2; i++) {
      expect(convertUnit(12.5, 'g/dL', 'g/L', new UnitBudget())).toEqual({ ok: true, value: 125 });
      expect(convertUnit(37, 'Cel', '[degF]', new UnitBudget())).toEqual({ ok: true, value: 98.6 });
    }
  });
});
