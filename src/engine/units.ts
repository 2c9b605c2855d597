import ucum from '@lhncbc/ucum-lhc';
import { TEXT_LIMITS } from '../fhir/bounded-text.js';

const utils = ucum.UcumLhcUtils.getInstance();

export type Conversion = { ok: true; value: number } | { ok: false; reason: string };

/** Units that are written differently by EHRs but are the same UCUM unit. */
const ALIASES: ReadonlyMap<string, string> = new Map(Object.entries({
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
  'IU/l': '[IU]/L',
  'U/L': 'U/L',
  'U/l': 'U/L',
  'IU/mL': '[IU]/mL',
  'IU/ml': '[IU]/mL',
}));

/** [IU] as UCUM writes it ("[IU]", and the legacy "[iU]"). */
const IU_ATOM = /\[[Ii]U\]/g;
/** Catalytic activity units: UCUM's enzyme unit U (1 U = 1 umol/min) or the SI katal, bare or prefixed: "U/L", "mU/mL", "ukat/L". */
const ENZYME_U = /(?:^|[./])[kmunp]?(?:U|kat)(?:[./]|$)/;

/**
 * Enzyme activities in international units compare with U. The IUB (1961) and the IFCC define the
 * international unit of enzyme activity as the amount that converts 1 umol of substrate per minute, which is
 * UCUM's U (umol/min; 1 ukat = 60 U): 200 IU/L of ALT is 200 U/L. UCUM itself treats [IU] as an arbitrary unit (WHO
 * reference preparations for hormones, vaccines, vitamins) that converts to nothing else, so ucum-lhc refuses
 * [IU]/L -> U/L. The equivalence is used only when the other side is written in U, which names catalytic
 * activity: an [IU] hormone (hCG in m[IU]/mL) still converts to nothing but [IU] (issue #10, Units).
 */
function asEnzymeUnits(from: string, to: string): [string, string] | undefined {
  const fromIU = IU_ATOM.test(from);
  IU_ATOM.lastIndex = 0;
  const toIU = IU_ATOM.test(to);
  IU_ATOM.lastIndex = 0;
  if (fromIU && !toIU && ENZYME_U.test(to)) return [from.replace(IU_ATOM, 'U'), to];
  if (toIU && !fromIU && ENZYME_U.test(from)) return [from, to.replace(IU_ATOM, 'U')];
  return undefined;
}

/**
 * Units already normalised, by the recorded spelling: a pure function of the string, so shared across requests
 * like the conversion cache below, and bounded the same way (cleared when full). ucumSpelling's rewrites were
 * 4% of a typical hook's evaluation, for the same handful of units every time (issue #21 item 5).
 */
const NORMALISED = new Map<string, string>();
const MAX_NORMALISED = 4096;

/** Normalises a recorded unit to UCUM where the EHR used a common non-UCUM spelling. */
export function normaliseUnit(unit: string): string {
  if (unit.length > TEXT_LIMITS.unit * 4) return unit; // not a unit; parsableUnit refuses it
  const hit = NORMALISED.get(unit);
  if (hit !== undefined) return hit;
  const normalised = spelledForUcum(unit.trim());
  if (NORMALISED.size >= MAX_NORMALISED) NORMALISED.clear();
  NORMALISED.set(unit, normalised);
  return normalised;
}

function spelledForUcum(trimmed: string): string {
  const alias = ALIASES.get(trimmed);
  if (alias !== undefined) return alias;
  if (trimmed.length > TEXT_LIMITS.unit) return trimmed;
  const printed = ucumSpelling(trimmed);
  return ALIASES.get(printed) ?? printed;
}

/** `109/L`, `103/uL`, `1012/L`: 10^9, 10^3, 10^12 printed without the superscript. */
const LOST_EXPONENT = /^10\d{1,2}\//;

const SUPERSCRIPTS: Readonly<Record<string, string>> = { '⁰': '0', '¹': '1', '²': '2', '³': '3', '⁴': '4', '⁵': '5', '⁶': '6', '⁷': '7', '⁸': '8', '⁹': '9', '⁻': '-' };

