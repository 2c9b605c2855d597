import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testApp } from '../support/app.js';
import { TRIAL, clinicalRecord as record, eligibilities, fireHook } from '../support/clinical.js';
import { convertUnit, isUcumUnit, normaliseUnit, UnitBudget } from '../../src/engine/units.js';

/**
 * Issue #17, "Units as labs print them": an ANC of 0.3 with the unit ×10^9/L could not be converted, so the
 * blinatumomab study's "neutrophils ≥ 0.5 × 10⁹/L" stayed unknown instead of not met. Counts as analysers and
 * lab systems print them are read as their UCUM units before conversion.
 */
describe('counts as labs print them', () => {
  it.each([
    ['×10^9/L', 0.3],
    ['× 10^9/L', 0.3],
    ['x10^9/L', 0.3],
    ['X10^9/L', 0.3],
    ['x10E9/L', 0.3],
    ['10E9/L', 0.3],
    ['10^9/L', 0.3],
    ['10*9/L', 0.3],
    ['×10⁹/L', 0.3],
    ['10⁹/L', 0.3],
    ['x10(9)/L', 0.3],
    ['10**9/L', 0.3],
    ['10^9/l', 0.3],
  ])('0.3 %s is 0.3 × 10⁹/L', (unit, value) => {
    expect(convertUnit(value, unit, '10*9/L', new UnitBudget())).toEqual({ ok: true, value: 0.3 });
  });

  it.each([
    ['K/uL', 3.4],
    ['K/µL', 3.4],
    ['K/μL', 3.4],
    ['thou/uL', 3.4],
    ['10³/µL', 3.4],
    ['10^3/µL', 3.4],
    ['x10^3/uL', 3.4],
    ['10*3/uL', 3.4],
    ['10^3/mcL', 3.4],
    ['/mm3', 3400],
    ['/mm³', 3400],
    ['cells/mm3', 3400],
    ['cells/mm³', 3400],
    ['/cumm', 3400],
    ['/cu mm', 3400],
    ['cells/µL', 3400],
    ['/µL', 3400],
  ])('%s: %d is 3.4 × 10⁹/L', (unit, value) => {
    expect(convertUnit(value, unit, '10*9/L', new UnitBudget())).toEqual({ ok: true, value: 3.4 });
  });

  it('reads M/uL as millions per microlitre and mcg as micrograms', () => {
    expect(convertUnit(4.5, 'M/uL', '10*12/L', new UnitBudget())).toEqual({ ok: true, value: 4.5 });
    expect(convertUnit(250, 'mcg/L', 'ug/L', new UnitBudget())).toEqual({ ok: true, value: 250 });
  });

  it.each(['109/L', 'G/L', '10^99999/L', 'x'])('leaves %j unconverted to 10*9/L rather than guess', (unit) => {
    expect(convertUnit(0.3, unit, '10*9/L', new UnitBudget())).toMatchObject({ ok: false });
  });

  it('leaves UCUM units as they are', () => {
    for (const u of ['10*9/L', 'g/dL', 'mg/(24.h)', '[IU]/L', 'm[IU]/mL', 'mm[Hg]', '%', 'mL/min/{1.73_m2}', '{score}']) expect(normaliseUnit(u), u).toBe(u);
  });

  it('reads a unit spelled like an object key as text, not as an inherited property', () => {
    // ucum-lhc, whose tables are plain objects too, threw on them; the mapping check must refuse them quietly.
    for (const u of ['constructor', 'toString', '__proto__']) expect(isUcumUnit(u), u).toBe(false);
    // The alias table was a plain object: "constructor" found Object's constructor and came back as a function.
    for (const u of ['constructor', 'toString', '__proto__', 'hasOwnProperty']) {
      expect(normaliseUnit(u), u).toBe(u);
      expect(convertUnit(1, u, 'g/L', new UnitBudget()), u).toMatchObject({ ok: false, reason: expect.stringContaining(`"${u}"`) });
    }
  });

  it('gives the same spelling when asked again (the normalised units are kept)', () => {
    for (const u of [' x10E9/L ', 'K/uL', 'µmol/L', 'cells/mm³']) expect(normaliseUnit(u), u).toBe(normaliseUnit(u));
    expect(normaliseUnit(' x10E9/L ')).toBe('10*9/L');
  });

  it('is bounded: a long or hostile unit is refused at once', () => {
    const started = performance.now();
    for (const u of ['×'.repeat(60_000), `10${'⁹'.repeat(60)}/L`, `x10^${'9'.repeat(60)}/L`, `cells/${'u'.repeat(60)}`, `${'mc'.repeat(30)}g`]) {
      expect(convertUnit(1, u, '10*9/L', new UnitBudget())).toMatchObject({ ok: false });
    }
    expect(performance.now() - started).toBeLessThan(200);
  });
});

describe('a neutrophil count as labs print it, through the hook', () => {
  let app: FastifyInstance;
  beforeAll(async () => {
    app = testApp();
    await app.ready();
  });
  afterAll(() => app.close());

  it('an ANC of 0.3 ×10^9/L is read as 0.3 × 10⁹/L, below the blinatumomab study\'s 0.5 × 10⁹/L: shown, and left for screening since the protocol gives the test no window', async () => {
    const bundle = record('units-anc-0-3-multiplication-sign');
    const res = await app.inject({ method: 'POST', url: '/trials/$evaluate', payload: bundle as unknown as Record<string, unknown> });
    type Part = { id: string; outcome: string; reason: string; recordOutcome?: string; evidence: { reference: string; value?: unknown; unit?: string }[] };
    const blina = res.json<{ trials: { trialId: string; criteria: { id: string; outcome: string; parts: Part[] }[] }[] }>().trials.find((t) => t.trialId === TRIAL.blinatumomab)!;
    const anc = blina.criteria.find((c) => c.id === 'inc-7')!.parts.find((p) => p.id === 'inc-7.anc')!;
    // The unit is read (before, "cannot be converted"): the value is compared, and the record says not met.
    expect(anc.recordOutcome).toBe('not-met');
    expect(anc.reason).toMatch(/^0\.3 10\*9\/L does not meet >= 0\.5 10\*9\/L/);
    expect(anc.evidence).toEqual([expect.objectContaining({ reference: 'Observation/units-anc-0-3-multiplication-sign-obs-8', value: 0.3, unit: '10*9/L' })]);
    // Issue 18 item 3: the 30-day window is the project's, not the protocol's, so it does not hide the trial alone.
    expect(anc.outcome).toBe('unknown');
    expect(eligibilities(await fireHook(app, bundle)).map((e) => e.trialId)).toContain(TRIAL.blinatumomab);
  });

  it('an ANC of 3400 cells/mm³ meets it: the study keeps its card, waiting only on the judgement of the record', async () => {
    const shown = eligibilities(await fireHook(app, record('units-anc-3400-per-mm3')));
    // Only the judgement of the record is left open (issue 18 item 5: then "possibly", never "likely").
    expect(shown.find((e) => e.trialId === TRIAL.blinatumomab)?.status).toBe('possibly-eligible');
    const res = await app.inject({ method: 'POST', url: '/trials/$evaluate', payload: record('units-anc-3400-per-mm3') as unknown as Record<string, unknown> });
    const blina = res.json<{ trials: { trialId: string; statusReason: { codes: string[] } }[] }>().trials.find((t) => t.trialId === TRIAL.blinatumomab)!;
    expect(blina.statusReason.codes).toEqual(['judgement-open']);
  });
});
