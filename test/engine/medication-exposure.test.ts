import type { Bundle, MedicationAdministration, MedicationDispense, MedicationRequest, MedicationStatement, Resource } from '@medplum/fhirtypes';
import { describe, expect, it } from 'vitest';
import { exposureOf, isIgnoredMedication, routeOf } from '../../src/engine/medication-exposure.js';
import { ANCHOR } from '../../scripts/fhir-builders.js';
import { evaluate, part } from '../support/evaluate.js';

const RX = 'http://www.nlm.nih.gov/research/umls/rxnorm';
const subject = { reference: 'Patient/p' };
const med = (code: string, display: string) => ({ coding: [{ system: RX, code, display }], text: display });

describe('which records are ignored (FHIR R4 status value sets, per type)', () => {
  it.each([
    ['MedicationStatement', 'entered-in-error', true],
    ['MedicationStatement', 'not-taken', true],
    ['MedicationStatement', 'intended', false],
    ['MedicationRequest', 'cancelled', true],
    ['MedicationRequest', 'draft', true],
    ['MedicationRequest', 'entered-in-error', true],
    ['MedicationRequest', 'on-hold', false],
    ['MedicationAdministration', 'not-done', true],
    ['MedicationAdministration', 'entered-in-error', true],
    ['MedicationAdministration', 'completed', false],
    ['MedicationDispense', 'cancelled', true],
    ['MedicationDispense', 'declined', true],
    ['MedicationDispense', 'completed', false],
  ] as const)('%s %s ignored: %s', (resourceType, status, ignored) => {
    expect(isIgnoredMedication({ resourceType, status, subject } as never)).toBe(ignored);
  });
});

describe('exposure dates and certainty', () => {
  it('an order is only an order, dated by authoredOn, even with a validity period covering today', () => {
    const r: MedicationRequest = { resourceType: 'MedicationRequest', status: 'active', intent: 'order', subject, authoredOn: '2026-03-20', dispenseRequest: { validityPeriod: { start: '2026-03-20', end: '2027-03-20' } } };
    const e = exposureOf(r, ANCHOR);
    expect(e.certainty).toBe('ordered');
    expect(e.start?.toISOString().slice(0, 10)).toBe('2026-03-20');
    expect(e.dateNote).toBe('ordered 2026-03-20 (active); administration not recorded');
  });

  it('an administration is given on its effective time; in-progress is current', () => {
    const a: MedicationAdministration = { resourceType: 'MedicationAdministration', status: 'in-progress', subject, effectivePeriod: { start: '2026-11-22T08:00:00Z' } };
    expect(exposureOf(a, ANCHOR)).toMatchObject({ certainty: 'given', current: true });
    const done: MedicationAdministration = { ...a, status: 'completed', effectivePeriod: { start: '2026-10-01T08:00:00Z', end: '2026-10-01T12:00:00Z' } };
    expect(exposureOf(done, ANCHOR)).toMatchObject({ certainty: 'given', current: false });
  });

  it('a dispense is given when handed over, for its days of supply; not handed over is only ordered', () => {
    const d: MedicationDispense = { resourceType: 'MedicationDispense', status: 'completed', subject, whenHandedOver: '2026-11-10', daysSupply: { value: 30, unit: 'days', code: 'd' } };
    expect(exposureOf(d, ANCHOR)).toMatchObject({ certainty: 'given', current: true });
    expect(exposureOf({ ...d, status: 'preparation', whenHandedOver: undefined }, ANCHOR).certainty).toBe('ordered');
  });

  it('an intended statement is not yet taken', () => {
    const s: MedicationStatement = { resourceType: 'MedicationStatement', status: 'intended', subject, effectivePeriod: { start: '2026-11-01' } };
    expect(exposureOf(s, ANCHOR).certainty).toBe('ordered');
  });
});

