import type { Bundle } from '@medplum/fhirtypes';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ICD10, PatientBuilder, SNOMED, daysAgo, yearsAgo } from '../../scripts/fhir-builders.js';
import type { TrialEvaluation } from '../../src/engine/types.js';
import { testApp } from '../support/app.js';
import { TRIAL, criterionOn, fireHook, type HookCard, evaluateOverHttp } from '../support/clinical.js';

/**
 * Issue 18 item 3 and issue 17 item 5: each criterion reads its windows from the event the protocol names
 * (screening, enrolment, the first dose) and says where each window comes from (the protocol's words or a
 * project default). A window counted from an event still ahead, or one the protocol does not give, never
 * hides a trial on its own. An active pregnancy or syphilis diagnosis is read by the criteria that mean it.
 * Each patient goes through the patient-view hook and POST /trials/$evaluate.
 */

const MED = {
  prednisone20: { rxnorm: '312615', display: 'predniSONE 20 MG Oral Tablet' },
  prednisone5: { rxnorm: '312617', display: 'predniSONE 5 MG Oral Tablet' },
  hcq200: { rxnorm: '979092', display: 'Hydroxychloroquine Sulfate 200 MG Oral Tablet' },
  azathioprine50: { rxnorm: '197388', display: 'Azathioprine 50 MG Oral Tablet' },
  mmf: { display: 'Mycophenolate mofetil 500 MG Oral Tablet' },
  rituximab: { rxnorm: '121191', display: 'rituximab' },
  blinatumomab: { display: 'Blinatumomab 35 MCG Injection (Blincyto)' },
  belimumab: { display: 'Belimumab 120 MG/ML Injectable Solution (Benlysta)' },
};

/**
 * A child with active, refractory SLE and a full recent screening panel (no pregnancy test): every trial's
 * record-decided items are met, so a hidden trial is hidden by what each test adds. Past prednisone,
 * hydroxychloroquine, azathioprine and rituximab; current treatment is up to the test.
 */
function candidate(id: string, sex: 'female' | 'male', age = 13): PatientBuilder {
  const d = daysAgo(7);
  return new PatientBuilder(id, { gender: sex, birthDate: yearsAgo(age, 60) })
    .condition(SNOMED, '55464009', 'Systemic lupus erythematosus', { onset: daysAgo(900) })
    .qualitative('5048-4', 'ANA titre (IFA)', '1:640', daysAgo(10))
    .quantity('5130-0', 'Anti-dsDNA', 210, '[IU]/mL', daysAgo(10), { high: 30 })
    .score('SLEDAI-2K total score', 12, daysAgo(10))
    .quantity('718-7', 'Hemoglobin', 11.2, 'g/dL', d, { low: 11.5, high: 15.5 })
    .quantity('777-3', 'Platelets', 182, '10*3/uL', d)
    .quantity('731-0', 'Lymphocytes', 1.1, '10*3/uL', d)
    .quantity('751-8', 'Neutrophils', 3.4, '10*3/uL', d)
    .quantity('8116-6', 'CD19 cells', 140, '/uL', d)
    .quantity('33914-3', 'eGFR', 96, 'mL/min/{1.73_m2}', d)
    .quantity('1920-8', 'AST', 28, 'U/L', d, { high: 40 })
    .quantity('1742-6', 'ALT', 22, 'U/L', d, { high: 35 })
    .quantity('1975-2', 'Bilirubin total', 0.5, 'mg/dL', d, { high: 1.2 })
    .quantity('59408-5', 'SpO2 by pulse oximetry', 98, '%', d)
    .quantity('10230-1', 'Left ventricular ejection fraction', 63, '%', daysAgo(27))
    .quantity('29463-7', 'Body weight', 40, 'kg', d)
    .qualitative('5196-1', 'HBsAg', 'neg', d)
    .qualitative('13952-7', 'HBcAb', 'neg', d)
    .qualitative('16128-1', 'HCV Ab', 'neg', d)
    .qualitative('56888-1', 'HIV 1+2 Ab+Ag', 'neg', d)
    .qualitative('20507-0', 'RPR', 'neg', d)
    .medication(MED.prednisone20, daysAgo(400), { end: daysAgo(270), tablets: 2, perDay: 1 })
    .medication(MED.hcq200, daysAgo(700), { end: daysAgo(60), tablets: 1, perDay: 1 })
    .medication(MED.azathioprine50, daysAgo(650), { end: daysAgo(420), tablets: 2, perDay: 1 })
    .medication(MED.rituximab, daysAgo(240), { end: daysAgo(225) });
}

