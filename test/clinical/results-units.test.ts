import { describe, expect, it } from 'vitest';
import { convertUnit, UnitBudget } from '../../src/engine/units.js';

/**
 * Issue #10, "Units": enzyme activities in international units compare with U. 1 IU of enzyme activity =
 * 1 umol/min = 1 U (IUB 1961, IFCC); UCUM keeps [IU] arbitrary, so ucum-lhc alone refuses the conversion.
 * The hook-level cases (ALT 200 and 80 IU/L against the 40 U/L default) are in results-reading.test.ts.
 */
describe('convertUnit for enzyme activities', () => {
  it.each([
    [200, '[IU]/L', 'U/L', 200],
    [200, 'IU/L', 'U/L', 200],
    [200, 'IU/l', 'U/L', 200],
    [40, 'U/L', '[IU]/L', 40],
    [40, 'U/L', 'IU/L', 40],
    [40, 'U/L', '[iU]/L', 40],
    [1, '[IU]/mL', 'U/L', 1000],
    [600, '[IU]/L', 'ukat/L', 10],
  ])('%d %s is %d %s', (value, from, to, expected) => {
    expect(convertUnit(value, from, to, new UnitBudget())).toEqual({ ok: true, value: expected });
  });

  it('keeps refusing [IU] where the other side is not catalytic activity (hormones, masses)', () => {
    expect(convertUnit(5, 'm[IU]/mL', 'ng/mL', new UnitBudget())).toMatchObject({ ok: false });
    expect(convertUnit(5, '[IU]/L', 'mg/L', new UnitBudget())).toMatchObject({ ok: false });
    expect(convertUnit(5, '[IU]/L', 'mmol/L', new UnitBudget())).toMatchObject({ ok: false });
  });

  it('still converts ordinary UCUM units', () => {
    expect(convertUnit(12.5, 'g/dL', 'g/L', new UnitBudget())).toEqual({ ok: true, value: 125 });
  });
});