/**
 * A unit as labs print it, in UCUM's spelling (issue #17, "Units as labs print them": an ANC of 0.3 ×10^9/L
 * could not be converted). Each step is a rewrite whose meaning is not in doubt:
 * - blanks go (UCUM §2.1: a unit term has none); the micro sign and Greek mu are UCUM's `u` (§3.2);
 * - a power of ten however printed (`×10^9`, `x10E9`, `X10**9`, `10⁹`, `10(9)`) is UCUM's `10*9` (§3.2.3, the
 *   `10*` prefix-like factor), and other superscript digits are exponents (`mm³` is `mm3`);
 * - `K/uL` and `thou/uL` (thousands per microlitre, how US analysers print counts) are `10*3/uL`, `M/uL`
 *   (millions, red cells) is `10*6/uL`: UCUM's K would be kelvin, and its M is not an atom;
 * - `cells/mm3`, `/cumm` and `/cu mm` are `/mm3`; `mcL` and `mcg` are `uL` and `ug`.
 * Ambiguous spellings are left as they are and so stay unconvertible (unknown, never a guess): `109/L` (a lost
 * superscript), `G/L` (French "giga per litre", UCUM's gauss per litre). Bounded: the input is at most
 * TEXT_LIMITS.unit characters and every pattern is anchored or a single character class.
 */
function ucumSpelling(unit: string): string {
  let u = unit.replace(/\s+/g, '').replace(/[\u00b5\u03bc]/g, 'u');
  u = u.replace(/10([⁰¹²³⁴⁵⁶⁷⁸⁹]{1,2})/g, (_m, d: string) => `10^${[...d].map((c) => SUPERSCRIPTS[c]).join('')}`);
  u = u.replace(/[⁰¹²³⁴⁵⁶⁷⁸⁹⁻]/g, (c) => SUPERSCRIPTS[c] ?? c);
  u = u.replace(/^[\u00d7xX*]10/, '10');
  u = u.replace(/^10(?:\^|\*\*|\*|[Ee])?\((\d{1,2})\)(?=\/)/, '10*$1').replace(/^10(?:\^|\*\*|\*|[Ee])(\d{1,2})(?=\/)/, '10*$1');
  u = u.replace(/^(?:K|k|thou|Thou|THOU)\/(?=u[Ll]$|mm3$)/, '10*3/').replace(/^(?:M|mill|Mill|MILL)\/(?=u[Ll]$|mm3$)/, '10*6/');
  u = u.replace(/^cells?\//i, '/').replace(/\/cu\.?mm$/i, '/mm3');
  return u.replace(/mc(?=[gLl](?:$|\/))/g, 'u');
}

/** Distinct unit conversions one evaluation may parse (issue #20 item 3); past it a value is unknown, never a guess. */
export const MAX_UNIT_CONVERSIONS_PER_REQUEST = 256;

/**
 * Issue #20 item 3: the per-request budget on unit conversions. Each unit string was already capped
 * (TEXT_LIMITS.unit), but 22,000 results each with a different short UCUM unit made 22,000 UCUM parses and
 * blocked the loop for 3 to 8 s: the shared cache (4096 pairs) cannot help against units never seen before.
 * One budget per evaluation (EvalContext.units), never shared across requests, so the evaluator stays pure and
 * a result does not depend on what other requests converted. A pair already converted in this request costs
 * nothing more; a pair past the budget is not parsed and its value is unknown with the reason.
 */
export class UnitBudget {
  private readonly pairs = new Set<string>();
  constructor(readonly max: number = MAX_UNIT_CONVERSIONS_PER_REQUEST) {}

  /** Whether the conversion `key` may be parsed in this request: seen before, or room left for it. */
  admits(key: string): boolean {
    if (this.pairs.has(key)) return true;
    if (this.pairs.size >= this.max) return false;
    this.pairs.add(key);
    return true;
  }
}

/** Whether a unit is only an annotation ("{score}", "1"), i.e. a plain number. */
export function isDimensionless(unit: string | undefined): boolean {
  return unit === undefined || unit === '' || unit === '1' || (unit.length <= TEXT_LIMITS.unit && /^\{[^}]*\}$/.test(unit));
}

/**
 * Whether a unit is a valid UCUM expression, as ucum-lhc's validator reads it: used at load to check a
 * mapping's units against what its code lists measure (issue #21 item 1). A code list's "qualitative" or
 * "lab-specific (S/CO ...)" is no UCUM unit, and so measures nothing a threshold could be compared with.
 */
export function isUcumUnit(unit: string): boolean {
  // ucum-lhc finds "constructor" in its plain-object tables and calls it valid, then throws converting it.
  if (!parsableUnit(unit) || unit in Object.prototype) return false;
  try {
    return utils.validateUnitString(unit).status === 'valid';
  } catch {
    return false;
  }
}

/**
 * Converts a value between UCUM units with @lhncbc/ucum-lhc. Mass and substance concentrations convert only
 * when a molecular weight is given (bilirubin mg/dL to umol/L).
 */