let app: FastifyInstance;
beforeAll(async () => {
  app = testApp();
  await app.ready();
});
afterAll(() => app.close());

async function evaluated(bundle: Bundle): Promise<TrialEvaluation[]> {
  return evaluateOverHttp<TrialEvaluation>(app, bundle);
}

function criterion(trials: readonly TrialEvaluation[], trialId: string, id: string): TrialEvaluation['criteria'][number] {
  const c = trials.find((t) => t.trialId === trialId)?.criteria.find((x) => x.id === id);
  if (!c) throw new Error(`${trialId} ${id} not in the evaluation`);
  return c;
}

function status(trials: readonly TrialEvaluation[], trialId: string): string | undefined {
  return trials.find((t) => t.trialId === trialId)?.status;
}

function shown(cards: readonly HookCard[]): string[] {
  return cards.map((c) => c.source.topic.code).sort();
}

describe('a "stable for 7 days before the first dose" read against the first dose, which is still ahead', () => {
  // Prednisone 15 mg/day for 3 months, tapered to 10 mg/day 3 days ago; no other current treatment.
  const taper = candidate('anchor-prednisone-taper', 'female')
    .medication(MED.prednisone5, daysAgo(90), { end: daysAgo(3), tablets: 3, perDay: 1 })
    .medication(MED.prednisone5, daysAgo(3), { tablets: 2, perDay: 1 })
    .bundle();

  it('keeps the blinatumomab study: the taper step 3 days ago goes to the study team with its date', async () => {
    const cards = await fireHook(app, taper);
    const inc6 = criterionOn(cards, TRIAL.blinatumomab, 'inc-6');
    expect(inc6).toMatchObject({ result: 'unknown', review: true });
    const trials = await evaluated(taper);
    const c = criterion(trials, TRIAL.blinatumomab, 'inc-6');
    expect(c.outcome).toBe('review');
    expect(c.anchor).toBe('first-dose');
    const ocs = c.parts.find((p) => p.id === 'inc-6.ocs')!;
    expect(ocs.reason).toContain(`current course started ${daysAgo(3)}`);
    expect(ocs.reason).toContain('must be stable for 7 days before the first study dose');
    expect(ocs.evidence.map((e) => e.date)).toContain(daysAgo(3));
  });

  it('leaves it open, not failed, when the only recent steroid is an order placed 3 days ago', async () => {
    const ordered = candidate('anchor-prednisone-ordered', 'female').prescription(MED.prednisone5, daysAgo(3)).bundle();
    const c = criterion(await evaluated(ordered), TRIAL.blinatumomab, 'inc-6');
    expect(c.outcome).not.toBe('not-met');
  });

  it('still finds the item not met when no treatment of the three classes is current', async () => {
    const none = candidate('anchor-no-current-treatment', 'female').bundle();
    const trials = await evaluated(none);
    expect(criterion(trials, TRIAL.blinatumomab, 'inc-6').outcome).toBe('not-met');
    expect(status(trials, TRIAL.blinatumomab)).toBe('ineligible');
  });
});

