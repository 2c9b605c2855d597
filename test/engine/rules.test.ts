import { describe, expect, it } from 'vitest';
import { ICD10, LOINC, PatientBuilder, SNOMED, daysAgo, yearsAgo } from '../../scripts/fhir-builders.js';
import { buildPatientRecord } from '../../src/patient/patient-record.js';
import { evaluateTrials } from '../../src/engine/evaluate-trial.js';
import { ANCHOR } from '../../scripts/fhir-builders.js';
import { evaluate, part, realMappings } from '../support/evaluate.js';

const BLINA = 'nct06789107-blinatumomab';
const CD19 = 'zju-cd19-car-t-csle';
const BELI = 'nct04893161-belimumab-response';

function child(id = 'p', years = 12): PatientBuilder {
  return new PatientBuilder(id, { gender: 'female', birthDate: yearsAgo(years, 30) });
}

// The screening values below are read through the project's default windows (the protocols give none), which
// never hide a trial on its own (issue 18 item 3): a value that would fail an item leaves it unknown, and the
// reading itself is `recordOutcome` (src/engine/window-guard.ts).
describe('measurements', () => {
  it('converts hemoglobin from g/dL to the protocol\'s g/L with UCUM', () => {
    const low = evaluate(child().quantity('718-7', 'Hemoglobin', 7.9, 'g/dL', daysAgo(2)).bundle());
    expect(part(low, BLINA, 'inc-7.hb')).toMatchObject({ recordOutcome: 'not-met', evidence: [{ value: 79, unit: 'g/L', recorded: '7.9 g/dL' }] });
    const ok = evaluate(child().quantity('718-7', 'Hemoglobin', 80, 'g/L', daysAgo(2)).bundle());
    expect(part(ok, BLINA, 'inc-7.hb').outcome).toBe('met');
  });

  it('reads counts in 10*3/uL against a threshold in 10*9/L', () => {
    const ev = evaluate(child().quantity('751-8', 'Neutrophils', 0.4, '10*3/uL', daysAgo(1)).bundle());
    expect(part(ev, BLINA, 'inc-7.anc')).toMatchObject({ recordOutcome: 'not-met', evidence: [{ value: 0.4, unit: '10*9/L' }] });
  });

  it('compares bilirubin in umol/L with a default ULN in mg/dL, and says the default was used', () => {
    // 2 x 1.2 mg/dL = 41.05 umol/L with bilirubin's molecular weight 584.66 g/mol.
    const under = part(evaluate(child().quantity('1975-2', 'Bilirubin', 40, 'umol/L', daysAgo(1)).bundle()), BLINA, 'inc-7.bili');
    expect(under.outcome).toBe('met');
    expect(under.evidence[0]?.note).toMatch(/no reference range: default ULN 1.2 mg\/dL used/);
    const over = part(evaluate(child().quantity('1975-2', 'Bilirubin', 45, 'umol/L', daysAgo(1)).bundle()), BLINA, 'inc-7.bili');
    expect(over.recordOutcome).toBe('not-met');
  });

  it('uses the result\'s own reference range for x ULN limits', () => {
    const ev = evaluate(child().quantity('1742-6', 'ALT', 130, 'U/L', daysAgo(1), { high: 40 }).bundle());
    expect(part(ev, BLINA, 'inc-7.alt')).toMatchObject({ recordOutcome: 'not-met' });
    expect(part(ev, BLINA, 'inc-7.alt').evidence[0]?.note).toMatch(/ULN 40 U\/L from the result's reference range/);
  });

  it('takes the most recent result inside the window, and calls an older one unknown', () => {
    const b = child().quantity('718-7', 'Hemoglobin', 7.0, 'g/dL', daysAgo(20)).quantity('718-7', 'Hemoglobin', 10.5, 'g/dL', daysAgo(3));
    expect(part(evaluate(b.bundle()), BLINA, 'inc-7.hb').outcome).toBe('met');
    const stale = part(evaluate(child().quantity('718-7', 'Hemoglobin', 10.5, 'g/dL', daysAgo(45)).bundle()), BLINA, 'inc-7.hb');
    expect(stale.outcome).toBe('unknown');
    expect(stale.reason).toMatch(/older than the window/);
    expect(stale.missing).toEqual(['Haemoglobin in the last 30 days']);
  });

  it('ignores results dated in the future', () => {
    const p = part(evaluate(child().quantity('718-7', 'Hemoglobin', 5, 'g/dL', daysAgo(-10)).bundle()), BLINA, 'inc-7.hb');
    expect(p.outcome).toBe('unknown');
    expect(p.reason).toMatch(/dated in the future were ignored/);
  });

  it('decides a "<x" result only when the whole range is on one side of the threshold', () => {
    const below = child().quantity('8116-6', 'CD19', 5, '/uL', daysAgo(1), { comparator: '<' });
    expect(part(evaluate(below.bundle()), BLINA, 'inc-7.cd19').recordOutcome).toBe('not-met');
    const unclear = child().quantity('8116-6', 'CD19', 30, '/uL', daysAgo(1), { comparator: '<' });
    expect(part(evaluate(unclear.bundle()), BLINA, 'inc-7.cd19').outcome).toBe('unknown');
  });

  it('says why a unit cannot be converted instead of guessing', () => {
    const p = part(evaluate(child().quantity('718-7', 'Hemoglobin', 11, 'mmol/L', daysAgo(1)).bundle()), BLINA, 'inc-7.hb');
    expect(p.outcome).toBe('unknown');
    expect(p.reason).toMatch(/cannot be converted/);
  });

  it('reads the SLEDAI-2K score as a plain number', () => {
    expect(part(evaluate(child().score('SLEDAI-2K', 5, daysAgo(3)).bundle()), BLINA, 'inc-5').parts?.[0]?.recordOutcome).toBe('not-met');
    expect(part(evaluate(child().score('SLEDAI-2K', 6, daysAgo(3)).bundle()), BLINA, 'inc-5').outcome).toBe('met');
  });

  it('applies the IgG limit of the patient\'s age band', () => {
    const six = new PatientBuilder('p', { gender: 'male', birthDate: yearsAgo(6) }).quantity('2465-3', 'IgG', 500, 'mg/dL', daysAgo(5));
    expect(part(evaluate(six.bundle()), BLINA, 'exc-9').outcome).toBe('not-met'); // 5.0 g/L is not below 4.5
    const ten = new PatientBuilder('p', { gender: 'male', birthDate: yearsAgo(10) }).quantity('2465-3', 'IgG', 500, 'mg/dL', daysAgo(5));
    expect(part(evaluate(ten.bundle()), BLINA, 'exc-9.igg-low').recordOutcome).toBe('met'); // 5.0 g/L is below 6.0
  });
});

describe('qualitative results and titres', () => {
  it('reads ANA titres from strings and ratios', () => {
    expect(part(evaluate(child().qualitative('5048-4', 'ANA', '1:40', daysAgo(30)).bundle()), BLINA, 'inc-3.ana').outcome).toBe('not-met');
    expect(part(evaluate(child().qualitative('5048-4', 'ANA', '1:80', daysAgo(30)).bundle()), BLINA, 'inc-3.ana').outcome).toBe('met');
    const ratio = child().bundle();
    ratio.entry?.push({ resource: { resourceType: 'Observation', id: 'r1', status: 'final', code: { coding: [{ system: LOINC, code: '5048-4' }] }, effectiveDateTime: daysAgo(5), valueRatio: { numerator: { value: 1 }, denominator: { value: 160 } } } });
    expect(part(evaluate(ratio), BLINA, 'inc-3.ana')).toMatchObject({ outcome: 'met', evidence: [{ value: '1:160' }] });
  });

  it('reads positivity from the interpretation flag when there is no value', () => {
    const b = child().bundle();
    b.entry?.push({ resource: { resourceType: 'Observation', id: 'd1', status: 'final', code: { coding: [{ system: LOINC, code: '5130-0' }] }, effectiveDateTime: daysAgo(5), interpretation: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation', code: 'H' }] }] } });
    expect(part(evaluate(b), BLINA, 'inc-3.dsdna')).toMatchObject({ outcome: 'met', evidence: [{ value: 'positive', note: 'read from the interpretation H' }] });
  });

  it('reads "not detected" as negative, not as detected', () => {
    const b = child().qualitative('56888-1', 'HIV', 'Not detected', daysAgo(5));
    expect(part(evaluate(b.bundle()), BLINA, 'exc-10.hiv').outcome).toBe('not-met');
  });

  it('leaves an indeterminate TB test unknown (retest), and an absent one for screening', () => {
    const b = child().qualitative('5196-1', 'HBsAg', 'ind', daysAgo(5));
    expect(part(evaluate(b.bundle()), BLINA, 'exc-10.hbsag').outcome).toBe('unknown');
    expect(part(evaluate(child().bundle()), BLINA, 'exc-10.hbsag')).toMatchObject({ outcome: 'review', reason: 'not in the record: checked at screening' });
  });
});

describe('diagnoses', () => {
  it('leaves SLE unknown, never met, for the broader "lupus erythematosus" code Synthea emits', () => {
    const p = part(evaluate(child().condition(SNOMED, '200936003', 'Lupus erythematosus').bundle()), BLINA, 'inc-2.sle');
    expect(p.outcome).toBe('unknown');
    expect(p.reason).toMatch(/only a broader diagnosis/);
  });

  it('accepts an ICD-10-CM SLE code and ignores a refuted one', () => {
    expect(part(evaluate(child().condition(ICD10, 'M32.14', 'Glomerular disease in SLE').bundle()), BLINA, 'inc-2.sle').outcome).toBe('met');
    const refuted = child().condition(SNOMED, '55464009', 'SLE', { verification: 'refuted' });
    expect(part(evaluate(refuted.bundle()), BLINA, 'inc-2.sle').outcome).toBe('not-met');
    const provisional = child().condition(SNOMED, '55464009', 'SLE', { verification: 'provisional' });
    expect(part(evaluate(provisional.bundle()), BLINA, 'inc-2.sle').outcome).toBe('unknown');
  });

  it('reads absence of a diagnosis as "not present" only when the Conditions could be read', () => {
    const mappings = realMappings();
    const unread = buildPatientRecord(undefined, [], new Map([['Condition', 'Condition could not be read from the EHR\'s FHIR server: HTTP 500']]));
    const { evaluations } = evaluateTrials(mappings.trials, unread, ANCHOR, mappings.engine);
    expect(part(evaluations, BLINA, 'inc-2.sle')).toMatchObject({ outcome: 'unknown', reason: expect.stringMatching(/HTTP 500/) });
  });

  it('counts a condition inside a look-back window by its abatement date', () => {
    const recent = child().condition(SNOMED, '26843008', 'Antiphospholipid syndrome', { onset: daysAgo(900), abatement: daysAgo(200) });
    expect(part(evaluate(recent.bundle()), BLINA, 'exc-3.any').outcome).toBe('review');
    const old = child().condition(SNOMED, '26843008', 'Antiphospholipid syndrome', { onset: daysAgo(900), abatement: daysAgo(500) });
    expect(part(evaluate(old.bundle()), BLINA, 'exc-3.any').outcome).toBe('not-met');
    const severe = child().condition(SNOMED, '26843008', 'Antiphospholipid syndrome', { onset: daysAgo(100), severity: { code: '24484000', display: 'Severe' } });
    expect(part(evaluate(severe.bundle()), BLINA, 'exc-3').outcome).toBe('met');
  });
});

describe('medications', () => {
  it('matches a product code (SCD) to its ingredient class', () => {
    const b = child().medication({ rxnorm: '979092', display: 'Hydroxychloroquine Sulfate 200 MG Oral Tablet' }, daysAgo(100));
    expect(part(evaluate(b.bundle()), BLINA, 'inc-6.antimalarial').outcome).toBe('met');
  });

  it('falls back to the ingredient name when the coding is not in the list, and says so', () => {
    const b = child().medication({ rxnorm: '99999999', display: 'Plaquenil 200 mg tablet' }, daysAgo(100));
    const p = part(evaluate(b.bundle()), BLINA, 'inc-6.antimalarial');
    expect(p.outcome).toBe('met');
    expect(p.evidence[0]?.note).toMatch(/matched by name "plaquenil"/);
  });

  it('ignores entered-in-error and not-taken records', () => {
    const b = child()
      .medication({ rxnorm: '121191', display: 'rituximab' }, daysAgo(20), { status: 'entered-in-error' })
      .medication({ rxnorm: '121191', display: 'rituximab' }, daysAgo(20), { status: 'not-taken' });
    expect(part(evaluate(b.bundle()), BLINA, 'exc-13').outcome).toBe('not-met');
    const real = child().medication({ rxnorm: '121191', display: 'rituximab' }, daysAgo(40), { end: daysAgo(30) });
    expect(part(evaluate(real.bundle()), BLINA, 'exc-13').outcome).toBe('met');
  });

  it('needs a course started long enough ago for a "stable dose"', () => {
    const fresh = child().medication({ rxnorm: '979092', display: 'Hydroxychloroquine 200 MG' }, daysAgo(3));
    const p = part(evaluate(fresh.bundle()), BLINA, 'inc-6.antimalarial');
    // Stable 7 days "prior to the first dose", still ahead: the record shows 3 days, so the study team decides.
    expect(p).toMatchObject({ outcome: 'review', recordOutcome: 'not-met' });
    expect(p.evidence[0]?.note).toMatch(/less than 7 days ago/);
  });

  it('compares steroid doses as prednisone equivalents per kg of the latest weight', () => {
    const withWeight = (tablets: number) =>
      child()
        .quantity('29463-7', 'Body weight', 40, 'kg', daysAgo(10))
        .medication({ rxnorm: '312615', display: 'predniSONE 20 MG Oral Tablet' }, daysAgo(200), { end: daysAgo(60), tablets, perDay: 1 });
    const high = part(evaluate(withWeight(2).bundle()), CD19, 'inc-2.hd-steroid');
    expect(high.outcome).toBe('met');
    expect(high.evidence[0]?.note).toMatch(/40 mg\/day prednisone equivalent, 1 mg\/kg\/day at 40 kg/);
    expect(part(evaluate(withWeight(1).bundle()), CD19, 'inc-2.hd-steroid').outcome).toBe('not-met');
    const noWeight = child().medication({ rxnorm: '312615', display: 'predniSONE 20 MG Oral Tablet' }, daysAgo(200), { end: daysAgo(60), tablets: 2, perDay: 1 });
    expect(part(evaluate(noWeight.bundle()), CD19, 'inc-2.hd-steroid')).toMatchObject({ outcome: 'unknown', reason: expect.stringMatching(/no body weight/) });
  });

  it('counts different agents, not records, for "at least 2 of the following treatments"', () => {
    const twice = child()
      .medication({ rxnorm: '197388', display: 'Azathioprine 50 MG Oral Tablet' }, daysAgo(300), { end: daysAgo(200) })
      .medication({ rxnorm: '197388', display: 'Azathioprine 50 MG Oral Tablet' }, daysAgo(100));
    expect(part(evaluate(twice.bundle()), CD19, 'inc-2.two-agents').outcome).toBe('not-met');
    const two = twice.medication({ rxnorm: '121191', display: 'rituximab' }, daysAgo(400), { end: daysAgo(390) });
    expect(part(evaluate(two.bundle()), CD19, 'inc-2.two-agents').outcome).toBe('met');
  });
});

describe('age', () => {
  const at = (birthDate: string, trialId: string, partId: string) =>
    part(evaluate(new PatientBuilder('p', { gender: 'male', birthDate }).bundle()), trialId, partId).outcome;

  it('includes the 5th birthday for "≥ 5 years"', () => {
    expect(at(yearsAgo(5), BLINA, 'inc-1')).toBe('met');
    expect(at(yearsAgo(5, -1), BLINA, 'inc-1')).toBe('not-met');
  });

  it('keeps "5-18 years (including threshold)" open until the day before the 19th birthday', () => {
    expect(at(yearsAgo(19, -1), CD19, 'inc-1')).toBe('met');
    expect(at(yearsAgo(19), CD19, 'inc-1')).toBe('not-met');
  });

  it('reads "more than 18 years" as past the 18th birthday', () => {
    expect(at(yearsAgo(18), BELI, 'inc-2')).toBe('not-met');
    expect(at(yearsAgo(18, 1), BELI, 'inc-2')).toBe('met');
  });

  it('is unknown without a birth date', () => {
    expect(part(evaluate(new PatientBuilder('p', { gender: 'male' }).bundle()), BLINA, 'inc-1').outcome).toBe('unknown');
  });
});
