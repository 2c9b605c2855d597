import type { Bundle } from '@medplum/fhirtypes';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CriterionResult, TrialEvaluation } from '../../src/engine/types.js';
import { testApp } from '../support/app.js';
import { TRIAL, clinicalRecord as record, fireHook, evaluateOverHttp } from '../support/clinical.js';
import { part as partOf, trial as trialOf } from '../support/evaluate.js';

/**
 * Issue 18 item 4, "Results", through the hook and POST /trials/$evaluate. Each record is the likely-eligible
 * example child with one result history changed (scripts/build-results-test-records.ts).
 *
 * Confirmation: a confirmatory test dated on or after a reactive screen decides it. On 06fc1a5 an HBsAg
 * screen reactive but negative on neutralisation was "ever positive" and hid the blinatumomab study; an HIV
 * screen was decided by whichever result came last.
 * Older positives: on 06fc1a5 a positive outside a criterion's window became "checked at screening" and the
 * card said "Likely eligible" (serum hCG 15,200 mIU/mL 20 days ago; HBsAg positive with HBV DNA 2,400 IU/mL
 * four months ago), the positive nowhere on it.
 */

const PAEDIATRIC = [TRIAL.blinatumomab, TRIAL.bcma, TRIAL.cd19];

let app: FastifyInstance;
beforeAll(async () => {
  app = testApp();
  await app.ready();
});
afterAll(() => app.close());

async function evaluations(bundle: Bundle): Promise<TrialEvaluation[]> {
  return evaluateOverHttp<TrialEvaluation>(app, bundle);
}

function criterionOf(trials: TrialEvaluation[], trialId: string, id: string): CriterionResult {
  const c = trialOf(trials, trialId).criteria.find((x) => x.id === id);
  if (!c) throw new Error(`${trialId} has no criterion ${id}`);
  return c;
}

async function shown(bundle: Bundle): Promise<Record<string, string>> {
  const cards = await fireHook(app, bundle);
  return Object.fromEntries(cards.map((c) => [c.source.topic.code, c.trace.status]));
}

/** Each card's summary and detail, by trial: what the clinician reads. */
async function cardTexts(bundle: Bundle): Promise<Record<string, string>> {
  const cards = await fireHook(app, bundle);
  return Object.fromEntries(cards.map((c) => [c.source.topic.code, `${c.summary}\n${c.detail}`]));
}

describe('a confirmatory test decides its screen', () => {
  it('an HBsAg screen reactive but negative on neutralisation is not HBsAg positive: the blinatumomab study is shown again', async () => {
    const b = record('results-hbsag-neutralisation-negative');
    expect(Object.keys(await shown(b)).sort()).toEqual([...PAEDIATRIC].sort());
    const trials = await evaluations(b);
    for (const [trialId, id] of [
      [TRIAL.blinatumomab, 'exc-10.hbsag'],
      [TRIAL.belimumab, 'exc-10.hbsag'],
    ] as const) {
      const p = partOf(trials, trialId, id);
      expect(p.outcome, `${trialId} ${id}`).toBe('not-met');
      expect(p.reason).toContain('not confirmed: HBsAg neutralisation negative 2026-11-15');
      // Screen and confirmation are one finding, each result shown once with what it said.
      expect(p.evidence.map((e) => [e.display, e.value])).toEqual([
        ['HBsAg', 'positive'],
        ['HBsAg neutralisation', 'negative'],
      ]);
    }
    // Exclusion 10 now waits only on the tests done at screening (HCV RNA, CMV and EBV DNA), and holds no positive.
    expect(criterionOf(trials, TRIAL.blinatumomab, 'exc-10')).toMatchObject({ outcome: 'review' });
    expect(criterionOf(trials, TRIAL.blinatumomab, 'exc-10').facts).toBeUndefined();
    // Only the judgement of the record is left (issue 18 item 5: no trial is "likely" while it is open).
    expect(trialOf(trials, TRIAL.blinatumomab)).toMatchObject({ status: 'possibly-eligible', statusReason: { codes: ['judgement-open'] } });
  });

  it('a reactive HBsAg screen with no confirmatory test still excludes, as the protocol reads (control)', async () => {
    const trials = await evaluations(record('results-hbsag-reactive-unconfirmed'));
    expect(partOf(trials, TRIAL.blinatumomab, 'exc-10.hbsag').outcome).toBe('met');
    expect(trialOf(trials, TRIAL.blinatumomab).status).toBe('ineligible');
  });

  it('a reactive HIV screen set aside by a negative immunoblot and an undetectable HIV-1 RNA is not "historically positive"', async () => {
    const trials = await evaluations(record('results-hiv-reactive-confirmed-negative'));
    const p = partOf(trials, TRIAL.belimumab, 'exc-9.test');
    expect(p.outcome).toBe('not-met');
    expect(p.reason).toContain('not confirmed: HIV 1+2 Ab immunoblot negative 2026-11-15, HIV-1 RNA negative 2026-11-15');
    for (const trialId of PAEDIATRIC) expect(trialOf(trials, trialId), trialId).toMatchObject({ status: 'possibly-eligible', statusReason: { codes: ['judgement-open'] } });
  });

  it('a reactive HIV screen with only an undetectable HIV-1 RNA is unknown, naming the supplemental antibody test: never an exclusion, never cleared', async () => {
    const b = record('results-hiv-reactive-rna-not-detected');
    expect(await shown(b)).toEqual(Object.fromEntries(PAEDIATRIC.map((t) => [t, 'possibly-eligible'])));
    const trials = await evaluations(b);
    for (const [trialId, id] of [
      [TRIAL.blinatumomab, 'exc-10.hiv'],
      [TRIAL.cd19, 'exc-8.hiv'],
      [TRIAL.belimumab, 'exc-9.test'],
    ] as const) {
      const p = partOf(trials, trialId, id);
      expect(p.outcome, `${trialId} ${id}`).toBe('unknown');
      expect(p.missing).toEqual(['HIV supplemental antibody test (immunoblot, immunofluorescence)']);
    }
  });

  it('a reactive HCV antibody with a negative immunoblot is not antibody positive; with an undetectable HCV RNA it still is (past infection)', async () => {
    const immunoblot = await evaluations(record('results-hcv-ab-reactive-immunoblot-negative'));
    expect(partOf(immunoblot, TRIAL.belimumab, 'exc-10.hcv').outcome).toBe('not-met');
    expect(partOf(immunoblot, TRIAL.cd19, 'exc-8.hcv-ab').outcome).toBe('not-met');
    const rna = await evaluations(record('results-hcv-ab-reactive-rna-not-detected'));
    expect(partOf(rna, TRIAL.belimumab, 'exc-10.hcv').outcome).toBe('met');
    // The CAR-T exclusion wants the antibody and HCV RNA above normal: its HCV branch is not met, and holds no fact.
    expect(partOf(rna, TRIAL.cd19, 'exc-8.hcv').outcome).toBe('not-met');
    expect(criterionOf(rna, TRIAL.cd19, 'exc-8').facts).toBeUndefined();
  });

  it('a reactive RPR with a negative treponemal test after it is not a positive syphilis test (the same rule as the screens above)', async () => {
    const trials = await evaluations(record('results-rpr-reactive-treponemal-negative-after'));
    for (const [trialId, id] of [
      [TRIAL.bcma, 'exc-7'],
      [TRIAL.cd19, 'exc-8'],
    ] as const) {
      expect(partOf(trials, trialId, `${id}.syphilis-nontreponemal`).outcome, trialId).toBe('not-met');
      expect(partOf(trials, trialId, `${id}.syphilis`).outcome, trialId).toBe('not-met');
    }
  });
});

