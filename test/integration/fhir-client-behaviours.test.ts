/**
 * The service's FHIR client against what real servers do: HAPI's token search, sorting, default page size
 * and OperationOutcome errors, and servers that refuse (401), break (500) or never answer. A failed read is a
 * result, not a crash: the criteria that needed the data are unknown and the card says it could not be read;
 * when nothing at all could be read the answer is 412 (CDS Hooks 2.0 §Prefetch: the service cannot proceed).
 */
import type { Bundle, Observation } from '@medplum/fhirtypes';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXTENSION_KEY } from '../../src/cds/render-cards.js';
import { FhirServerSource } from '../../src/data/fhir-server-source.js';
import type { PrefetchKey } from '../../src/data/prefetch-key.js';
import { testApp } from '../support/app.js';
import { hookRequest, prefetchFor } from '../support/hook-request.js';
import {
  EXTRA_HB,
  PAGING_PATIENT,
  callHook,
  cardView,
  examplePatients,
  fhirAuthorization,
  fhirBaseUrl,
  loadIntoHapi,
  pagingPatientBundle,
  skipNote,
  startFaultyServer,
} from './hapi-support.js';

function source(baseUrl: string, patientId: string, timeoutMs = 8000): FhirServerSource {
  return new FhirServerSource({ baseUrl, context: { patientId }, timeoutMs, maxPages: 50, maxResources: 20_000, accessToken: 'itest' });
}

const key = (template: string): PrefetchKey => ({ key: 'k', template, resourceType: template.split(/[/?]/)[0] as PrefetchKey['resourceType'] });

/** sle-child-likely's data under an id HAPI does not hold, as prefetch: the EHR sent all but `patient`. */
function ghostPrefetch(ghost: string): Record<string, unknown> {
  const bundle = examplePatients().find((p) => p.id === 'sle-child-likely')!.bundle;
  const renamed = JSON.parse(JSON.stringify(bundle).replaceAll('sle-child-likely', ghost)) as Bundle;
  const { patient: _omitted, ...rest } = prefetchFor(renamed);
  return rest;
}

