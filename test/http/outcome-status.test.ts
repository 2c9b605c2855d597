import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import {
  badRequest,
  contentTooLarge,
  forbidden,
  notFound,
  preconditionFailed,
  serviceUnavailable,
  unauthorized,
  unsupportedMediaType,
  type OperationOutcomeError,
} from '../../src/fhir/outcomes.js';
import { statusOf } from '../../src/http/error-handler.js';
import { BASE, makeIssuer, writeTrust, type TestIssuer } from '../security/helpers.js';
import { testApp } from '../support/app.js';

/**
 * Refusals are outcomes; the status is derived from the outcome in the one error handler (medplum's
 * getStatus, plus the three statuses it does not know). Each builder names what went wrong, never a status.
 */
describe('the status of a refusal, derived from its outcome', () => {
  const cases: [string, OperationOutcomeError, number][] = [
    ['a bad request', badRequest('x', ['a']), 400],
    ['an unauthenticated client', unauthorized('x', 'login'), 401],
    ['an expired token', unauthorized('x', 'expired'), 401],
    ['a forbidden FHIR server', forbidden('x', ['fhirServer']), 403],
    ['an unknown route or id', notFound('x'), 404],
    ['prefetch that cannot be had', preconditionFailed('x', ['prefetch.k']), 412],
    ['a call carrying too much', contentTooLarge('x'), 413],
    ['a body in another format', unsupportedMediaType('x'), 415],
    ['a check the service cannot make now', serviceUnavailable('x'), 503],
  ];
  for (const [name, error, status] of cases) {
    it(`answers ${name} with ${status}`, () => {
      expect(statusOf(error.outcome)).toBe(status);
      expect(error.outcome.issue?.[0]?.diagnostics).toBe('x');
      expect(error.message).toContain('x');
    });
  }

  it('keeps the issue code and expression the clients read', () => {
    expect(preconditionFailed('missing', ['prefetch.k']).outcome.issue).toEqual([{ severity: 'error', code: 'required', diagnostics: 'missing', expression: ['prefetch.k'] }]);
    expect(contentTooLarge('big').outcome.issue?.[0]?.code).toBe('too-costly');
  });
});

describe('a refusal the service cannot decide now (JTI_CACHE_SIZE full)', () => {
  let app: FastifyInstance;
  let ehr: TestIssuer;

  beforeAll(async () => {
    ehr = await makeIssuer('https://ehr.example.org');
    const trust = writeTrust({ issuers: [{ issuer: ehr.issuer, jwks: { keys: [ehr.publicJwk] }, fhirServers: [] }] });
    app = testApp({}, { AUTH_MODE: 'on', TRUST_CONFIG: trust, PUBLIC_BASE_URL: BASE, JTI_CACHE_SIZE: '1' });
    await app.ready();
  });
  afterAll(async () => app.close());

  it('answers 503 with a transient outcome and no WWW-Authenticate, then 401 for a replayed token', async () => {
    const aud = `${BASE}/cds-services`;
    const first = await ehr.sign({ aud });
    expect((await app.inject({ method: 'GET', url: '/cds-services', headers: { authorization: `Bearer ${first}` } })).statusCode).toBe(200);
    const busy = await app.inject({ method: 'GET', url: '/cds-services', headers: { authorization: `Bearer ${await ehr.sign({ aud })}` } });
    expect(busy.statusCode).toBe(503);
    expect(busy.headers['www-authenticate']).toBeUndefined();
    expect(busy.json()).toMatchObject({ resourceType: 'OperationOutcome', issue: [{ code: 'transient', diagnostics: expect.stringMatching(/too many live tokens/) }] });
    const replayed = await app.inject({ method: 'GET', url: '/cds-services', headers: { authorization: `Bearer ${first}` } });
    expect(replayed.statusCode).toBe(401);
    expect(replayed.headers['www-authenticate']).toMatch(/invalid_token/);
  });
});
