import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testApp } from '../support/app.js';
import { clinicalRecord as record, criterionOn, eligibilities, fireHook, type CardCriterion } from '../support/clinical.js';

/**
 * Issue #17, "Codes still missing" and the drug names of "National editions": patients coded the way real
 * records code them (Synthea's own SNOMED CT codes, HBsAg and anti-HBc reported as numbers, drugs written in
 * Chinese with the salt in the name), fired through the patient-view hook and read back through
 * POST /trials/$evaluate. Each record is a cds-hooks example patient with one finding added or recoded
 * (test/clinical/records/content-*.json).
 */

const BLINA = 'nct06789107-blinatumomab';
const BELIMUMAB = 'nct04893161-belimumab-response';
const BCMA = 'nct06934447-bcma-cd70-car-t';
const ZJU = 'zju-cd19-car-t-csle';

interface TrialOut {
  trialId: string;
  status: string;
  criteria: CardCriterion[];
}

let app: FastifyInstance;
beforeAll(async () => {
  app = testApp();
  await app.ready();
});
afterAll(() => app.close());

async function shownTrials(name: string): Promise<string[]> {
  return eligibilities(await fireHook(app, record(name))).map((e) => e.trialId);
}

/** Every trial with its whole trace, the ineligible ones too. */
async function evaluated(name: string, trialId: string, criterionId: string): Promise<CardCriterion> {
  const res = await app.inject({ method: 'POST', url: '/trials/$evaluate', payload: record(name) as unknown as Record<string, unknown> });
  expect(res.statusCode).toBe(200);
  const trial = res.json<{ trials: TrialOut[] }>().trials.find((t) => t.trialId === trialId);
  const c = trial?.criteria.find((x) => x.id === criterionId);
  if (!c) throw new Error(`${trialId} ${criterionId} not in the evaluation`);
  return c;
}

const refs = (c: CardCriterion): string[] => (c.evidence ?? []).map((e) => e.reference);

/** The trial gets no card, and $evaluate shows the exclusion met by the given resource of the record. */
async function expectExcludedBy(name: string, trialId: string, criterionId: string, resource: string): Promise<void> {
  expect(await shownTrials(name)).not.toContain(trialId);
  const c = await evaluated(name, trialId, criterionId);
  expect(c.result).toBe('met');
  expect(refs(c)).toContain(`${resource.split('/')[0]}/${name}-${resource.split('/')[1]}`);
}

describe('diagnoses coded with the SNOMED CT codes Synthea writes', () => {
  it('colon cancer 109838007 (Synthea stage II) is a previous malignancy: no BCMA/CD70, CD19 CAR-T or blinatumomab card', async () => {
    const name = 'content-synthea-colon-cancer-109838007';
    // NCT06934447 exc-10 "previous or concurrent malignancy"; the CD19 CAR-T and NCT06789107 exc-19 alike.
    await expectExcludedBy(name, BCMA, 'exc-10', 'Condition/cond-90');
    const shown = await shownTrials(name);
    expect(shown).not.toContain(ZJU);
    expect(shown).not.toContain(BLINA);
  });

  it('dependent drug abuse 6525002, active this year, excludes from the belimumab study (exc-8)', async () => {
    await expectExcludedBy('content-dependent-drug-abuse-6525002', BELIMUMAB, 'exc-8', 'Condition/cond-90');
  });

  it('suicidal thoughts 6471006 coded in SNOMED CT only meet the blinatumomab "suicidal tendencies" exclusion (exc-21)', async () => {
    await expectExcludedBy('content-suicidal-thoughts-6471006', BLINA, 'exc-21', 'Condition/cond-90');
  });
});

describe('hepatitis B serology reported as a number, as Chinese laboratories report it', () => {
  it('HBsAg 250 IU/mL (63557-3) above the reference range is positive: "current or past HBV infection" excludes', async () => {
    await expectExcludedBy('content-hbsag-quantitative-250-iu', BLINA, 'exc-10', 'Observation/obs-19');
  });

  it('HBsAg 0.01 IU/mL under an upper limit of 0.05 IU/mL is read as negative, shown as evidence, and excludes nothing', async () => {
    const name = 'content-hbsag-quantitative-0-01-iu';
    const cards = await fireHook(app, record(name));
    const exc10 = criterionOn(cards, BLINA, 'exc-10');
    expect(exc10.result).not.toBe('met');
    // The quantitative HBsAg is read (it is the negative result the part rests on), not skipped as no data.
    expect(refs(exc10)).toContain(`Observation/${name}-obs-19`);
  });

  it('anti-HBc 8.6 S/CO (22316-4) above its cut-off of 1.0 is positive and excludes', async () => {
    await expectExcludedBy('content-hbcab-quantitative-reactive', BLINA, 'exc-10', 'Observation/obs-20');
  });
});

describe('drugs recorded in Chinese with the salt in the name', () => {
  it('醋酸泼尼松, 硫酸羟氯喹, 他克莫司 and 贝利尤单抗 are four drug classes: the blinatumomab treatment history is met', async () => {
    const name = 'content-chinese-drug-names';
    const cards = await fireHook(app, record(name));
    // NCT06789107 inc-4: at least three of corticosteroids, antimalarials, immunosuppressants, biologics. Read
    // by name only, the record showed two (the antimalarial and the biologic) and lost the trial.
    const inc4 = criterionOn(cards, BLINA, 'inc-4');
    expect(inc4.result).not.toBe('not-met');
    const evaluatedInc4 = await evaluated(name, BLINA, 'inc-4');
    for (const med of ['med-26', 'med-28', 'med-29', 'med-31']) expect(refs(evaluatedInc4)).toContain(`MedicationStatement/${name}-${med}`);
  });

  it('eye drops (滴眼液) and an ointment (软膏) named in Chinese are not systemic treatment: two classes remain, not four', async () => {
    const name = 'content-chinese-local-forms';
    // NCT06789107 inc-4 counts only systemic routes; the dose form is in the Chinese drug name.
    const inc4 = await evaluated(name, BLINA, 'inc-4');
    expect(inc4.result).toBe('not-met');
    // Each is shown, with the reason it does not count.
    for (const local of ['med-26', 'med-27', 'med-29']) {
      const shown = (inc4.evidence ?? []).find((e) => e.reference === `MedicationStatement/${name}-${local}`);
      expect(shown?.note, local).toMatch(/not systemic therapy/);
    }
  });
});
