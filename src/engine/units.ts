import ucum from '@lhncbc/ucum-lhc';

const utils = ucum.UcumLhcUtils.getInstance();

export type Conversion = { ok: true; value: number } | { ok: false; reason: string };

/** Units that are written differently by EHRs but are the same UCUM unit. */
const ALIASES: Readonly<Record<string, string>> = {
  'mL/min/1.73m2': 'mL/min/{1.73_m2}',
  'mL/min/1.73 m2': 'mL/min/{1.73_m2}',
  'ml/min/1.73m2': 'mL/min/{1.73_m2}',
  'mL/min/{1.73_m2}': 'mL/min/{1.73_m2}',
  'cells/uL': '/uL',
  'cells/µL': '/uL',
  '/µL': '/uL',
  'x10^9/L': '10*9/L',
  'x10E9/L': '10*9/L',
  '10^9/L': '10*9/L',
  'K/uL': '10*3/uL',
  '10^3/uL': '10*3/uL',
  'IU/L': '[IU]/L',
  'U/L': 'U/L',
  'IU/mL': '[IU]/mL',
};

/** Normalises a recorded unit to UCUM where the EHR used a common non-UCUM spelling. */
export function normaliseUnit(unit: string): string {
  return ALIASES[unit.trim()] ?? unit.trim();
}

/** Whether a unit is only an annotation ("{score}", "1"), i.e. a plain number. */
export function isDimensionless(unit: string | undefined): boolean {
  return unit === undefined || unit === '' || unit === '1' || /^\{[^}]*\}$/.test(unit);
}

/**
 * Converts a value between UCUM units with @lhncbc/ucum-lhc. Mass and substance concentrations convert only
 * when a molecular weight is given (bilirubin mg/dL to umol/L).
 */
export function convertUnit(value: number, from: string, to: string, molecularWeight?: number): Conversion {
  const f = normaliseUnit(from);
  const t = normaliseUnit(to);
  if (f === t) return { ok: true, value };
  if (isDimensionless(f) && isDimensionless(t)) return { ok: true, value };
  const res = utils.convertUnitTo(f, value, t, molecularWeight ? { molecularWeight } : undefined);
  if (res.status === 'succeeded' && typeof res.toVal === 'number' && Number.isFinite(res.toVal)) {
    // ucum-lhc works in floating point: 12.5 g/dL becomes 124.99999999999999 g/L. Round off the noise.
    return { ok: true, value: Number(res.toVal.toPrecision(12)) };
  }
  return { ok: false, reason: `unit "${from}" cannot be converted to "${to}"` };
}