describe('a washout counted back from enrolment', () => {
  // Belimumab 12 days ago: "within 4 weeks prior to enrollment" depends on when enrolment is.
  const belimumab = candidate('anchor-belimumab-recent', 'male')
    .medication(MED.prednisone5, daysAgo(90), { tablets: 2, perDay: 1 })
    .medication(MED.belimumab, daysAgo(12), { end: daysAgo(12) })
    .bundle();

  it('goes to the study team with the date it stops counting, instead of hiding the trial', async () => {
    const cards = await fireHook(app, belimumab);
    expect(criterionOn(cards, TRIAL.blinatumomab, 'exc-15')).toMatchObject({ result: 'unknown', review: true });
    const c = criterion(await evaluated(belimumab), TRIAL.blinatumomab, 'exc-15');
    expect(c.outcome).toBe('review');
    expect(c.reason).toMatch(/4 weeks before enrolment, which is still ahead: it no longer counts if enrolment is on or after \d{4}-\d{2}-\d{2}/);
    expect(c.evidence.map((e) => e.date)).toContain(daysAgo(12));
  });
});

describe('the BiTE immune-profiling study reads exposure as the protocol does (no window)', () => {
  // Two blinatumomab courses, the last ended 4 months ago; samples "before and/or after" exposure qualify.
  const bite = candidate('anchor-bite-four-months', 'female', 10)
    .medication(MED.prednisone5, daysAgo(90), { tablets: 2, perDay: 1 })
    .medication(MED.blinatumomab, daysAgo(190), { end: daysAgo(185) })
    .medication(MED.blinatumomab, daysAgo(127), { end: daysAgo(122) })
    .bundle();

  it('keeps the study for a child whose courses ended 4 months ago', async () => {
    const cards = await fireHook(app, bite);
    expect(criterionOn(cards, TRIAL.bite, 'inc-4').result).not.toBe('not-met');
    const c = criterion(await evaluated(bite), TRIAL.bite, 'inc-4');
    expect(c.parts.find((p) => p.id === 'inc-4.bite')?.outcome).toBe('met');
  });
});

describe('a project-default window never excludes on its own', () => {
  // IgG 3.5 g/L 20 days ago: the protocol's "IgG below the lower limit" gives no time; 3 months is the project's.
  const igg = candidate('anchor-igg-low-default-window', 'male')
    .medication(MED.prednisone5, daysAgo(90), { tablets: 2, perDay: 1 })
    .quantity('2465-3', 'IgG', 350, 'mg/dL', daysAgo(20), { low: 700, high: 1600 })
    .bundle();

  it('shows the low IgG with its date and leaves exclusion 9 open, instead of hiding the trial', async () => {
    const cards = await fireHook(app, igg);
    expect(criterionOn(cards, TRIAL.blinatumomab, 'exc-9').result).toBe('unknown');
    const c = criterion(await evaluated(igg), TRIAL.blinatumomab, 'exc-9');
    expect(c.outcome).toBe('unknown');
    expect(c.reason).toBeDefined();
    expect(c.evidence.find((e) => e.display === 'IgG')).toMatchObject({ date: daysAgo(20) });
    expect(JSON.stringify(c.parts)).toContain("project's default window of 3 months (the protocol gives none), so it does not exclude on its own");
  });

  it('still excludes on a protocol window: a live vaccine 10 days ago ("within 4 weeks prior to screening")', async () => {
    const vaccine = candidate('anchor-live-vaccine', 'male').medication(MED.prednisone5, daysAgo(90), { tablets: 2, perDay: 1 }).immunization('03', 'MMR', daysAgo(10)).bundle();
    const trials = await evaluated(vaccine);
    expect(criterion(trials, TRIAL.blinatumomab, 'exc-17').outcome).toBe('met');
    expect(status(trials, TRIAL.blinatumomab)).toBe('ineligible');
  });
});

