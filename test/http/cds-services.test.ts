import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance, InjectOptions } from 'fastify';
import { EXTENSION_KEY } from '../../src/cds/render-cards.js';
import { exampleBundle, syntheaBundles, testApp } from '../support/app.js';
import { expectValidCard, findEmptyValues } from '../support/card-rules.js';
import { hookRequest, patientIdOf, prefetchFor } from '../support/hook-request.js';

const SERVICE = '/cds-services/trialmatch-sle';

async function callHook(app: FastifyInstance, body: unknown) {
  return app.inject({ method: 'POST', url: SERVICE, payload: body as Record<string, unknown> });
}

function withFullPrefetch(id: string) {
  const bundle = exampleBundle(id);
  return hookRequest(patientIdOf(bundle), { prefetch: prefetchFor(bundle) });
}

describe('CDS Hooks discovery', () => {
  let app: FastifyInstance;
  beforeAll(async () => {
    app = testApp();
    await app.ready();
  });
  afterAll(() => app.close());

  it('lists the patient-view service with prefetch templates for every resource type it reads', async () => {
    const res = await app.inject({ method: 'GET', url: '/cds-services' });
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(findEmptyValues(body)).toEqual([]);
    const [service] = body.services;
    expect(service).toMatchObject({ id: 'trialmatch-sle', hook: 'patient-view' });
    expect(service.description.length).toBeGreaterThan(20);
    expect(Object.keys(service.prefetch).sort()).toEqual(
      ['conditions', 'immunizations', 'medicationAdministrations', 'medicationDispenses', 'medicationRequests', 'medicationStatements', 'observations', 'patient', 'procedures'].sort(),
    );
    expect(service.prefetch.patient).toBe('Patient/{{context.patientId}}');
  });

  it('limits the Observation prefetch to the codes the mappings use', async () => {
    const service = (await app.inject({ method: 'GET', url: '/cds-services' })).json().services[0];
    const obs: string = service.prefetch.observations;
    expect(obs).toMatch(/^Observation\?patient=\{\{context\.patientId\}\}&code=/);
    // Bare codes (issue #21 item 4): the code in any system, so an OID-named LOINC result is found too.
    const codes = new URL(obs, 'http://x/').searchParams.get('code')!.split(',');
    expect(codes).toContain('718-7');
    expect(codes).toContain('sledai-2k-total');
    expect(obs).not.toContain('{{trialmatch');
    // A code no criterion reads (LOINC 8302-2 body height) is not asked for.
    expect(codes).not.toContain('8302-2');
  });

  // The origin must be in the trust file's corsOrigins (issue #12 item 1); testApp runs the development trust.
  it('answers CORS preflight for browser-based EHRs', async () => {
    const res = await app.inject({
      method: 'OPTIONS',
      url: SERVICE,
      headers: { origin: 'http://localhost:5173', 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization,content-type' },
    });
    expect(res.statusCode).toBe(204);
    expect(res.headers['access-control-allow-origin']).toBe('http://localhost:5173');
    expect(String(res.headers['access-control-allow-headers']).toLowerCase()).toContain('authorization');
  });
});

describe('patient-view with full prefetch', () => {
  let app: FastifyInstance;
  beforeAll(async () => {
    app = testApp();
    await app.ready();
  });
  afterAll(() => app.close());

  it('gives the example child one card per paediatric interventional trial, each valid', async () => {
    const res = await callHook(app, withFullPrefetch('sle-child-likely'));
    expect(res.statusCode).toBe(200);
    const { cards } = res.json();
    expect(cards.map((c: any) => c.source.topic.code).sort()).toEqual(['nct06789107-blinatumomab', 'nct06934447-bcma-cd70-car-t', 'zju-cd19-car-t-csle']);
    for (const card of cards) {
      expectValidCard(card);
      // Possibly, not likely: refractory disease waits on the study team's judgement (issue 18 item 5).
      expect(card.summary).toMatch(/^Possibly eligible: /);
      expect(card.extension[EXTENSION_KEY]).toMatchObject({ status: 'possibly-eligible', statusReason: { code: 'judgement-open' } });
    }
  });

  it('never says a patient is eligible without a qualifier', async () => {
    const { cards } = (await callHook(app, withFullPrefetch('sle-child-likely'))).json();
    for (const card of cards) {
      expect(card.summary).toMatch(/^(Likely|Possibly) eligible/);
      expect(card.detail).toContain('A screening aid');
    }
  });

  it('carries the machine-readable result under one extension key, with every criterion but not its evidence', async () => {
    const { cards } = (await callHook(app, withFullPrefetch('sle-child-likely'))).json();
    const blina = cards.find((c: any) => c.source.topic.code === 'nct06789107-blinatumomab');
    const ext = blina.extension[EXTENSION_KEY];
    expect(ext).toMatchObject({ trialId: 'nct06789107-blinatumomab', nctId: 'NCT06789107', status: 'possibly-eligible' });
    expect(ext.criteria).toHaveLength(31);
    for (const c of ext.criteria) {
      expect(c.id).toMatch(/^(inc|exc)-/);
      expect(['met', 'not-met', 'unknown']).toContain(c.result);
      expect(c.review === undefined || c.review === true).toBe(true);
      expect(Object.keys(c).every((k) => ['id', 'result', 'review', 'facts'].includes(k))).toBe(true);
    }
    // The evidence is in POST /trials/$evaluate (and the app): 11.2 g/dL converted to the protocol's g/L,
    // traceable to its resource and date.
    const evaluated = (await app.inject({ method: 'POST', url: '/trials/$evaluate', payload: exampleBundle('sle-child-likely') as any })).json();
    const hb = evaluated.trials.find((t: any) => t.trialId === 'nct06789107-blinatumomab').criteria.find((c: any) => c.id === 'inc-7');
    const hbEvidence = hb.evidence.find((e: any) => e.display === 'Hemoglobin');
    expect(hbEvidence).toMatchObject({ value: 112, unit: 'g/L', recorded: '11.2 g/dL', date: '2026-11-16' });
    expect(hbEvidence.reference).toMatch(/^Observation\//);
  });

  it('puts likely cards before possibly cards, then the trial with the fewest open items', async () => {
    const { cards } = (await callHook(app, withFullPrefetch('sle-child-on-blinatumomab'))).json();
    const statuses = cards.map((c: any) => c.extension[EXTENSION_KEY].status);
    const rank: Record<string, number> = { 'likely-eligible': 0, 'possibly-eligible': 1 };
    expect(statuses).toEqual([...statuses].sort((a: string, b: string) => rank[a]! - rank[b]!));
    // The BiTE profiling study waits only on judgements; the CAR-T studies on a body weight too.
    expect(cards[0].source.topic.code).toBe('nct07352332-bite-immune-profiling');
  });

  it('lists what is missing for a possibly-eligible patient', async () => {
    const { cards } = (await callHook(app, withFullPrefetch('sle-teen-missing-tests'))).json();
    expect(cards.length).toBe(3);
    const blina = cards.find((c: any) => c.source.topic.code === 'nct06789107-blinatumomab');
    expect(blina.summary).toMatch(/^Possibly eligible: .* needed$/);
    expect(blina.detail).toMatch(/\*\*Would settle it:\*\* [^\n]*SLEDAI-2K/);
    // Why each datum is missing is in the trace the app shows, not on the card.
    expect(blina.detail).not.toContain('older than the window');
    const evaluated = (await app.inject({ method: 'POST', url: '/trials/$evaluate', payload: exampleBundle('sle-teen-missing-tests') as any })).json();
    const inc7 = evaluated.trials.find((t: any) => t.trialId === 'nct06789107-blinatumomab').criteria.find((c: any) => c.id === 'inc-7');
    expect(inc7.open.map((p: any) => `${p.label}: ${p.reason}`)).toContain('Hemoglobin ≥ 80 g/L: no Haemoglobin result in the last 30 days (latest result 2026-07-16 is older than the window)');
  });

  it('gives no cards to patients excluded by an infection result or without SLE', async () => {
    for (const id of ['sle-child-hiv-positive', 'adult-no-sle']) {
      const res = await callHook(app, withFullPrefetch(id));
      expect(res.statusCode).toBe(200);
      expect(res.json()).toEqual({ cards: [] });
    }
  });

  it('gives no cards and no errors for the five Synthea patients', async () => {
    for (const { file, bundle } of syntheaBundles()) {
      const res = await callHook(app, hookRequest(patientIdOf(bundle), { prefetch: prefetchFor(bundle) }));
      expect(res.statusCode, file).toBe(200);
      expect(res.json(), file).toEqual({ cards: [] });
    }
  });

  it('reads a null prefetch key as "no such data", not as missing', async () => {
    const bundle = exampleBundle('sle-child-likely');
    const prefetch = { ...prefetchFor(bundle), procedures: null, immunizations: null };
    const res = await callHook(app, hookRequest(patientIdOf(bundle), { prefetch }));
    expect(res.statusCode).toBe(200);
    expect(res.json().cards).toHaveLength(3);
  });
});

describe('malformed requests', () => {
  let app: FastifyInstance;
  beforeAll(async () => {
    app = testApp({}, { BODY_LIMIT_BYTES: '200000' });
    await app.ready();
  });
  afterAll(() => app.close());

  const cases: [string, () => InjectOptions, number, RegExp][] = [
    ['bad JSON', () => ({ method: 'POST', url: SERVICE, headers: { 'content-type': 'application/json' }, payload: '{"hook": "patient-view",' }), 400, /not valid JSON/],
    ['a missing hookInstance', () => ({ method: 'POST', url: SERVICE, payload: { hook: 'patient-view', context: { patientId: 'p1' }, prefetch: {} } }), 400, /hookInstance/],
    ['a missing context.patientId', () => ({ method: 'POST', url: SERVICE, payload: hookRequest('x', { context: { userId: 'Practitioner/1' } }) }), 400, /context\.patientId/],
    ['the wrong hook', () => ({ method: 'POST', url: SERVICE, payload: hookRequest('p1', { hook: 'order-select', prefetch: {} }) }), 400, /answers the patient-view hook, not order-select/],
    ['an unknown service id', () => ({ method: 'POST', url: '/cds-services/no-such-service', payload: hookRequest('p1') }), 404, /no CDS service "no-such-service"/],
    ['an oversize body', () => ({ method: 'POST', url: SERVICE, payload: hookRequest('p1', { prefetch: { observations: { resourceType: 'Bundle', padding: 'x'.repeat(300_000) } } }) }), 413, /too large/i],
    ['a body that is not JSON', () => ({ method: 'POST', url: SERVICE, headers: { 'content-type': 'text/plain' }, payload: 'hello' }), 415, /Unsupported Media Type/i],
    ['fhirAuthorization without fhirServer', () => ({ method: 'POST', url: SERVICE, payload: hookRequest('p1', { fhirAuthorization: { access_token: 't', token_type: 'Bearer', expires_in: 300, scope: 'patient/*.read', subject: 'x' } }) }), 400, /fhirServer is required/],
    ['a prefetch of another patient', () => {
      const bundle = exampleBundle('sle-child-likely');
      return { method: 'POST', url: SERVICE, payload: hookRequest('someone-else', { prefetch: prefetchFor(bundle) }) };
    }, 400, /not the context's patient/],
  ];

  for (const [name, request, status, message] of cases) {
    it(`answers ${name} with ${status} and an OperationOutcome, and keeps serving`, async () => {
      const res = await app.inject(request());
      expect(res.statusCode).toBe(status);
      expect(res.headers['content-type']).toMatch(/application\/fhir\+json/);
      const outcome = res.json();
      expect(outcome.resourceType).toBe('OperationOutcome');
      expect(outcome.issue[0].severity).toBe('error');
      expect(outcome.issue.map((i: any) => i.diagnostics).join(' ')).toMatch(message);
      const next = await callHook(app, withFullPrefetch('sle-child-likely'));
      expect(next.statusCode).toBe(200);
      expect(next.json().cards).toHaveLength(3);
    });
  }

  it('answers 412 when a prefetch key is missing and there is no FHIR server to fetch it from', async () => {
    const bundle = exampleBundle('sle-child-likely');
    const { observations: _dropped, ...partial } = prefetchFor(bundle);
    const res = await callHook(app, hookRequest(patientIdOf(bundle), { prefetch: partial }));
    expect(res.statusCode).toBe(412);
    expect(res.json().issue[0]).toMatchObject({ code: 'required', expression: ['prefetch.observations'] });
  });

  it('treats an OperationOutcome in a prefetch key as absent', async () => {
    const bundle = exampleBundle('sle-child-likely');
    const prefetch = { ...prefetchFor(bundle), conditions: { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'exception' }] } };
    const res = await callHook(app, hookRequest(patientIdOf(bundle), { prefetch }));
    expect(res.statusCode).toBe(412);
    expect(res.json().issue[0].expression).toEqual(['prefetch.conditions']);
  });
});

describe('feedback', () => {
  let app: FastifyInstance;
  beforeAll(async () => {
    app = testApp();
    await app.ready();
  });
  afterAll(() => app.close());

  it('accepts feedback on a card and counts it for the card\'s trial', async () => {
    const { cards } = (await callHook(app, withFullPrefetch('sle-child-likely'))).json();
    const card = cards.find((c: any) => c.source.topic.code === 'zju-cd19-car-t-csle');
    const res = await app.inject({
      method: 'POST',
      url: `${SERVICE}/feedback`,
      payload: { feedback: [{ card: card.uuid, outcome: 'overridden', overrideReason: { reason: card.overrideReasons.find((r: any) => r.code === 'already-screened') }, outcomeTimestamp: '2026-11-23T10:00:00Z' }] },
    });
    expect(res.statusCode).toBe(200);
    const summary = (await app.inject({ method: 'GET', url: '/trials/zju-cd19-car-t-csle/feedback' })).json();
    expect(summary).toMatchObject({ trialId: 'zju-cd19-car-t-csle', accepted: 0, overridden: 1, overrideReasons: { 'already-screened': 1 } });
  });

  it('refuses feedback without an outcome', async () => {
    const res = await app.inject({ method: 'POST', url: `${SERVICE}/feedback`, payload: { feedback: [{ card: '0b4bfa52-21a5-4e5b-9f8c-6b3f3a2b5c11', outcomeTimestamp: '2026-11-23T10:00:00Z' }] } });
    expect(res.statusCode).toBe(400);
    expect(res.json().issue[0].expression[0]).toBe('feedback.0.outcome');
  });
});