describe('a positive outside a criterion\'s window is a fact, never "checked at screening"', () => {
  it('a serum hCG of 15,200 mIU/mL 20 days ago keeps all three studies at "possibly", with the result and its date', async () => {
    const b = record('results-hcg-15200-20-days-ago');
    expect(await shown(b)).toEqual(Object.fromEntries(PAEDIATRIC.map((t) => [t, 'possibly-eligible'])));
    // On the card, not only in the trace: the positive is what the clinician reads first.
    for (const text of Object.values(await cardTexts(b))) expect(text).toContain('Serum beta-hCG 15,200 mIU/mL 2026-11-03');
    const trials = await evaluations(b);
    for (const [trialId, exclusion, inclusion] of [
      [TRIAL.blinatumomab, 'exc-18', 'inc-8'],
      [TRIAL.bcma, 'exc-9', 'inc-7'],
      [TRIAL.cd19, 'exc-10', 'inc-6'],
    ] as const) {
      for (const id of [exclusion, inclusion]) {
        const c = criterionOf(trials, trialId, id);
        // The window decides the criterion: the old result neither excludes nor settles it.
        expect(c.outcome, `${trialId} ${id}`).toBe('review');
        expect(c.facts, `${trialId} ${id}`).toEqual([
          {
            kind: 'prior-positive',
            text: 'Serum beta-hCG 15,200 mIU/mL 2026-11-03',
            evidence: expect.objectContaining({ reference: 'Observation/results-hcg-15200-20-days-ago-obs-90', value: 15200, unit: 'mIU/mL', date: '2026-11-03', note: 'outside the 14 days window' }),
          },
        ]);
      }
    }
  });

  it('HBsAg positive with HBV DNA 2,400 IU/mL four months ago: both CAR-T studies "possibly", the positives carried with their dates', async () => {
    const b = record('results-hbsag-positive-hbv-dna-4-months');
    expect(await shown(b)).toEqual({ [TRIAL.bcma]: 'possibly-eligible', [TRIAL.cd19]: 'possibly-eligible' });
    for (const text of Object.values(await cardTexts(b))) {
      expect(text).toContain('HBsAg positive 2026-07-24');
      expect(text).toContain('HBV DNA 2,400 IU/mL 2026-07-24');
    }
    const trials = await evaluations(b);
    for (const [trialId, id] of [
      [TRIAL.bcma, 'exc-7'],
      [TRIAL.cd19, 'exc-8'],
    ] as const) {
      const c = criterionOf(trials, trialId, id);
      expect(c.outcome, trialId).toBe('review');
      expect(c.facts?.map((f) => f.text)).toEqual(['HBsAg positive 2026-07-24', 'HBV DNA 2,400 IU/mL 2026-07-24']);
      expect(partOf(trials, trialId, `${id}.hbv-dna`).facts?.[0]?.evidence).toMatchObject({ value: 2400, unit: 'IU/mL', date: '2026-07-24' });
    }
  });

  it('an old positive that would help the patient is no fact: anti-dsDNA positive two years ago, for "positive in the last 12 months"', async () => {
    const trials = await evaluations(record('results-dsdna-positive-2-years-ago'));
    const c = criterionOf(trials, TRIAL.blinatumomab, 'inc-3');
    expect(c.outcome).toBe('unknown');
    // The part keeps its old positive; the inclusion does not count it against the patient.
    expect(partOf(trials, TRIAL.blinatumomab, 'inc-3.dsdna').facts?.map((f) => f.text)).toEqual(['Anti-dsDNA positive 2024-11-23']);
    expect(c.facts).toBeUndefined();
  });
});