describe.skipIf(!fhirBaseUrl)(`the FHIR client against HAPI FHIR${skipNote}`, () => {
  beforeAll(async () => {
    await loadIntoHapi([pagingPatientBundle(), examplePatients().find((p) => p.id === 'sle-child-likely')!.bundle]);
  });

  it('searches by system|code, newest first, and pages through HAPI’s default page size of 20', async () => {
    const result = await source(fhirBaseUrl, PAGING_PATIENT).get(key('Observation?patient={{context.patientId}}&code=http://loinc.org|718-7&_sort=-date'));
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    const obs = result.resources as Observation[];
    expect(obs.length).toBe(EXTRA_HB + 1);
    // No _count: HAPI's default page size (20) applies, so 251 results take 13 pages.
    expect(result.pages).toBe(Math.ceil((EXTRA_HB + 1) / 20));
    expect(new Set(obs.map((o) => o.id)).size).toBe(obs.length);
    for (const o of obs) expect(o.code?.coding?.[0]).toMatchObject({ system: 'http://loinc.org', code: '718-7' });
    const dates = obs.map((o) => o.effectiveDateTime!);
    expect(dates).toEqual([...dates].sort().reverse());
    expect(obs[0]).toMatchObject({ id: `${PAGING_PATIENT}-obs-5`, valueQuantity: { value: 11.2 } });
  });

  it('a token of another system does not match: the system in system|code is honoured', async () => {
    const result = await source(fhirBaseUrl, PAGING_PATIENT).get(key('Observation?patient={{context.patientId}}&code=http://snomed.info/sct|718-7'));
    expect(result).toMatchObject({ ok: true, resources: [] });
  });

  it('turns a HAPI OperationOutcome error (400, unknown search parameter) into a failed read, not a throw', async () => {
    const result = await source(fhirBaseUrl, PAGING_PATIENT).get(key('Observation?patient={{context.patientId}}&no-such-param=1'));
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.reason).toMatch(/Observation could not be read/);
    expect(result.reason).toContain('400');
  });

  describe('through the hook', () => {
    let app: FastifyInstance;
    beforeAll(async () => {
      app = testApp({}, { FHIR_TIMEOUT_MS: '500' });
      await app.ready();
    });
    afterAll(() => app?.close());

    it('answers a 404 Patient (OperationOutcome) with age criteria unknown and the card saying Patient could not be read', async () => {
      const ghost = 'itest-ghost';
      const res = await callHook(app, hookRequest(ghost, { fhirServer: fhirBaseUrl, fhirAuthorization: fhirAuthorization(ghost), prefetch: ghostPrefetch(ghost) }));
      expect(res.statusCode, res.body).toBe(200);
      const cards = res.json().cards;
      expect(cards.length).toBeGreaterThan(0);
      for (const card of cards) {
        expect(card.detail).toContain('Part of the record could not be read from the EHR');
        expect(card.extension[EXTENSION_KEY].status).toBe('possibly-eligible');
      }
      // The same data with the Patient given waits only on the study team's judgement of the record (issue 18
      // item 5): the 404 is what made the age criteria unknown and the card say part of the record was not read.
      const fullCards = (await callHook(app, hookRequest('sle-child-likely', { prefetch: prefetchFor(examplePatients().find((p) => p.id === 'sle-child-likely')!.bundle) }))).json().cards as { detail: string; extension: Record<string, { statusReason: { code: string } }> }[];
      const full = cardView(fullCards);
      expect(full.length).toBeGreaterThan(0);
      for (const card of fullCards) {
        expect(card.detail).not.toContain('Part of the record could not be read from the EHR');
        expect(card.extension[EXTENSION_KEY]!.statusReason.code).toBe('judgement-open');
      }
    });

    it('answers a patient HAPI does not know, with no prefetch, with no cards (its searches succeed, empty)', async () => {
      const res = await callHook(app, hookRequest('itest-nobody', { fhirServer: fhirBaseUrl }));
      expect(res.statusCode).toBe(200);
      expect(res.json()).toEqual({ cards: [] });
    });

    for (const behaviour of [401, 500, 'hang'] as const) {
      it(`marks lab criteria unknown and says Observations could not be read when the server answers ${behaviour}`, async () => {
        const server = await startFaultyServer(behaviour);
        try {
          const id = 'sle-child-likely';
          const { observations: _left, ...prefetch } = prefetchFor(examplePatients().find((p) => p.id === id)!.bundle);
          const started = performance.now();
          const res = await callHook(app, hookRequest(id, { fhirServer: server.url, fhirAuthorization: fhirAuthorization(id), prefetch }));
          expect(res.statusCode, res.body).toBe(200);
          // FHIR_TIMEOUT_MS=500: a server that never answers costs half a second, not the hook.
          expect(performance.now() - started).toBeLessThan(5_000);
          expect(server.hits()).toBe(1);
          const cards = res.json().cards;
          expect(cards.length).toBeGreaterThan(0);
          for (const card of cards) {
            expect(card.detail).toContain('Part of the record could not be read from the EHR');
            expect(card.extension[EXTENSION_KEY].status).toBe('possibly-eligible');
            for (const c of card.extension[EXTENSION_KEY].criteria) {
              for (const e of c.evidence ?? []) expect(e.reference ?? '').not.toMatch(/^Observation\//);
            }
          }
          const blina = cards.find((c: any) => c.source.topic.code === 'nct06789107-blinatumomab');
          expect(blina.extension[EXTENSION_KEY].criteria.find((c: any) => c.id === 'inc-7').result).toBe('unknown');
        } finally {
          await server.close();
        }
      });

      it(`answers 412 when the server answers ${behaviour} and nothing came by prefetch`, async () => {
        const server = await startFaultyServer(behaviour);
        try {
          const res = await callHook(app, hookRequest('sle-child-likely', { fhirServer: server.url, fhirAuthorization: fhirAuthorization('sle-child-likely') }));
          expect(res.statusCode).toBe(412);
          expect(res.json()).toMatchObject({ resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'required' }] });
          // The nine keys, the Procedure filter's two counts, and (the counts failing) the unfiltered Procedure
          // search the filter falls back to (issue #21 item 4).
          expect(server.hits()).toBe(12);
        } finally {
          await server.close();
        }
      });
    }
  });
});
