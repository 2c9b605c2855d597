import type { Bundle, Condition } from '@medplum/fhirtypes';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testApp } from '../support/app.js';
import { TRIAL, clinicalRecord, criterionOn, fireHook, type CardCriterion } from '../support/clinical.js';

/**
 * Issue 17 items 1 and 2: a SNOMED CT concept below a listed one, and a WHO ICD-10 code extended by a
 * national edition, read as the lists mean them, through the patient-view hook and POST /trials/$evaluate.
 * Each patient is a test record (test/clinical/records/) with one Condition recoded or added, as real EHRs
 * send them: each failed on main (the child code matched no list, or matched a WHO prefix past its excluded
 * parent).
 */

const SCT = 'http://snomed.info/sct';
const WHO = 'http://hl7.org/fhir/sid/icd-10';
const ICD10_GM = 'http://fhir.de/CodeSystem/bfarm/icd-10-gm';
/** A child with SLE (WHO M32.9) whom the blinatumomab and both CAR-T studies show as candidates. */
const BASE = 'terms-sle-who-m32-9';

function conditionsOf(bundle: Bundle): Condition[] {
  return (bundle.entry ?? []).map((e) => e.resource).filter((r): r is Condition => r?.resourceType === 'Condition');
}

/** The base child with her SLE diagnosis recoded. */
function sleCodedAs(system: string, code: string, display: string): Bundle {
  const bundle = clinicalRecord(BASE);
  conditionsOf(bundle)[0]!.code = { coding: [{ system, code, display }] };
  return bundle;
}

/** The base child with one more active, confirmed Condition. */
function withCondition(id: string, system: string, code: string, display: string): Bundle {
  const bundle = clinicalRecord(BASE);
  const first = conditionsOf(bundle)[0]!;
  const added: Condition = { ...first, id, code: { coding: [{ system, code, display }], text: display }, onsetDateTime: '2025-01-10' };
  bundle.entry!.push({ fullUrl: `urn:uuid:${id}`, resource: added });
  return bundle;
}

interface EvaluatedTrial {
  trialId: string;
  status: string;
  criteria: (CardCriterion & { evidence?: { reference: string }[] })[];
}

async function evaluate(app: FastifyInstance, bundle: Bundle, trialId: string): Promise<EvaluatedTrial> {
  const res = await app.inject({ method: 'POST', url: '/trials/$evaluate', payload: bundle as unknown as Record<string, unknown> });
  expect(res.statusCode).toBe(200);
  return (res.json().trials as EvaluatedTrial[]).find((t) => t.trialId === trialId)!;
}

function refs(c: { evidence?: { reference: string }[] } | undefined): string[] {
  return (c?.evidence ?? []).map((e) => e.reference);
}

let app: FastifyInstance;
beforeAll(async () => {
  app = testApp();
  await app.ready();
});
afterAll(() => app.close());