describe('route', () => {
  const none = new Map();
  const statement = (text: string, route?: { system: string; code: string; display: string }): MedicationStatement => ({
    resourceType: 'MedicationStatement', status: 'active', subject, medicationCodeableConcept: { text },
    ...(route ? { dosage: [{ route: { coding: [route] } }] } : {}),
  });
  it.each([
    ['hydrocortisone 10 MG/G Topical Cream', false],
    ['tacrolimus 1 MG/G Topical Ointment', false],
    ['dexamethasone 1 MG/ML Ophthalmic Solution', false],
    ['budesonide 0.09 MG/ACTUAT Dry Powder Inhaler', false],
    ['fluticasone 0.05 MG/ACTUAT Nasal Spray', false],
    ['hydrocortisone 100 MG Rectal Foam', false],
    ['Tacrolimus 0.1% ointment', false],
    ['clotrimazole 100 MG Vaginal Tablet', false],
    ['fluticasone Intranasal Spray', false],
    ['triamcinolone 40 MG/ML Injectable Suspension', true],
    ['methylprednisolone 4 MG Oral Tablet', true],
    ['predniSONE 5 MG Oral Tablet', true],
    ['methylprednisolone 1000 MG Injection', true],
    ['rituximab', true],
  ])('%s systemic: %s', (text, systemic) => {
    expect(routeOf(statement(text), none, text.toLowerCase()).systemic).toBe(systemic);
  });
  it('reads a SNOMED topical route code (6064005) over the name', () => {
    const s = statement('tacrolimus', { system: 'http://snomed.info/sct', code: '6064005', display: 'Topical route' });
    expect(routeOf(s, none, 'tacrolimus')).toEqual({ systemic: false, how: 'route Topical route' });
  });
});

