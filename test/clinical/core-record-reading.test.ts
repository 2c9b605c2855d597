import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Bundle } from '@medplum/fhirtypes';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, testApp } from '../support/app.js';
import { EXTENSION_KEY } from '../../src/cds/render-cards.js';
import { TRIAL, clinicalRecord as record, criterionOn as criterion, eligibilities, fireHook } from '../support/clinical.js';
import { hookRequest, patientIdOf, prefetchFor } from '../support/hook-request.js';

/**
 * Issue #10: records written the way EHRs write them, each fired at the real hook. Each record is the
 * likely-eligible example child (three cards: blinatumomab, BCMA/CD70 CAR-T, CD19 CAR-T) with one thing
 * changed, so a card that vanishes shows the change read as an exclusion.
 */

const BLINA = TRIAL.blinatumomab;
const BCMA = TRIAL.bcma;
const CD19 = TRIAL.cd19;
const exampleChild = (): Bundle => JSON.parse(readFileSync(resolve(ROOT, 'cds-hooks', 'examples', 'sle-child-likely.json'), 'utf8')) as Bundle;

describe('reading real EHR records (issue #10), through the patient-view hook', () => {
  let app: FastifyInstance;
  beforeAll(async () => {
    app = testApp();
    await app.ready();
  });
  afterAll(() => app.close());

  it('reads "positive within 12 months" from every result: a positive anti-dsDNA six months ago is not hidden by a normal one today', async () => {
    const cards = await fireHook(app, record('core-dsdna-positive-last-year'));
    const inc3 = criterion(cards, BLINA, 'inc-3');
    expect(inc3.result).toBe('met');
    // The evidence is the positive result, with its date: 180 days before the evaluation date.
    expect(inc3.evidence?.some((e) => e.value === 'positive' && e.date === '2026-05-27')).toBe(true);
  });

  it('does not read an old problem-list entry still marked active as a recent event: it goes to the study team with its dates', async () => {
    const cards = await fireHook(app, record('core-old-problem-list-entries'));
    // Neuropsychiatric lupus "within 60 days" and macrophage activation syndrome "within 1 month", both
    // entered years ago and never closed.
    for (const [trialId, id] of [
      [BLINA, 'exc-1'],
      [BLINA, 'exc-12'],
    ] as const) {
      const c = criterion(cards, trialId, id);
      expect(c.result, `${trialId} ${id}`).toBe('unknown');
      expect(c.review, `${trialId} ${id}`).toBe(true);
      expect(c.evidence?.[0]?.note).toMatch(/still marked active, but its dates are older than/);
    }
    expect(eligibilities(cards).map((c) => c.trialId).sort()).toEqual([BLINA, BCMA, CD19].sort());
  });

  it('sends a reactive RPR with a negative treponemal test to the study team instead of excluding (a biological false positive is common in SLE)', async () => {
    const cards = await fireHook(app, record('core-rpr-reactive-treponemal-negative'));
    for (const [trialId, id] of [
      [BCMA, 'exc-7'],
      [CD19, 'exc-8'],
    ] as const) {
      const c = criterion(cards, trialId, id);
      expect(c.result, `${trialId} ${id}`).toBe('unknown');
      expect(c.review, `${trialId} ${id}`).toBe(true);
    }
  });

  it('sends a positive IGRA without a tuberculosis diagnosis to the study team instead of excluding', async () => {
    // A guard more than a regression test: on e384078 the IGRA list was empty, so this result was not seen.
    const cards = await fireHook(app, record('core-igra-positive-no-tb'));
    const exc11 = criterion(cards, BLINA, 'exc-11');
    expect(exc11.result).toBe('unknown');
    expect(exc11.review).toBe(true);
    expect(exc11.evidence?.some((e) => e.value === 'positive')).toBe(true);
  });

  it('reads no "latest" lab result from a page of the Observations: a low haemoglobin on page 1 does not hide the trial', async () => {
    const bundle = exampleChild();
    const id = patientIdOf(bundle);
    const prefetch = prefetchFor(bundle) as Record<string, Bundle>;
    const observations = prefetch.observations!;
    // The newest result on the page the EHR sent: Hb 70 g/L yesterday (below the 80 g/L of inclusion 7).
    observations.entry = [
      {
        resource: {
          resourceType: 'Observation', id: `${id}-hb-low`, status: 'final', subject: { reference: `Patient/${id}` },
          code: { coding: [{ system: 'http://loinc.org', code: '718-7', display: 'Hemoglobin [Mass/volume] in Blood' }] },
          effectiveDateTime: '2026-11-22T08:00:00Z', valueQuantity: { value: 70, unit: 'g/L', system: 'http://unitsofmeasure.org', code: 'g/L' },
        },
      },
      ...(observations.entry ?? []),
    ];
    observations.link = [{ relation: 'next', url: 'https://ehr.example.org/fhir/Observation?_getpages=abc&_getpagesoffset=20' }];
    const res = await app.inject({ method: 'POST', url: '/cds-services/trialmatch-sle', payload: hookRequest(id, { prefetch }) });
    expect(res.statusCode).toBe(200);
    const cards = res.json().cards as { detail: string; extension: Record<string, { trialId: string; criteria: { id: string; result: string }[] }> }[];
    const blina = cards.find((c) => c.extension[EXTENSION_KEY]?.trialId === BLINA);
    expect(blina, 'the blinatumomab card').toBeDefined();
    expect(blina!.extension[EXTENSION_KEY]!.criteria.find((c) => c.id === 'inc-7')?.result).toBe('unknown');
    // In plain words on the card (issue #11: which search and page is for the app).
    expect(blina!.detail).toContain('Part of the record could not be read from the EHR');
  });

  it('shows no trial card for a patient the record says has died, and $evaluate says why', async () => {
    const bundle = record('core-deceased');
    expect(await fireHook(app, bundle)).toEqual([]);
    const res = await app.inject({ method: 'POST', url: '/trials/$evaluate', payload: bundle as unknown as Record<string, unknown> });
    expect(res.statusCode).toBe(200);
    const trials = res.json().trials as { status: string; notScreened?: { reason: string; evidence: { reference: string; date?: string }[] } }[];
    expect(trials).toHaveLength(5);
    for (const t of trials) {
      expect(t.status).toBe('ineligible');
      expect(t.notScreened?.reason).toBe('the record says the patient died on 2026-11-03');
      expect(t.notScreened?.evidence[0]).toMatchObject({ reference: `Patient/${patientIdOf(bundle)}`, date: '2026-11-03' });
    }
  });

  it('gives the unchanged example child all three cards (the records above differ from it in one thing each)', async () => {
    const cards = await fireHook(app, exampleChild());
    expect(eligibilities(cards).map((c) => c.trialId).sort()).toEqual([BLINA, BCMA, CD19].sort());
  });
});
