import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance, InjectOptions } from 'fastify';
import type { Bundle } from '@medplum/fhirtypes';
import { prefetchFromBundle } from '../../src/examples/example-patients.js';
import { LogCapture, exampleBundle, testApp } from '../support/app.js';
import { BASE, fhirFromBundle, makeIssuer, startServer, writeTrust, type RecordingServer, type TestIssuer } from './helpers.js';

/**
 * House rule 8: never log patient data or tokens. Every route is called, at LOG_LEVEL=trace, with a marker in
 * the patient's name, ids, values, units, free text, the FHIR access token and the client's bearer token, on
 * good and error paths; the marker must never reach the log.
 */
const MARKER = 'ZZMARKER';
const SERVICE = '/cds-services/trialmatch-sle';

/** The sle-child-likely example with the marker in its patient id, name, values, units and notes. */
function markedBundle(): Bundle {
  const text = JSON.stringify(exampleBundle('sle-child-likely')).replaceAll('sle-child-likely', `${MARKER}-child`);
  const bundle = JSON.parse(text) as Bundle;
  let i = 0;
  for (const entry of bundle.entry ?? []) {
    const r = entry.resource as any;
    if (r.resourceType === 'Patient') {
      r.name = [{ family: `${MARKER}family`, given: [`${MARKER}given`] }];
      r.telecom = [{ system: 'phone', value: `${MARKER}-555-0100` }];
    }
    if (r.resourceType === 'Observation') {
      r.note = [{ text: `${MARKER} note` }];
      // Some values the engine cannot read: a unit it does not know, a number as a string.
      if (i++ % 3 === 0 && r.valueQuantity) r.valueQuantity = { value: r.valueQuantity.value, unit: `${MARKER}unit`, system: 'http://unitsofmeasure.org', code: `${MARKER}unit` };
      else if (i % 3 === 1 && r.valueQuantity) r.valueQuantity = { value: `${MARKER}42`, unit: r.valueQuantity.unit };
    }
    if (r.resourceType === 'Condition') r.code = { ...r.code, text: `${MARKER} lupus` };
    if (r.resourceType === 'MedicationStatement') r.note = [{ text: `${MARKER} medication note` }];
  }
  return bundle;
}

