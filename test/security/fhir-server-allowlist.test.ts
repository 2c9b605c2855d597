import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { FhirServerAllowlist } from '../../src/security/fhir-server-allowlist.js';
import { exampleBundle, testApp } from '../support/app.js';
import { hookRequest, patientIdOf, prefetchFor } from '../support/hook-request.js';
import { fhirFromBundle, startServer, writeTrust, type RecordingServer } from './helpers.js';

const SERVICE = '/cds-services/trialmatch-sle';
const PATIENT = patientIdOf(exampleBundle('sle-child-likely'));

describe('FHIR server patterns', () => {
  const list = new FhirServerAllowlist(['https://fhir.hospital.example/r4', 'http://127.0.0.1:*', 'https://[::1]:8443']);
  const cases: [string, boolean][] = [
    ['https://fhir.hospital.example/r4', true],
    ['https://fhir.hospital.example/r4/', true],
    ['https://FHIR.Hospital.example/r4/sub', true],
    ['https://fhir.hospital.example:443/r4', true],
    ['https://fhir.hospital.example/r4evil', false],
    ['https://fhir.hospital.example/', false],
    ['http://fhir.hospital.example/r4', false],
    ['https://fhir.hospital.example:8443/r4', false],
    ['https://fhir.hospital.example.evil.org/r4', false],
    ['https://user:pw@fhir.hospital.example/r4', false],
    ['https://fhir.hospital.example/r4?x=1', false],
    ['https://fhir.hospital.example/r4/../admin', false],
    // Issue #20 item 5: paths a server reads as another than the one checked (Tomcat strips ';' parameters).
    ['https://fhir.hospital.example/r4/..;/admin', false],
    ['https://fhir.hospital.example/r4/..%2fadmin', false],
    ['https://fhir.hospital.example/r4/%2e%2e/admin', false],
    ['https://fhir.hospital.example/r4/..%5cadmin', false],
    ['https://fhir.hospital.example/r4;jsessionid=1', false],
    ['http://127.0.0.1:8080/fhir', true],
    ['http://127.0.0.1/fhir', true],
    ['http://127.0.0.2:8080/fhir', false],
    ['http://localhost:8080/fhir', false],
    ['http://2130706433/fhir', true],
    ['https://[::1]:8443/fhir', true],
    ['not a url', false],
  ];
  for (const [url, expected] of cases) {
    it(`${expected ? 'allows' : 'refuses'} ${url}`, () => expect(list.allows(url)).toBe(expected));
  }
});

describe('fhirServer allowlist', () => {
  let fhir: RecordingServer;
  let redirectTarget: RecordingServer;
  let redirecting: RecordingServer;
  beforeAll(async () => {
    fhir = await startServer(fhirFromBundle(exampleBundle('sle-child-likely')));
    redirectTarget = await startServer(fhirFromBundle(exampleBundle('sle-child-likely')));
    redirecting = await startServer((req, res) => {
      res.statusCode = 302;
      res.setHeader('location', `${redirectTarget.url}${req.url ?? '/'}`);
      res.end();
    });
  });
  afterAll(async () => {
    await fhir.close();
    await redirectTarget.close();
    await redirecting.close();
  });

  describe('with a trust file that allows only a hospital server', () => {
    let app: FastifyInstance;
    beforeAll(async () => {
      app = testApp({}, { TRUST_CONFIG: writeTrust({ issuers: [], unauthenticatedFhirServers: ['https://fhir.hospital.example/r4'] }) });
      await app.ready();
    });
    afterAll(() => app.close());

    it('refuses a hook naming any other fhirServer with 403, and no request leaves the service', async () => {
      const res = await app.inject({ method: 'POST', url: SERVICE, payload: hookRequest(PATIENT, { fhirServer: `${fhir.url}/fhir` }) });
      expect(res.statusCode).toBe(403);
      expect(res.json()).toMatchObject({ resourceType: 'OperationOutcome', issue: [{ code: 'forbidden', expression: ['fhirServer'] }] });
      expect(fhir.calls).toEqual([]);
    });

    it('refuses it even when the prefetch is complete and the server would not be needed', async () => {
      const bundle = exampleBundle('sle-child-likely');
      const res = await app.inject({ method: 'POST', url: SERVICE, payload: hookRequest(PATIENT, { fhirServer: `${fhir.url}/fhir`, prefetch: prefetchFor(bundle) }) });
      expect(res.statusCode).toBe(403);
      expect(fhir.calls).toEqual([]);
    });

    it('refuses it on the /trials evaluation that reads from a server too', async () => {
      const res = await app.inject({ method: 'POST', url: '/trials/$evaluate-from-server', payload: { fhirServer: `${fhir.url}/fhir`, patientId: PATIENT } });
      expect(res.statusCode).toBe(403);
      expect(fhir.calls).toEqual([]);
    });
  });

  describe('with the example trust file (loopback allowed)', () => {
    let app: FastifyInstance;
    beforeAll(async () => {
      app = testApp({}, { FHIR_TIMEOUT_MS: '2000' });
      await app.ready();
    });
    afterAll(() => app.close());

    it('fetches from a FHIR server on this machine', async () => {
      const res = await app.inject({ method: 'POST', url: SERVICE, payload: hookRequest(PATIENT, { fhirServer: `${fhir.url}/fhir` }) });
      expect(res.statusCode).toBe(200);
      expect(res.json().cards).toHaveLength(3);
      // One search per prefetch key (the patient and eight record types), and the two counts that prove the
      // filtered Procedure search whole (issue #21 item 4).
      expect(fhir.calls.length).toBe(11);
    });

    it('refuses a server off this machine', async () => {
      const res = await app.inject({ method: 'POST', url: SERVICE, payload: hookRequest(PATIENT, { fhirServer: 'http://169.254.169.254/latest/meta-data' }) });
      expect(res.statusCode).toBe(403);
    });

    it('does not follow a redirect, even to an allowed server: the data is unknown and the card says so', async () => {
      const bundle = exampleBundle('sle-child-likely');
      const { observations: _o, ...prefetch } = prefetchFor(bundle);
      const res = await app.inject({ method: 'POST', url: SERVICE, payload: hookRequest(PATIENT, { fhirServer: `${redirecting.url}/fhir`, prefetch }) });
      expect(res.statusCode).toBe(200);
      expect(redirecting.calls.length).toBe(1);
      expect(redirectTarget.calls).toEqual([]);
      const { cards } = res.json();
      expect(cards.length).toBeGreaterThan(0);
      for (const card of cards) expect(card.detail).toContain('Part of the record could not be read from the EHR');
    });
  });
});