export function convertUnit(value: number, from: string, to: string, budget: UnitBudget, molecularWeight?: number): Conversion {
  const f = normaliseUnit(from);
  const t = normaliseUnit(to);
  // "109/L" is UCUM for 109 per litre, but a lab means 10^9/L with its superscript lost: never a guess either way.
  for (const u of [f, t]) if (LOST_EXPONENT.test(u)) return { ok: false, reason: `unit "${u}" may be a power of ten whose exponent was lost` };
  if (f === t) return { ok: true, value };
  if (isDimensionless(f) && isDimensionless(t)) return { ok: true, value };
  if (!budget.admits(`${f}\u0000${t}\u0000${molecularWeight ?? ''}`)) {
    return { ok: false, reason: `unit "${from}" was not converted to "${to}": this request's unit budget (${budget.max} distinct unit conversions) was used up` };
  }
  const direct = ucumConvert(value, f, t, molecularWeight);
  if (direct !== undefined) return { ok: true, value: direct };
  const enzyme = asEnzymeUnits(f, t);
  if (enzyme) {
    if (enzyme[0] === enzyme[1]) return { ok: true, value };
    const v = ucumConvert(value, enzyme[0], enzyme[1], molecularWeight);
    if (v !== undefined) return { ok: true, value: v };
  }
  return { ok: false, reason: `unit "${from}" cannot be converted to "${to}"` };
}

/**
 * A unit the UCUM parser may see: printable ASCII without spaces (UCUM §2.1: a unit term has no blanks) and
 * at most TEXT_LIMITS.unit characters. Issue #12 item 2: a 64 KB unit ("g." repeated) stalled the service;
 * and ucum-lhc console.logs a unit it cannot parse (record data in the log, house rule 5), which a unit with
 * blanks triggers.
 */
const UCUM_TERM = /^[\x21-\x7e]+$/;
function parsableUnit(unit: string): boolean {
  return unit.length <= TEXT_LIMITS.unit && UCUM_TERM.test(unit);
}

/**
 * Conversions between two units, parsed once per unit pair (issue #12 item 2): `null` when they do not
 * convert, else the affine map value -> a*value + b that ucum-lhc's conversion is for every unit pair it
 * converts linearly (checked on three points; a pair that is not affine, such as a logarithmic unit, is
 * converted by ucum-lhc on every call). Bounded: cleared when full.
 */
type CachedConversion = { a: number; b: number } | 'direct' | null;
const CONVERSIONS = new Map<string, CachedConversion>();
const MAX_CACHED_CONVERSIONS = 4096;

function conversionFor(from: string, to: string, molecularWeight?: number): CachedConversion {
  const key = `${from}\u0000${to}\u0000${molecularWeight ?? ''}`;
  const hit = CONVERSIONS.get(key);
  if (hit !== undefined) return hit;
  let found: CachedConversion = null;
  if (parsableUnit(from) && parsableUnit(to)) {
    const at = (v: number): number | undefined => rawConvert(v, from, to, molecularWeight);
    const [y0, y1, y2] = [at(0), at(1), at(2)];
    if (y0 !== undefined && y1 !== undefined && y2 !== undefined) {
      const a = y1 - y0;
      found = Math.abs(y2 - y0 - 2 * a) <= 1e-9 * Math.max(1, Math.abs(y2)) ? { a, b: y0 } : 'direct';
    } else if (y1 !== undefined) found = 'direct';
  }
  if (CONVERSIONS.size >= MAX_CACHED_CONVERSIONS) CONVERSIONS.clear();
  CONVERSIONS.set(key, found);
  return found;
}

/**
 * ucum-lhc's conversion, `undefined` when it does not convert. ucum-lhc keeps its unit tables in plain objects:
 * a unit spelled like an inherited key ("constructor", "toString") makes it throw, which is no conversion.
 */
function rawConvert(value: number, from: string, to: string, molecularWeight?: number): number | undefined {
  let res;
  try {
    res = utils.convertUnitTo(from, value, to, molecularWeight ? { molecularWeight } : undefined);
  } catch {
    return undefined;
  }
  return res.status === 'succeeded' && typeof res.toVal === 'number' && Number.isFinite(res.toVal) ? res.toVal : undefined;
}

function ucumConvert(value: number, from: string, to: string, molecularWeight?: number): number | undefined {
  const c = conversionFor(from, to, molecularWeight);
  if (c === null) return undefined;
  const toVal = c === 'direct' ? rawConvert(value, from, to, molecularWeight) : c.a * value + c.b;
  // ucum-lhc works in floating point: 12.5 g/dL becomes 124.99999999999999 g/L. Round off the noise.
  return toVal !== undefined && Number.isFinite(toVal) ? Number(toVal.toPrecision(12)) : undefined;
}