describe('no patient data or tokens in the log', () => {
  const log = new LogCapture();
  let app: FastifyInstance;
  let ehr: TestIssuer;
  let fhir: RecordingServer;
  let failing: RecordingServer;
  const bundle = markedBundle();
  const patientId = `${MARKER}-child`;
  const prefetch = prefetchFromBundle(bundle);
  const fhirAuthorization = { access_token: `${MARKER}-access-token`, token_type: 'Bearer', expires_in: 300, scope: `patient/*.read ${MARKER}`, subject: `${MARKER}-subject`, patient: patientId };

  beforeAll(async () => {
    ehr = await makeIssuer('https://ehr.example.org');
    fhir = await startServer(fhirFromBundle(bundle));
    failing = await startServer((_req, res) => {
      res.statusCode = 500;
      res.setHeader('content-type', 'text/html');
      res.end(`<html>${MARKER} stack trace with patient ${patientId}</html>`);
    });
    const trust = writeTrust({ issuers: [{ issuer: ehr.issuer, jwks: { keys: [ehr.publicJwk] }, fhirServers: ['http://127.0.0.1:*'] }] });
    app = testApp({ logStream: log }, { AUTH_MODE: 'on', TRUST_CONFIG: trust, PUBLIC_BASE_URL: BASE, LOG_LEVEL: 'trace', BODY_LIMIT_BYTES: '300000' });
    await app.ready();
  });
  afterAll(async () => {
    await app.close();
    await fhir.close();
    await failing.close();
  });

  async function call(options: InjectOptions & { url: string }, auth: 'token' | 'none' | 'marker' = 'token'): Promise<{ status: number; body: string }> {
    const headers: Record<string, string> = { ...(options.headers as Record<string, string> | undefined) };
    const path = options.url.split('?')[0] as string;
    if (auth === 'token') headers.authorization = `Bearer ${await ehr.sign({ aud: `${BASE}${path}`, sub: `${MARKER}-user`, jti: `${MARKER}-${randomUUID()}` })}`;
    if (auth === 'marker') headers.authorization = `Bearer ${MARKER}.${MARKER}.${MARKER}`;
    headers['x-patient'] = MARKER;
    headers.cookie = `session=${MARKER}`;
    const res = await app.inject({ ...options, headers });
    return { status: res.statusCode, body: res.body };
  }

  it('runs every route, good and bad, without the marker reaching the log', async () => {
    const hook = (extra: Record<string, unknown>) => ({ hook: 'patient-view', hookInstance: randomUUID(), context: { userId: `Practitioner/${MARKER}`, patientId, encounterId: MARKER }, ...extra });
    const statuses: Record<string, number> = {};
    const run = async (name: string, options: InjectOptions & { url: string }, auth?: 'token' | 'none' | 'marker') => {
      statuses[name] = (await call(options, auth)).status;
    };

    await run('discovery', { method: 'GET', url: '/cds-services' });
    await run('discovery, marker token', { method: 'GET', url: '/cds-services' }, 'marker');
    await run('discovery, no token', { method: 'GET', url: `/cds-services?${MARKER}=1` }, 'none');
    await run('hook with prefetch', { method: 'POST', url: SERVICE, payload: hook({ prefetch }) });
    const { cards } = JSON.parse((await call({ method: 'POST', url: SERVICE, payload: hook({ prefetch }) })).body);
    await run('hook from the FHIR server', { method: 'POST', url: SERVICE, payload: hook({ fhirServer: `${fhir.url}/fhir`, fhirAuthorization }) });
    await run('hook, FHIR server failing', { method: 'POST', url: SERVICE, payload: hook({ prefetch: { ...prefetch, observations: undefined }, fhirServer: `${failing.url}/fhir`, fhirAuthorization }) });
    await run('hook, FHIR server not allowed', { method: 'POST', url: SERVICE, payload: hook({ fhirServer: `https://${MARKER}.example/fhir`, fhirAuthorization }) });
    await run('hook, another patient', { method: 'POST', url: SERVICE, payload: hook({ prefetch, context: { patientId: `${MARKER}-other` } }) });
    await run('hook, bad hookInstance', { method: 'POST', url: SERVICE, payload: { ...hook({ prefetch }), hookInstance: MARKER } });
    await run('hook, bad patientId', { method: 'POST', url: SERVICE, payload: hook({ context: { patientId: `${MARKER} <script>` } }) });
    await run('hook, wrong hook', { method: 'POST', url: SERVICE, payload: hook({ hook: MARKER, prefetch }) });
    await run('hook, unknown service', { method: 'POST', url: `/cds-services/${MARKER}`, payload: hook({ prefetch }) });
    await run('hook, bad JSON', { method: 'POST', url: SERVICE, headers: { 'content-type': 'application/json' }, payload: `{"name": "${MARKER}", ` });
    await run('hook, too large', { method: 'POST', url: SERVICE, payload: hook({ prefetch: { observations: { resourceType: 'Bundle', note: MARKER.repeat(40_000) } } }) });
    await run('hook, not JSON', { method: 'POST', url: SERVICE, headers: { 'content-type': `text/${MARKER}` }, payload: MARKER });
    await run('hook, __proto__', { method: 'POST', url: SERVICE, headers: { 'content-type': 'application/json' }, payload: `{"__proto__": {"${MARKER}": 1}}` });
    await run('feedback', {
      method: 'POST',
      url: `${SERVICE}/feedback`,
      payload: { feedback: [{ card: cards[0].uuid, outcome: 'overridden', overrideReason: { reason: { system: 'urn:trialmatch-cds:override-reason', code: 'declined' }, userComment: `${MARKER} patient declined` }, outcomeTimestamp: '2026-11-23T10:00:00Z' }] },
    });
    await run('feedback, invalid', { method: 'POST', url: `${SERVICE}/feedback`, payload: { feedback: [{ card: MARKER, outcome: MARKER }] } });
    await run('trials', { method: 'GET', url: '/trials' });
    await run('trials evaluate', { method: 'POST', url: '/trials/$evaluate', payload: bundle });
    await run('trials evaluate, bad date', { method: 'POST', url: `/trials/$evaluate?at=${MARKER}`, payload: bundle });
    await run('trials evaluate, not a bundle', { method: 'POST', url: '/trials/$evaluate', payload: { resourceType: MARKER } });
    await run('trials from server', { method: 'POST', url: '/trials/$evaluate-from-server', payload: { fhirServer: `${fhir.url}/fhir`, patientId, accessToken: `${MARKER}-access` } });
    await run('trial feedback', { method: 'GET', url: '/trials/zju-cd19-car-t-csle/feedback' });
    await run('trial feedback, unknown trial', { method: 'GET', url: `/trials/${MARKER}/feedback` });
    await run('examples', { method: 'GET', url: '/examples' }, 'none');
    await run('example bundle', { method: 'GET', url: '/examples/sle-child-likely/bundle' }, 'none');
    await run('example hook request', { method: 'GET', url: '/examples/sle-child-likely/hook-request' }, 'none');
    await run('example, unknown', { method: 'GET', url: `/examples/${MARKER}/bundle` }, 'none');
    await run('dev token', { method: 'GET', url: `/dev/token?aud=http://localhost:3000/${MARKER}` }, 'none');
    await run('home', { method: 'GET', url: '/' }, 'none');
    await run('health', { method: 'GET', url: '/healthz' }, 'marker');
    await run('no such route', { method: 'GET', url: `/${MARKER}/${MARKER}?q=${MARKER}` }, 'marker');
    await run('preflight', { method: 'OPTIONS', url: SERVICE, headers: { origin: `https://${MARKER}.example`, 'access-control-request-method': 'POST' } }, 'none');

    // The calls did what they should (so the log had something to leak).
    expect(statuses).toMatchObject({
      discovery: 200,
      'discovery, marker token': 401,
      'hook with prefetch': 200,
      'hook from the FHIR server': 200,
      'hook, FHIR server failing': 200,
      'hook, FHIR server not allowed': 403,
      'hook, another patient': 400,
      'hook, too large': 413,
      feedback: 200,
      'trials evaluate': 200,
      'trials from server': 200,
      'example bundle': 200,
    });
    expect(fhir.calls.length).toBeGreaterThan(0);
    // One line per request at least (issue #21 item 5: one line per request, no longer three), and the trace lines.
    expect(log.lines.length).toBeGreaterThan(Object.keys(statuses).length);
    expect(log.text).toMatch(/"level":20/); // debug and below are on
    const leaks = log.lines.filter((l) => l.includes(MARKER));
    expect(leaks).toEqual([]);
  });
});
