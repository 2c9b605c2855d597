import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { testApp } from '../support/app.js';
import { createDatabase } from '../support/replica.js';
import { exampleEntries, SERVER } from '../support/screening-store-contract.js';
import { BASE, makeIssuer, writeTrust, type TestIssuer } from '../security/helpers.js';

// Issue #19 item 2: two service instances on one PostgreSQL share the worklist: a job's entries written through
// one, a state set on one and read on the other, an accepted referral on one seen on the other.
const unavailable = inject('postgresUnavailable');
const TRIAL = 'zju-cd19-car-t-csle';
const PATIENT = 'sle-child-likely';

describe.skipIf(unavailable !== '')(`the worklist shared by replicas${unavailable ? ` (skipped: ${unavailable})` : ''}`, () => {
  let a: FastifyInstance;
  let b: FastifyInstance;
  let coordinator: TestIssuer;
  let ehr: TestIssuer;

  beforeAll(async () => {
    coordinator = await makeIssuer('https://research-office.example');
    ehr = await makeIssuer('https://ehr.example');
    const trust = writeTrust({
      issuers: [
        { issuer: coordinator.issuer, jwks: { keys: [coordinator.publicJwk] }, fhirServers: [SERVER], roles: ['coordinator'] },
        { issuer: ehr.issuer, jwks: { keys: [ehr.publicJwk] }, fhirServers: [SERVER] },
      ],
    });
    const url = await createDatabase(inject('postgresUrl'), `worklist_${process.pid}`);
    const env = { AUTH_MODE: 'on', TRUST_CONFIG: trust, PUBLIC_BASE_URL: BASE, DATABASE_URL: url, SUPPRESSION_SECRET: 'a-shared-secret-of-32-characters!', REFERRAL_SUGGESTIONS: '1' };
    a = testApp({}, env);
    await a.ready();
    b = testApp({}, env);
    await b.ready();
    await a.state.screening.put(exampleEntries(PATIENT, 'job-1'));
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
  });

  const signed = async (issuer: TestIssuer, path: string): Promise<Record<string, string>> => ({ authorization: `Bearer ${await issuer.sign({ aud: `${BASE}${path}`, sub: 'jo' })}` });
  const stateOn = async (app: FastifyInstance, trialId: string): Promise<string> => {
    const path = `/worklist/${trialId}`;
    const res = await app.inject({ method: 'GET', url: path, headers: await signed(coordinator, path) });
    expect(res.statusCode).toBe(200);
    return res.json().candidates.find((c: { patientId: string }) => c.patientId === PATIENT).state as string;
  };

  it('shows on one replica the state set on the other', async () => {
    const path = `/worklist/${TRIAL}/state`;
    const set = await a.inject({ method: 'PUT', url: path, headers: { ...(await signed(coordinator, path)), 'content-type': 'application/json' }, payload: { fhirServer: SERVER, patientId: PATIENT, state: 'reviewed' } });
    expect(set.statusCode).toBe(200);
    expect(await stateOn(b, TRIAL)).toBe('reviewed');
  });

  it('marks "referred" from a referral accepted on the other replica than the one that showed the card', async () => {
    const request = (await a.inject({ method: 'GET', url: `/examples/${PATIENT}/hook-request` })).json();
    const hook = await a.inject({ method: 'POST', url: '/cds-services/trialmatch-sle', headers: await signed(ehr, '/cds-services/trialmatch-sle'), payload: { ...request, fhirServer: SERVER } });
    const card = (hook.json().cards as { uuid: string; source: { topic: { code: string } }; suggestions: { label: string; uuid: string }[] }[]).find((c) => c.source.topic.code !== TRIAL)!;
    const referral = card.suggestions.find((s) => s.label === 'Refer to the study team')!;
    const path = '/cds-services/trialmatch-sle/feedback';
    const fb = await b.inject({ method: 'POST', url: path, headers: await signed(ehr, path), payload: { feedback: [{ card: card.uuid, outcome: 'accepted', acceptedSuggestions: [{ id: referral.uuid }], outcomeTimestamp: '2026-11-23T09:05:00Z' }] } });
    expect(fb.statusCode).toBe(200);
    expect(await stateOn(a, card.source.topic.code)).toBe('referred');
  });
});