function bundleOf(...resources: Resource[]): Bundle {
  const all: Resource[] = [
    { resourceType: 'Patient', id: 'p', gender: 'female', birthDate: '2014-06-01' },
    { resourceType: 'Condition', id: 'sle', subject, clinicalStatus: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-clinical', code: 'active' }] }, code: { coding: [{ system: 'http://snomed.info/sct', code: '55464009' }] } },
    ...resources,
  ];
  return { resourceType: 'Bundle', type: 'collection', entry: all.map((resource) => ({ resource })) };
}

const statement = (id: string, concept: object, start: string, end?: string, dose?: number): MedicationStatement => ({
  resourceType: 'MedicationStatement', id, status: end ? 'completed' : 'active', subject, medicationCodeableConcept: concept,
  effectivePeriod: { start, ...(end ? { end } : {}) },
  ...(dose ? { dosage: [{ doseAndRate: [{ doseQuantity: { value: dose, unit: 'mg', system: 'http://unitsofmeasure.org', code: 'mg' } }], timing: { repeat: { frequency: 2, period: 1, periodUnit: 'd' } } }] } : {}),
});

describe('orders in the rules', () => {
  it('an order alone for a treatment-history inclusion is unknown, not met and not not-met', () => {
    const order: MedicationRequest = { resourceType: 'MedicationRequest', id: 'o', status: 'completed', intent: 'order', subject, authoredOn: '2025-01-01', medicationCodeableConcept: med('1092437', 'belimumab') };
    const p = part(evaluate(bundleOf(order)), 'nct06789107-blinatumomab', 'inc-4.biologic');
    expect(p.outcome).toBe('unknown');
  });

  it('the same order counts when the record also shows the ingredient given', () => {
    const order: MedicationRequest = { resourceType: 'MedicationRequest', id: 'o', status: 'completed', intent: 'order', subject, authoredOn: '2025-01-01', medicationCodeableConcept: med('1656402', 'belimumab 400 MG Injection [Benlysta]') };
    const given: MedicationAdministration = { resourceType: 'MedicationAdministration', id: 'a', status: 'completed', subject, effectiveDateTime: '2025-01-02', medicationCodeableConcept: { text: 'Benlysta 400 mg IV' } };
    const p = part(evaluate(bundleOf(order, given)), 'nct06789107-blinatumomab', 'inc-4.biologic');
    expect(p.outcome).toBe('met');
  });

  it('a current order of a JAK inhibitor leaves the "during screening" exclusion unknown, never met', () => {
    const order: MedicationRequest = { resourceType: 'MedicationRequest', id: 'o', status: 'active', intent: 'order', subject, authoredOn: '2026-11-01', medicationCodeableConcept: med('1357536', 'tofacitinib') };
    const p = part(evaluate(bundleOf(order)), 'nct06789107-blinatumomab', 'exc-14');
    expect(p.outcome).toBe('unknown');
  });
});

describe('courses and agents', () => {
  it('a dose change starts a new course: the earlier record at another dose is not joined', () => {
    const b = bundleOf(statement('m1', med('68149', 'mycophenolate mofetil'), '2026-09-01', '2026-11-05', 500), statement('m2', med('68149', 'mycophenolate mofetil'), '2026-11-06', undefined, 1000));
    const p = part(evaluate(b), 'nct06789107-blinatumomab', 'inc-6.is');
    expect(p.outcome).toBe('not-met');
  });

  it('a renewal whose earlier dose is not recorded leaves a stable dose unknown', () => {
    const b = bundleOf(statement('m1', med('68149', 'mycophenolate mofetil'), '2026-09-01', '2026-11-05'), statement('m2', med('68149', 'mycophenolate mofetil'), '2026-11-06', undefined, 1000));
    const p = part(evaluate(b), 'nct06789107-blinatumomab', 'inc-6.is');
    expect(p.outcome).toBe('unknown');
  });

  it('brand, generic, Chinese name and product code of one ingredient are one agent; two ingredients are two', () => {
    const one = bundleOf(
      statement('a', { text: '吗替麦考酚酯分散片 0.25 g' }, '2024-01-01', '2024-06-01'),
      statement('b', med('616435', 'mycophenolate mofetil 500 MG Oral Tablet [Cellcept]'), '2024-06-02', '2025-01-01'),
      statement('c', { text: 'MMF 500 mg bid' }, '2025-01-02'),
    );
    expect(part(evaluate(one), 'zju-cd19-car-t-csle', 'inc-2.two-agents').outcome).toBe('not-met');
    const two = bundleOf(statement('a', { text: '吗替麦考酚酯分散片 0.25 g' }, '2024-01-01'), statement('t', { text: '泰它西普 160 mg 皮下注射' }, '2025-01-01'));
    const p = part(evaluate(two), 'zju-cd19-car-t-csle', 'inc-2.two-agents');
    expect(p.outcome).toBe('met');
    expect(p.reason).toBe('2 different agents: mycophenolate mofetil, telitacicept');
  });
});

describe('administrations and contained Medications in the rules', () => {
  it('cyclophosphamide infused 10 days ago, recorded only as an administration, meets "cyclophosphamide in the last 4 weeks"', () => {
    const given: MedicationAdministration = { resourceType: 'MedicationAdministration', id: 'cyc', status: 'completed', subject, effectiveDateTime: '2026-11-13T10:00:00Z', medicationCodeableConcept: med('1734919', 'Cyclophosphamide 1000 MG Injection') };
    const p = part(evaluate(bundleOf(given, statement('n', med('849574', 'Naproxen sodium 220 MG Oral Tablet'), '2026-01-01'))), 'nct06789107-blinatumomab', 'exc-15');
    // Read as given 10 days ago; exclusion 15 counts back from enrolment, still ahead, so it goes to review.
    expect(p.parts?.[0]?.recordOutcome).toBe('met');
    expect(p.outcome).toBe('review');
    expect(p.evidence[0]).toMatchObject({ reference: 'MedicationAdministration/cyc', date: '2026-11-13' });
  });

  it('reads the dose of a contained Medication from its ingredient strength', () => {
    const s: MedicationStatement = {
      resourceType: 'MedicationStatement', id: 's', status: 'active', subject, effectivePeriod: { start: '2026-06-01' },
      contained: [{ resourceType: 'Medication', id: 'm', code: { text: 'methylprednisolone 16 mg tablet' }, ingredient: [{ itemCodeableConcept: { text: 'methylprednisolone' }, strength: { numerator: { value: 16, unit: 'mg', code: 'mg' }, denominator: { value: 1, unit: 'tablet' } } }] }],
      medicationReference: { reference: '#m' },
      dosage: [{ doseAndRate: [{ doseQuantity: { value: 2, unit: 'tablet' } }], timing: { repeat: { frequency: 1, period: 1, periodUnit: 'd' } } }],
    };
    const weight: Resource = { resourceType: 'Observation', id: 'w', status: 'final', subject, code: { coding: [{ system: 'http://loinc.org', code: '29463-7' }] }, effectiveDateTime: '2026-11-01', valueQuantity: { value: 30, unit: 'kg', system: 'http://unitsofmeasure.org', code: 'kg' } };
    const p = part(evaluate(bundleOf(s, weight)), 'zju-cd19-car-t-csle', 'inc-2.hd-steroid');
    // 2 x 16 mg methylprednisolone = 32 mg = 40 mg prednisone a day, 1.33 mg/kg at 30 kg, for almost 6 months.
    expect(p.outcome).toBe('met');
    expect(p.evidence[0]?.note).toContain('1.33 mg/kg/day at 30 kg');
  });
});
