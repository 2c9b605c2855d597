import { describe, expect, it } from 'vitest';
import { ANCHOR } from '../../scripts/fhir-builders.js';
import { addDuration, firstDayOutsideWindow } from '../../src/engine/dates.js';
import { clinicalRecord, TRIAL } from '../support/clinical.js';
import { evaluate, trial } from '../support/evaluate.js';

/** Issue #11 item 4: the date a washout exclusion stops applying, computed by the engine, not the view. */
describe('the date a look-back exclusion clears', () => {
  const exclusion13 = (now: Date) => trial(evaluate(clinicalRecord('meds-rituximab-infusion'), now), TRIAL.blinatumomab).criteria.find((c) => c.id === 'exc-13')!;

  it('rituximab infused 5 weeks ago: blinatumomab exclusion 13 (anti-CD19/CD20 in the last 3 months) is met and says when it clears', () => {
    const exc13 = exclusion13(ANCHOR);
    expect(exc13.result).toBe('met');
    expect(exc13.clearsOn).toMatch(/^\d{4}-\d{2}-\d{2}$/);
    expect(exc13.clearsAfter).toMatch(/^3 months after the last .*rituximab.* \(\d{4}-\d{2}-\d{2}\)$/i);
    // About three months after the date it names (the day after, when the last infusion ended late in the day).
    const last = /\((\d{4}-\d{2}-\d{2})\)$/.exec(exc13.clearsAfter!)![1]!;
    const approx = addDuration(new Date(`${last}T00:00:00Z`), 'P3M').getTime();
    expect(Math.abs(Date.parse(`${exc13.clearsOn}T00:00:00Z`) - approx)).toBeLessThanOrEqual(86_400_000);
  });

  it('the date is right: at the end of the day before, the exclusion still applies; from the first minute of the day, it no longer does', () => {
    const clearsOn = exclusion13(ANCHOR).clearsOn!;
    const midnight = Date.parse(`${clearsOn}T00:00:00Z`);
    expect(exclusion13(new Date(midnight - 86_400_000)).result).toBe('met');
    for (const now of [new Date(midnight), new Date(midnight + 23 * 3_600_000)]) {
      const onTheDay = exclusion13(now);
      expect(onTheDay.result).not.toBe('met');
      expect(onTheDay.clearsOn).toBeUndefined();
    }
  });

  it('calendar months: a record on 30 November is outside "the last 3 months" from 1 March, not 2 March', () => {
    expect(firstDayOutsideWindow(new Date('2026-11-30T00:00:00Z'), 'P3M').toISOString().slice(0, 10)).toBe('2027-03-01');
    expect(firstDayOutsideWindow(new Date('2026-10-14T00:00:00Z'), 'P3M').toISOString().slice(0, 10)).toBe('2027-01-15');
    expect(firstDayOutsideWindow(new Date('2026-10-14T15:30:00Z'), 'P60D').toISOString().slice(0, 10)).toBe('2026-12-14');
  });

  it('an exclusion that does not apply, and an inclusion that is met, carry no date', () => {
    const evaluations = evaluate(clinicalRecord('meds-rituximab-infusion'), ANCHOR);
    const all = evaluations.flatMap((t) => t.criteria);
    expect(all.filter((c) => c.clearsOn !== undefined).length).toBeGreaterThan(0);
    for (const c of all.filter((c) => c.clearsOn !== undefined)) {
      expect(c.type).toBe('exclusion');
      expect(c.result).toBe('met');
    }
    expect(all.filter((c) => c.type === 'inclusion' && c.result === 'met').every((c) => c.clearsOn === undefined)).toBe(true);
  });
});
