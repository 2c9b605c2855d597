import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { resolve } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testApp } from '../support/app.js';
import { exampleEntries, SERVER } from '../support/screening-store-contract.js';
import { BASE, makeIssuer, writeTrust, type TestIssuer } from '../security/helpers.js';

/**
 * Issue #19 item 4 (on unless REFERRAL_SUGGESTIONS=0): a likely or possibly eligible card offers "Refer to the study
 * team"; feedback accepting it marks the patient "referred" on that trial's worklist, audited. Through the real
 * app: a signed hook for an example patient (full prefetch, the EHR's FHIR server named), its feedback, the
 * worklist as a coordinator reads it.
 */
const SERVICE = '/cds-services/trialmatch-sle';
const PATIENT = 'sle-child-likely';

interface CardJson {
  uuid: string;
  source: { topic: { code: string } };
  suggestions?: { label: string; uuid: string; actions: { type: string; resource: Record<string, unknown> }[] }[];
  selectionBehavior?: string;
}

describe('referral from the card', () => {
  let app: FastifyInstance;
  let ehr: TestIssuer;
  let coordinator: TestIssuer;
  let auditFile: string;

  beforeAll(async () => {
    ehr = await makeIssuer('https://ehr.example');
    coordinator = await makeIssuer('https://research-office.example');
    const trust = writeTrust({
      issuers: [
        { issuer: ehr.issuer, jwks: { keys: [ehr.publicJwk] }, fhirServers: [SERVER] },
        { issuer: coordinator.issuer, jwks: { keys: [coordinator.publicJwk] }, fhirServers: [SERVER], roles: ['coordinator'] },
      ],
    });
    auditFile = resolve(mkdtempSync(resolve(tmpdir(), 'trialmatch-referral-audit-')), 'audit.jsonl');
    app = testApp({}, { AUTH_MODE: 'on', TRUST_CONFIG: trust, PUBLIC_BASE_URL: BASE, AUDIT_FILE: auditFile });
    await app.ready();
    await app.state.screening.put(exampleEntries(PATIENT, 'job-1'));
  });
  afterAll(async () => app.close());

  const signed = async (issuer: TestIssuer, path: string, sub = 'dr-ward'): Promise<Record<string, string>> => ({ authorization: `Bearer ${await issuer.sign({ aud: `${BASE}${path}`, sub })}` });

  async function cards(): Promise<CardJson[]> {
    const request = (await app.inject({ method: 'GET', url: `/examples/${PATIENT}/hook-request` })).json();
    const res = await app.inject({ method: 'POST', url: SERVICE, headers: await signed(ehr, SERVICE), payload: { ...request, fhirServer: SERVER } });
    expect(res.statusCode).toBe(200);
    return res.json().cards as CardJson[];
  }

  async function worklistState(trialId: string): Promise<{ state: string; stateSetBy?: unknown }> {
    const path = `/worklist/${trialId}`;
    const res = await app.inject({ method: 'GET', url: path, headers: await signed(coordinator, path, 'coordinator-jo') });
    expect(res.statusCode).toBe(200);
    return res.json().candidates.find((c: { patientId: string }) => c.patientId === PATIENT);
  }

  it('offers on every card a draft referral ServiceRequest: category Patient referral, intent proposal, the patient, the trial', async () => {
    const shown = await cards();
    expect(shown.length).toBeGreaterThan(1);
    for (const card of shown) {
      const referral = card.suggestions?.find((s) => s.label === 'Refer to the study team');
      expect(referral, card.source.topic.code).toBeDefined();
      expect(referral!.actions).toEqual([
        {
          type: 'create',
          description: expect.stringMatching(/^Referral to the study team: /),
          resource: {
            resourceType: 'ServiceRequest',
            status: 'draft',
            intent: 'proposal',
            category: [{ coding: [{ system: 'http://snomed.info/sct', code: '3457005' }] }],
            subject: { reference: `Patient/${PATIENT}` },
            reasonCode: [{ coding: [{ system: 'urn:trialmatch-cds:trial', code: card.source.topic.code }] }],
            performer: [{ reference: `${BASE}/fhir/PractitionerRole/${card.source.topic.code}-study-contact`, display: expect.stringMatching(/\(.+\)$/) }],
          },
        },
      ]);
      // The performer is the site's study contact, published by the service as a PractitionerRole.
      const performer = (referral!.actions[0] as unknown as { resource: { performer: { reference: string }[] } }).resource.performer[0]!.reference;
      const role = await app.inject({ method: 'GET', url: performer.slice(BASE.length) });
      expect(role.statusCode).toBe(200);
      expect(role.json()).toMatchObject({ resourceType: 'PractitionerRole', id: `${card.source.topic.code}-study-contact` });
      expect(card.selectionBehavior).toBe(card.suggestions!.length > 1 ? 'any' : 'at-most-one');
    }
  });

  it('marks the patient "referred" on the trial\'s worklist when the referral is accepted, by whom and when, audited; the other trials stay new', async () => {
    const shown = await cards();
    const [first, second] = shown;
    expect((await worklistState(first!.source.topic.code)).state).toBe('new');
    const referral = first!.suggestions!.find((s) => s.label === 'Refer to the study team')!;
    const path = `${SERVICE}/feedback`;
    const res = await app.inject({
      method: 'POST',
      url: path,
      headers: await signed(ehr, path),
      payload: { feedback: [{ card: first!.uuid, outcome: 'accepted', acceptedSuggestions: [{ id: referral.uuid }], outcomeTimestamp: '2026-11-23T09:05:00Z' }] },
    });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ stored: 1, duplicates: 0, unknownCards: 0, rejected: [], suppressed: [] });
    expect(await worklistState(first!.source.topic.code)).toMatchObject({ state: 'referred', stateSetBy: { issuer: ehr.issuer, subject: 'dr-ward' } });
    expect((await worklistState(second!.source.topic.code)).state).toBe('new');
    const audit = readFileSync(auditFile, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(audit).toContainEqual({ at: expect.any(String), issuer: ehr.issuer, subject: 'dr-ward', action: 'coordinator-state', patientId: PATIENT, fhirServer: SERVER, trials: [first!.source.topic.code], state: 'referred' });
  });

  it('does not undo a coordinator\'s later word (enrolled) with a referral, and ignores a card accepted without its referral', async () => {
    const shown = await cards();
    const card = shown[shown.length - 1]!;
    const trialId = card.source.topic.code;
    const statePath = `/worklist/${trialId}/state`;
    const set = await app.inject({ method: 'PUT', url: statePath, headers: { ...(await signed(coordinator, statePath)), 'content-type': 'application/json' }, payload: { fhirServer: SERVER, patientId: PATIENT, state: 'enrolled' } });
    expect(set.statusCode).toBe(200);
    const referral = card.suggestions!.find((s) => s.label === 'Refer to the study team')!;
    const path = `${SERVICE}/feedback`;
    await app.inject({ method: 'POST', url: path, headers: await signed(ehr, path), payload: { feedback: [{ card: card.uuid, outcome: 'accepted', acceptedSuggestions: [{ id: referral.uuid }], outcomeTimestamp: '2026-11-23T09:06:00Z' }] } });
    expect((await worklistState(trialId)).state).toBe('enrolled');
    const other = shown[1]!;
    await app.inject({ method: 'POST', url: path, headers: await signed(ehr, path), payload: { feedback: [{ card: other.uuid, outcome: 'accepted', outcomeTimestamp: '2026-11-23T09:07:00Z' }] } });
    expect((await worklistState(other.source.topic.code)).state).toBe('new');
  });

  it('offers the referral by default, and none when the site turns it off (REFERRAL_SUGGESTIONS=0)', async () => {
    const referralsOf = async (env: Record<string, string>): Promise<string[]> => {
      const plain = testApp({}, env);
      try {
        const request = (await plain.inject({ method: 'GET', url: `/examples/${PATIENT}/hook-request` })).json();
        const res = await plain.inject({ method: 'POST', url: SERVICE, payload: request });
        const cards = res.json().cards as CardJson[];
        expect(cards.length).toBeGreaterThan(0);
        return cards.flatMap((c) => (c.suggestions ?? []).filter((s: { label: string }) => s.label === 'Refer to the study team').map(() => c.source.topic.code));
      } finally {
        await plain.close();
      }
    };
    const byDefault = await referralsOf({});
    expect(byDefault.length).toBeGreaterThan(0);
    expect(await referralsOf({ REFERRAL_SUGGESTIONS: '0' })).toEqual([]);
  });
});