describe('SNOMED CT descendants of a listed concept', () => {
  it('the base child gets a blinatumomab card (the patients below differ from her by one Condition)', async () => {
    const cards = await fireHook(app, clinicalRecord(BASE));
    expect(cards.map((c) => c.trace.trialId)).toContain(TRIAL.blinatumomab);
  });

  it('acute lymphoid leukaemia (91857003, below 93143009 Leukemia) meets the malignancy exclusions and hides those trials', async () => {
    const bundle = withCondition('all-1', SCT, '91857003', 'Acute lymphoid leukemia, disease (disorder)');
    const shown = (await fireHook(app, bundle)).map((c) => c.trace.trialId);
    // NCT06789107 exc-19, NCT06934447 and the ZJU study exclude any malignancy, previous or current.
    for (const trialId of [TRIAL.blinatumomab, TRIAL.bcma, TRIAL.cd19]) expect(shown, trialId).not.toContain(trialId);
    const blina = await evaluate(app, bundle, TRIAL.blinatumomab);
    const exc19 = blina.criteria.find((c) => c.id === 'exc-19')!;
    expect(exc19.result).toBe('met');
    expect(refs(exc19)).toContain('Condition/all-1');
  });

  it('an active major depressive disorder (370143000, below 35489007 Depressive disorder) meets blinatumomab exclusion 21', async () => {
    const bundle = withCondition('mdd-1', SCT, '370143000', 'Major depressive disorder (disorder)');
    expect((await fireHook(app, bundle)).map((c) => c.trace.trialId)).not.toContain(TRIAL.blinatumomab);
    const exc21 = (await evaluate(app, bundle, TRIAL.blinatumomab)).criteria.find((c) => c.id === 'exc-21')!;
    expect(exc21.result).toBe('met');
    expect(refs(exc21)).toContain('Condition/mdd-1');
  });

  it('major depression in full remission (63412003, excluded from the list with the VSAC remission concepts) does not exclude', async () => {
    const bundle = withCondition('mdd-remission', SCT, '63412003', 'Major depression in full remission (disorder)');
    expect(criterionOn(await fireHook(app, bundle), TRIAL.blinatumomab, 'exc-21').result).not.toBe('met');
  });

  it('SLE-associated antiphospholipid syndrome (402865003, below 55464009 SLE) alone reads as SLE', async () => {
    const cards = await fireHook(app, sleCodedAs(SCT, '402865003', 'Systemic lupus erythematosus-associated antiphospholipid syndrome (disorder)'));
    for (const trialId of [TRIAL.blinatumomab, TRIAL.bcma, TRIAL.cd19]) {
      const inc2 = criterionOn(cards, trialId, 'inc-2');
      expect(inc2.result, trialId).not.toBe('not-met');
      expect(refs(inc2), trialId).toContain(`Condition/${BASE}-cond-1`);
    }
  });
});

describe('WHO ICD-10 codes extended by a national edition', () => {
  it.each([
    [WHO, 'M32.900', 'China national clinical edition 2.0, under WHO M32.9'],
    [WHO, 'M32.101', 'China national clinical edition 2.0, under WHO M32.1'],
    [ICD10_GM, 'M32.9', 'ICD-10-GM, a national-edition system'],
  ])('%s %s (%s) reads as SLE in every paediatric trial', async (system, code, display) => {
    const cards = await fireHook(app, sleCodedAs(system, code, display));
    for (const trialId of [TRIAL.blinatumomab, TRIAL.bcma, TRIAL.cd19]) {
      const inc2 = criterionOn(cards, trialId, 'inc-2');
      expect(inc2.result, trialId).not.toBe('not-met');
      expect(refs(inc2), trialId).toContain(`Condition/${BASE}-cond-1`);
    }
  });

  it('Q21.100 (an extension of WHO Q21.1, which the congenital-heart-disease list excludes as broader than the protocol) stays excluded', async () => {
    // On main Q21.100 matched the WHO Q21 prefix while the exclusion held only Q21.1 exactly: the trial was hidden.
    const bundle = withCondition('asd-1', WHO, 'Q21.100', 'Atrial septal defect (national clinical edition)');
    const cards = await fireHook(app, bundle);
    expect(criterionOn(cards, TRIAL.blinatumomab, 'exc-4').result).not.toBe('met');
    const exc4 = (await evaluate(app, bundle, TRIAL.blinatumomab)).criteria.find((c) => c.id === 'exc-4')!;
    expect(refs(exc4)).not.toContain('Condition/asd-1');
  });

  it('an extension of a WHO code inside a listed prefix still counts (C91.000, under C91.0 in the WHO C prefix): a malignancy', async () => {
    const bundle = withCondition('all-who', WHO, 'C91.000', 'Acute lymphoblastic leukaemia (national clinical edition)');
    expect((await fireHook(app, bundle)).map((c) => c.trace.trialId)).not.toContain(TRIAL.blinatumomab);
  });
});
