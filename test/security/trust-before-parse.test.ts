import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { testApp } from '../support/app.js';

/**
 * Issue #20 item 1: nothing is parsed before it is trusted. A body the service parses shows itself by its parse
 * error: invalid JSON answered 400 means the parser ran; 404 or 401 means it never did. (On today's main a
 * 10 MiB body nested 4 million deep sent to an unknown path blocked /healthz for seconds.)
 */
describe('trust before parse', () => {
  let app: FastifyInstance;
  beforeAll(async () => {
    app = testApp({}, { AUTH_MODE: 'on' });
    await app.ready();
  });
  afterAll(async () => app.close());

  const notJson = '{"a": [1, 2, ';

  it('answers a path no route serves with 404 without reading its body', async () => {
    for (const url of ['/nope', '/cds-services-x', '/fhir/Patient', '/smart/nope.json']) {
      const res = await app.inject({ method: 'POST', url, payload: notJson, headers: { 'content-type': 'application/json' } });
      expect(res.statusCode, url).toBe(404);
      expect(res.json()).toMatchObject({ resourceType: 'OperationOutcome', issue: [{ code: 'not-found', diagnostics: `no route for POST ${url}` }] });
    }
  });

  it('rate limits paths no route serves per client address, still before reading the body, and other clients go on', async () => {
    const limited = testApp({}, { AUTH_MODE: 'on', RATE_LIMIT: 'on', RATE_LIMIT_PER_MINUTE: '5' });
    try {
      const post = (remoteAddress: string) => limited.inject({ method: 'POST', url: '/nope', remoteAddress, payload: notJson, headers: { 'content-type': 'application/json' } });
      for (let i = 0; i < 5; i++) expect((await post('203.0.113.7')).statusCode).toBe(404);
      const refused = await post('203.0.113.7');
      expect(refused.statusCode).toBe(429);
      expect(refused.json()).toMatchObject({ resourceType: 'OperationOutcome', issue: [{ diagnostics: expect.stringMatching(/paths this service does not serve/) }] });
      expect((await post('203.0.113.8')).statusCode).toBe(404);
      expect((await limited.inject({ method: 'GET', url: '/healthz', remoteAddress: '203.0.113.7' })).statusCode).toBe(200);
    } finally {
      await limited.close();
    }
  });

  it('answers an unauthenticated call to a protected route with 401 without reading its body', async () => {
    for (const url of ['/cds-services/trialmatch-sle', '/cds-services/trialmatch-sle/feedback', '/trials/$evaluate']) {
      const res = await app.inject({ method: 'POST', url, payload: notJson, headers: { 'content-type': 'application/json' } });
      expect(res.statusCode, url).toBe(401);
    }
  });

  it('checks the SMART app\'s token before reading its body: no token, 401 without a parse error', async () => {
    const res = await app.inject({ method: 'POST', url: '/smart/$evaluate', payload: notJson, headers: { 'content-type': 'application/json' } });
    expect(res.statusCode).toBe(401);
  });

  it('still parses, and refuses with 400, invalid JSON on an open route that takes a body when the caller is let in', async () => {
    const open = testApp({}, { AUTH_MODE: 'off' });
    try {
      const res = await open.inject({ method: 'POST', url: '/trials/$evaluate', payload: notJson, headers: { 'content-type': 'application/json' } });
      expect(res.statusCode).toBe(400);
    } finally {
      await open.close();
    }
  });
});
