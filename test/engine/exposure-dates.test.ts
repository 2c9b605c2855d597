import type { Bundle, MedicationDispense, MedicationStatement } from '@medplum/fhirtypes';
import { describe, expect, it } from 'vitest';
import { exposureOf } from '../../src/engine/medication-exposure.js';
import { ANCHOR } from '../../scripts/fhir-builders.js';
import { clinicalRecord, TRIAL } from '../support/clinical.js';
import { evaluate, part } from '../support/evaluate.js';

/** Issue #18: a medication's dates are its event dates, with their precision; dateAsserted is an entry date. */

const subject = { reference: 'Patient/p' };
const iso = (d: Date | undefined): string | undefined => d?.toISOString().slice(0, 10);

describe('a MedicationStatement dated only by dateAsserted', () => {
  it('active: current, with no start (the assertion does not start the course) and the date in its note', () => {
    const s: MedicationStatement = { resourceType: 'MedicationStatement', status: 'active', subject, dateAsserted: '2026-11-21T10:15:00Z' };
    const e = exposureOf(s, ANCHOR);
    expect(e).toMatchObject({ certainty: 'given', current: true });
    expect(e.start).toBeUndefined();
    expect(e.dateNote).toBe('asserted 2026-11-21; when it was started is not in the record');
  });

  it('completed: no end date, but taken no later than the assertion (endBy)', () => {
    const s: MedicationStatement = { resourceType: 'MedicationStatement', status: 'completed', subject, dateAsserted: '2025-01-10' };
    const e = exposureOf(s, ANCHOR);
    expect([e.start, e.end, iso(e.endBy)]).toEqual([undefined, undefined, '2025-01-10']);
  });
});

describe('a course dated to the month', () => {
  it('keeps both edges: started between the first and the last day of the month', () => {
    const s: MedicationStatement = { resourceType: 'MedicationStatement', status: 'active', subject, effectivePeriod: { start: '2026-11' } };
    const e = exposureOf(s, ANCHOR);
    expect([iso(e.start), iso(e.startLatest)]).toEqual(['2026-11-01', '2026-11-30']);
    expect(e.dateNote).toBe('dated 2026-11 (month only)');
  });

  it('a completed course ending "2026-08" ends, at the latest, on 31 August', () => {
    const s: MedicationStatement = { resourceType: 'MedicationStatement', status: 'completed', subject, effectivePeriod: { start: '2026-06-01', end: '2026-08' } };
    const e = exposureOf(s, ANCHOR);
    expect([iso(e.end), iso(e.endEarliest)]).toEqual(['2026-08-31', '2026-08-01']);
  });
});

describe('a dispense handed over in a month, for 30 days', () => {
  it('"2026-08": its supply ran out between 31 August and 30 September', () => {
    const d: MedicationDispense = { resourceType: 'MedicationDispense', status: 'completed', subject, whenHandedOver: '2026-08', daysSupply: { value: 30, unit: 'days', code: 'd' } };
    const e = exposureOf(d, ANCHOR);
    expect([e.certainty, e.current, iso(e.start), iso(e.startLatest), iso(e.endEarliest), iso(e.end)]).toEqual(['given', false, '2026-08-01', '2026-08-31', '2026-08-31', '2026-09-30']);
    expect(e.dateNote).toBe('dated 2026-08 (month only)');
  });
});

/** The steroid-only record (dates-steroid-asserted-only) with prednisone's start set to `start`. */
function prednisoneFrom(start: string): Bundle {
  const bundle = clinicalRecord('dates-steroid-asserted-only');
  for (const e of bundle.entry ?? []) {
    if (e.resource?.id === 'dates-steroid-asserted-only-med-27') (e.resource as MedicationStatement).effectivePeriod = { start };
  }
  return bundle;
}

describe('"a corticosteroid current for at least 7 days" with a month-only start (blinatumomab inclusion 6)', () => {
  it('started "2026-11": perhaps less than 7 days before 2026-11-23, so unknown', () => {
    const ocs = part(evaluate(prednisoneFrom('2026-11')), TRIAL.blinatumomab, 'inc-6.ocs');
    expect(ocs.outcome).toBe('unknown');
    expect(ocs.reason).toContain('it may be less than 7 days ago');
  });

  it('started "2026-10": at least 23 days, so met', () => {
    expect(part(evaluate(prednisoneFrom('2026-10')), TRIAL.blinatumomab, 'inc-6.ocs').outcome).toBe('met');
  });

  it('started 2026-11-20: 3 days, so not met, as before', () => {
    expect(part(evaluate(prednisoneFrom('2026-11-20')), TRIAL.blinatumomab, 'inc-6.ocs').outcome).toBe('not-met');
  });
});
