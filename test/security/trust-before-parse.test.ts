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