describe('a pregnancy diagnosis joins the criteria that mean it (issue 17 item 5)', () => {
  const pregnant = candidate('anchor-pregnant-no-hcg', 'female', 16)
    .medication(MED.prednisone5, daysAgo(90), { tablets: 2, perDay: 1 })
    .condition(SNOMED, '77386006', 'Pregnancy', { onset: daysAgo(70) })
    .bundle();

  it('an active pregnancy with no recent hCG hides the three trials that exclude pregnancy', async () => {
    const cards = await fireHook(app, pregnant);
    expect(shown(cards)).not.toContain(TRIAL.blinatumomab);
    expect(shown(cards)).not.toContain(TRIAL.cd19);
    expect(shown(cards)).not.toContain(TRIAL.bcma);
    const trials = await evaluated(pregnant);
    expect(criterion(trials, TRIAL.blinatumomab, 'exc-18').outcome).toBe('met');
    expect(criterion(trials, TRIAL.cd19, 'exc-10').outcome).toBe('met');
    expect(criterion(trials, TRIAL.bcma, 'exc-9').outcome).toBe('met');
    expect(criterion(trials, TRIAL.blinatumomab, 'inc-8').outcome).toBe('not-met');
    expect(criterion(trials, TRIAL.blinatumomab, 'exc-18').evidence.map((e) => e.display)).toContain('Pregnancy');
  });

  it('a resolved pregnancy, or one ended by a miscarriage, is not evidence of pregnancy now', async () => {
    const resolved = candidate('anchor-pregnancy-resolved', 'female', 16)
      .medication(MED.prednisone5, daysAgo(90), { tablets: 2, perDay: 1 })
      .condition(SNOMED, '77386006', 'Pregnancy', { onset: daysAgo(400), abatement: daysAgo(150) })
      .condition(ICD10, 'O03.9', 'Complete or unspecified spontaneous abortion without complication', { onset: daysAgo(30) })
      .bundle();
    const trials = await evaluated(resolved);
    for (const [trialId, id] of [
      [TRIAL.blinatumomab, 'exc-18'],
      [TRIAL.cd19, 'exc-10'],
      [TRIAL.bcma, 'exc-9'],
    ] as const) {
      expect(criterion(trials, trialId, id).outcome, `${trialId} ${id}`).not.toBe('met');
      expect(status(trials, trialId), trialId).not.toBe('ineligible');
    }
  });
});

describe('a syphilis diagnosis joins "syphilis test positive" (issue 17 item 5)', () => {
  it('an active syphilis diagnosis hides both CAR-T studies', async () => {
    const syphilis = candidate('anchor-syphilis-active', 'male').medication(MED.prednisone5, daysAgo(90), { tablets: 2, perDay: 1 }).condition(ICD10, 'A51.0', 'Primary genital syphilis', { onset: daysAgo(40) }).bundle();
    const cards = await fireHook(app, syphilis);
    expect(shown(cards)).not.toContain(TRIAL.cd19);
    expect(shown(cards)).not.toContain(TRIAL.bcma);
    const trials = await evaluated(syphilis);
    expect(criterion(trials, TRIAL.cd19, 'exc-8').outcome).toBe('met');
    expect(criterion(trials, TRIAL.bcma, 'exc-7').outcome).toBe('met');
  });

  it('a past, treated syphilis goes to the study team (a treponemal test usually stays positive)', async () => {
    const past = candidate('anchor-syphilis-past', 'male')
      .medication(MED.prednisone5, daysAgo(90), { tablets: 2, perDay: 1 })
      .condition(ICD10, 'A51.0', 'Primary genital syphilis', { onset: daysAgo(900), abatement: daysAgo(800) })
      .bundle();
    const cards = await fireHook(app, past);
    expect(criterionOn(cards, TRIAL.cd19, 'exc-8')).toMatchObject({ result: 'unknown', review: true });
    expect(criterionOn(cards, TRIAL.bcma, 'exc-7')).toMatchObject({ result: 'unknown', review: true });
  });
});

describe('"patients with depression or suicidal tendencies" is read in the present tense', () => {
  it('a resolved suicidal ideation from years ago goes to the study team instead of hiding the blinatumomab study', async () => {
    const past = candidate('anchor-suicidal-ideation-resolved', 'female', 15)
      .medication(MED.prednisone5, daysAgo(90), { tablets: 2, perDay: 1 })
      .condition(ICD10, 'R45.851', 'Suicidal ideations', { onset: daysAgo(1500), abatement: daysAgo(1400) })
      .bundle();
    const cards = await fireHook(app, past);
    expect(criterionOn(cards, TRIAL.blinatumomab, 'exc-21')).toMatchObject({ result: 'unknown', review: true });
  });
});
