import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { createDevTokenSigner } from '../../src/security/dev-token.js';
import { loadTrustConfig } from '../../src/security/trust-config.js';
import { LogCapture, ROOT, exampleBundle, testApp } from '../support/app.js';
import { hookRequest, patientIdOf, prefetchFor } from '../support/hook-request.js';
import { BASE, makeIssuer, writeTrust } from './helpers.js';

// Issue #12 item 1: secure by default. testApp() runs like `npm start` (DEV_TRUST=1); DEV_TRUST: '' here is
// the environment of a process started without it (the Docker image, `node dist/src/server.js`).
const NO_DEV = { AUTH_MODE: '', DEV_TRUST: '', PORT: '3000' };
const SERVICE = '/cds-services/trialmatch-sle';

/** A token signed with the committed development key, as anyone who cloned the repository can make one. */
async function devKeyToken(aud: string): Promise<string> {
  const trust = loadTrustConfig(resolve(ROOT, 'config', 'trust.example.json'));
  return createDevTokenSigner(trust.issuers[0]!).sign(aud);
}

describe('secure defaults (issue #12 item 1)', () => {
  it('binds 127.0.0.1 unless HOST says otherwise', () => {
    expect(loadConfig({}).host).toBe('127.0.0.1');
    expect(loadConfig({ HOST: '0.0.0.0' }).host).toBe('0.0.0.0');
  });

  it('without TRUST_CONFIG or DEV_TRUST trusts no issuer: the committed development key gets a 401, /dev/token is absent, and it warns', async () => {
    const log = new LogCapture();
    const app = testApp({ logStream: log }, { ...NO_DEV, LOG_LEVEL: 'warn' });
    await app.ready();
    try {
      const aud = `http://localhost:3000${SERVICE}`;
      const bundle = exampleBundle('sle-child-likely');
      const res = await app.inject({ method: 'POST', url: SERVICE, payload: hookRequest(patientIdOf(bundle), { prefetch: prefetchFor(bundle) }), headers: { authorization: `Bearer ${await devKeyToken(aud)}` } });
      expect(res.statusCode).toBe(401);
      expect((await app.inject({ method: 'GET', url: `/dev/token?aud=${encodeURIComponent(aud)}` })).statusCode).toBe(404);
      expect(log.text).toMatch(/NO TRUST CONFIGURATION/);
    } finally {
      await app.close();
    }
  });

  it('refuses the development trust file given as TRUST_CONFIG without DEV_TRUST=1', () => {
    expect(() => testApp({}, { ...NO_DEV, TRUST_CONFIG: resolve(ROOT, 'config', 'trust.example.json') })).toThrow(/development issuer.*DEV_TRUST=1/);
  });

  it('serves the demo page and the example patients only with DEMO=1, as npm start sets it (issue #20 item 6)', async () => {
    const plain = testApp({}, { ...NO_DEV, DEMO: '' });
    const demo = testApp({}, { ...NO_DEV, DEMO: '1' });
    try {
      for (const url of ['/demo/', '/demo/index.html', '/demo/app.js', '/examples', '/examples/sle-child-likely/bundle']) expect((await plain.inject({ method: 'GET', url })).statusCode, url).toBe(404);
      // The SMART app and the coordinator's worklist load these from /demo/: without them neither app renders
      // in a production process (found when the worklist was built on the SMART app's page).
      const appPages = ['/smart/index.html', '/coordinator/index.html'].map((url) => readFileSync(resolve(ROOT, 'public', url.startsWith('/smart') ? 'smart/index.html' : 'worklist/index.html'), 'utf8'));
      const shared = [...new Set(appPages.join('\n').match(/\/demo\/[a-z]+\.(?:css|js)/g) ?? [])];
      expect(shared.length).toBeGreaterThan(0);
      for (const url of [...shared, '/demo/render.js', '/demo/fhir.js', '/demo/api.js', '/demo/vendor/marked/marked.esm.js']) expect((await plain.inject({ method: 'GET', url })).statusCode, url).toBe(200);
      const root = await plain.inject({ method: 'GET', url: '/' });
      expect(root.statusCode).toBe(200);
      expect(root.json()).toMatchObject({ service: 'TrialMatch CDS', discovery: '/cds-services' });
      expect((await demo.inject({ method: 'GET', url: '/demo/' })).statusCode).toBe(200);
      expect((await demo.inject({ method: 'GET', url: '/examples' })).statusCode).toBe(200);
      expect((await demo.inject({ method: 'GET', url: '/' })).headers.location).toBe('/demo/');
      const pkg = JSON.parse(readFileSync(resolve(ROOT, 'package.json'), 'utf8')) as { scripts: { start: string } };
      expect(pkg.scripts.start).toMatch(/\bDEMO=1\b/);
    } finally {
      await plain.close();
      await demo.close();
    }
  });

  it('keeps the development key and the example trust files out of the production image (.dockerignore)', () => {
    const ignored = readFileSync(resolve(ROOT, '.dockerignore'), 'utf8').split('\n').map((l) => l.trim());
    for (const file of ['config/dev-issuer.private.jwk.json', 'config/trust.example.json', 'config/trust.test.json']) expect(ignored, file).toContain(file);
  });

  it('refuses a trust file copied from the example without devTokenEndpoint: it still lists the public development key (issue #20 item 6)', () => {
    const example = JSON.parse(readFileSync(resolve(ROOT, 'config', 'trust.example.json'), 'utf8')) as { issuers: Record<string, unknown>[] };
    const { devTokenEndpoint: _d, privateJwkFile: _p, ...issuer } = example.issuers[0]!;
    const copied = writeTrust({ ...example, issuers: [{ ...issuer, issuer: 'https://ehr.hospital.example' }] });
    expect(() => testApp({}, { ...NO_DEV, AUTH_MODE: 'on', TRUST_CONFIG: copied, PUBLIC_BASE_URL: BASE })).toThrow(/development key.*DEV_TRUST=1/);
  });

  it('in production refuses to start without TRUST_CONFIG and PUBLIC_BASE_URL, and refuses DEV_TRUST and AUTH_MODE=off', () => {
    const trust = writeTrust({ issuers: [] });
    expect(() => loadConfig({ NODE_ENV: 'production', PUBLIC_BASE_URL: BASE })).toThrow(/TRUST_CONFIG/);
    expect(() => loadConfig({ NODE_ENV: 'production', TRUST_CONFIG: trust })).toThrow(/PUBLIC_BASE_URL/);
    expect(() => loadConfig({ NODE_ENV: 'production', TRUST_CONFIG: trust, PUBLIC_BASE_URL: BASE, DEV_TRUST: '1' })).toThrow(/DEV_TRUST is refused/);
    expect(() => loadConfig({ NODE_ENV: 'production', TRUST_CONFIG: trust, PUBLIC_BASE_URL: BASE, AUTH_MODE: 'off' })).toThrow(/AUTH_MODE=off/);
    // Issue #20 item 6: /metrics is not open in production.
    expect(() => loadConfig({ NODE_ENV: 'production', TRUST_CONFIG: trust, PUBLIC_BASE_URL: BASE })).toThrow(/METRICS_TOKEN/);
    expect(loadConfig({ NODE_ENV: 'production', TRUST_CONFIG: trust, PUBLIC_BASE_URL: BASE, METRICS: 'off' }).production).toBe(true);
    expect(loadConfig({ NODE_ENV: 'production', TRUST_CONFIG: trust, PUBLIC_BASE_URL: BASE, METRICS_TOKEN: 'a-long-metrics-token-123' }).production).toBe(true);
  });

  it('allows CORS only from the trust file\'s corsOrigins, never reflecting any origin', async () => {
    const ehr = await makeIssuer('https://ehr.example.org');
    const trust = writeTrust({ issuers: [{ issuer: ehr.issuer, jwks: { keys: [ehr.publicJwk] } }], corsOrigins: ['https://ehr.example.org', 'http://127.0.0.1:*'] });
    const app = testApp({}, { ...NO_DEV, AUTH_MODE: 'on', TRUST_CONFIG: trust, PUBLIC_BASE_URL: BASE });
    await app.ready();
    try {
      const preflight = (origin: string) =>
        app.inject({ method: 'OPTIONS', url: '/cds-services', headers: { origin, 'access-control-request-method': 'GET', 'access-control-request-headers': 'authorization' } });
      expect((await preflight('https://ehr.example.org')).headers['access-control-allow-origin']).toBe('https://ehr.example.org');
      expect((await preflight('http://127.0.0.1:5173')).headers['access-control-allow-origin']).toBe('http://127.0.0.1:5173');
      for (const evil of ['https://evil.example', 'http://ehr.example.org', 'https://ehr.example.org.evil.example', 'null']) {
        expect((await preflight(evil)).headers['access-control-allow-origin'], evil).toBeUndefined();
      }
    } finally {
      await app.close();
    }
  });

  it('refuses plain-http FHIR servers off this machine in the trust file; loopback http stays allowed', () => {
    for (const server of ['http://fhir.hospital.example/r4', 'http://10.0.0.5:8080/fhir', 'http://*']) {
      const file = writeTrust({ issuers: [{ issuer: 'x', jwksUrl: 'https://k.example/jwks', fhirServers: [server] }] });
      expect(() => testApp({}, { AUTH_MODE: 'on', TRUST_CONFIG: file }), server).toThrow(/https/);
      const open = writeTrust({ issuers: [], unauthenticatedFhirServers: [server] });
      expect(() => testApp({}, { TRUST_CONFIG: open }), server).toThrow(/https/);
    }
    const ok = writeTrust({ issuers: [{ issuer: 'x', jwksUrl: 'https://k.example/jwks', fhirServers: ['https://fhir.hospital.example/r4', 'http://127.0.0.1:*', 'http://localhost:8080/fhir', 'http://[::1]:*'] }] });
    expect(() => testApp({}, { AUTH_MODE: 'on', TRUST_CONFIG: ok })).not.toThrow();
  });
});
