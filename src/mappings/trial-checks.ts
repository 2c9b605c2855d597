import type { CompiledLeaf, CompiledRule, CompiledTrial } from '../engine/compiled.js';
import { UnitBudget, convertUnit, isUcumUnit } from '../engine/units.js';

/** The trial files' own units, checked once at start-up: the per-request budget (issue #20 item 3) is for records. */
const LOAD_TIME = new UnitBudget(Number.POSITIVE_INFINITY);

/**
 * What the schema cannot see in a trial file (issue #21 item 1): a threshold in a unit its code list never
 * measures, a range no patient can fall in, a window of no length. Each would load and then leave its criterion
 * unknown (or unmeetable) for every patient without a word: a SLEDAI-2K part in mg/dL told a patient with a
 * score of 12 from 10 days ago "SLEDAI-2K needed". Start-up (loadMappings) and `npm run check-trial` run these
 * same checks; each problem names the criterion and part.
 */

/** The units a code list's codes are measured in (fhir-mappings/valuesets/<id>.json `codes[].unit`). */
export type ListUnits = (listId: string) => readonly string[];

export interface TrialProblem {
  criterion: string;
  message: string;
}

interface MeasurementSpec {
  valueSet: string | string[];
  which?: string;
  window?: string;
  comparator?: '>=' | '>' | '<=' | '<';
  value?: number;
  unit?: string;
  defaultUln?: { value: number; unit: string };
  molecularWeight?: number;
}

interface AgeSpec {
  min?: number;
  max?: number;
  minInclusive?: boolean;
  maxInclusive?: boolean;
}

/** A one-sided or two-sided interval; `open` bounds exclude their end. */
interface Bounds {
  low?: { value: number; open: boolean; part: string };
  high?: { value: number; open: boolean; part: string };
}

const listIds = (valueSet: string | readonly string[]): readonly string[] => (typeof valueSet === 'string' ? [valueSet] : valueSet);

/** The leaves of a rule tree, in order. */
export function leavesOf(rule: CompiledRule, out: CompiledLeaf[] = []): CompiledLeaf[] {
  if ('of' in rule) for (const r of rule.of) leavesOf(r, out);
  else out.push(rule);
  return out;
}

/** Every `all` group of the tree (and the root, when it is a leaf, as a group of one). */
function conjunctions(rule: CompiledRule, out: CompiledLeaf[][] = []): CompiledLeaf[][] {
  if (!('of' in rule)) {
    out.push([rule]);
    return out;
  }
  if (rule.kind === 'all') out.push(rule.of.filter((r): r is CompiledLeaf => !('of' in r)));
  for (const r of rule.of) if ('of' in r) conjunctions(r, out);
  return out;
}

/**
 * A unit the part compares results in must be reachable from the unit of every code in its lists that has
 * one: UCUM commensurable (ucum-lhc), mass and substance through the part's molecular weight. A code whose
 * unit is no UCUM unit ("qualitative") is not a measurement and is left out.
 */
function unitProblems(leaf: CompiledLeaf, units: ListUnits): string[] {
  if (leaf.kind !== 'measurement') return [];
  const spec = leaf.spec as MeasurementSpec;
  const asked = [spec.unit, spec.defaultUln?.unit].filter((u): u is string => u !== undefined);
  const problems: string[] = [];
  for (const unit of asked) {
    if (!isUcumUnit(unit)) {
      problems.push(`part ${leaf.id}: unit "${unit}" is not a UCUM unit (https://ucum.org/ucum)`);
      continue;
    }
    for (const list of listIds(spec.valueSet)) {
      const measured = [...new Set(units(list))].filter(isUcumUnit);
      const never = measured.filter((m) => !convertUnit(1, m, unit, LOAD_TIME, spec.molecularWeight).ok);
      if (never.length > 0) {
        // Mass and substance amounts convert once the part gives the molecular weight (bilirubin mg/dL, umol/L).
        const needsWeight = spec.molecularWeight === undefined && never.every((m) => convertUnit(1, m, unit, LOAD_TIME, 1).ok);
        problems.push(
          `part ${leaf.id}: unit "${unit}" is not comparable with what the code list "${list}" measures (${never.join(', ')}), so every result would be unknown` +
            (needsWeight ? ': give the part its "molecularWeight" to convert between mass and substance' : ' (UCUM: they measure different kinds of quantity)'),
        );
      }
    }
  }
  return problems;
}

/** ISO 8601 durations of length zero ("P0D") among the part's windows and its confirmatory tests' `within`. */
function windowProblems(leaf: CompiledLeaf): string[] {
  const spec = leaf.spec as Record<string, unknown>;
  const durations: [string, unknown][] = [
    ['window', spec['window']],
    ['startedAtLeast', spec['startedAtLeast']],
    ['minCourse', spec['minCourse']],
    ['confirmedBy.within', (spec['confirmedBy'] as { within?: unknown } | undefined)?.within],
  ];
  return durations
    .filter(([, d]) => typeof d === 'string' && /^P0+[DWMY]$/.test(d))
    .map(([field, d]) => `part ${leaf.id}: ${field} ${String(d)} is not a positive duration (a window of no length holds no record)`);
}

function tighten(b: Bounds, side: 'low' | 'high', value: number, open: boolean, part: string): void {
  const cur = b[side];
  const tighter = !cur || (side === 'low' ? value > cur.value || (value === cur.value && open) : value < cur.value || (value === cur.value && open));
  if (tighter) b[side] = { value, open, part };
}

function isEmpty(b: Bounds): boolean {
  if (!b.low || !b.high) return false;
  return b.low.value > b.high.value || (b.low.value === b.high.value && (b.low.open || b.high.open));
}

function describe(b: Bounds, unit: string): string {
  const low = b.low ? `${b.low.open ? '>' : '>='} ${b.low.value} ${unit}` : '';
  const high = b.high ? `${b.high.open ? '<' : '<='} ${b.high.value} ${unit}` : '';
  const parts = b.low && b.high && b.low.part !== b.high.part ? `parts ${b.low.part} and ${b.high.part}` : `part ${b.low?.part ?? b.high?.part ?? ''}`;
  return `${parts}: ${low} and ${high}`;
}

/**
 * Age bounds and value thresholds that all must hold at once (one `age` part, or the parts of one `all`
 * group reading the same results the same way) must leave room for a patient: "age >= 17 and <= 12" meets
 * no one, and as an inclusion it would hide the trial from everyone.
 */
function rangeProblems(group: readonly CompiledLeaf[]): string[] {
  const problems: string[] = [];
  const age: Bounds = {};
  const values = new Map<string, { unit: string; mw?: number; bounds: Bounds }>();
  for (const leaf of group) {
    if (leaf.kind === 'age') {
      const s = leaf.spec as AgeSpec;
      if (s.min !== undefined) tighten(age, 'low', s.min, s.minInclusive === false, leaf.id);
      if (s.max !== undefined) tighten(age, 'high', s.max, s.maxInclusive === false, leaf.id);
      continue;
    }
    if (leaf.kind !== 'measurement') continue;
    const s = leaf.spec as MeasurementSpec;
    if (s.value === undefined || s.unit === undefined || s.comparator === undefined) continue;
    const key = JSON.stringify([listIds(s.valueSet), s.which, s.window ?? null]);
    const entry = values.get(key) ?? { unit: s.unit, bounds: {}, ...(s.molecularWeight !== undefined ? { mw: s.molecularWeight } : {}) };
    values.set(key, entry);
    const converted = convertUnit(s.value, s.unit, entry.unit, LOAD_TIME, s.molecularWeight ?? entry.mw);
    if (!converted.ok) continue;
    const side = s.comparator.startsWith('>') ? 'low' : 'high';
    tighten(entry.bounds, side, converted.value, !s.comparator.endsWith('='), leaf.id);
  }
  if (isEmpty(age)) problems.push(`${describe(age, 'years')}: no age meets both (the minimum is above the maximum)`);
  for (const { unit, bounds } of values.values()) {
    if (isEmpty(bounds)) problems.push(`${describe(bounds, unit)}: no result meets both (the lower bound is above the upper)`);
  }
  return problems;
}

/** Every problem of one compiled trial, each with the criterion it lies in. */
export function checkTrial(trial: CompiledTrial, units: ListUnits): TrialProblem[] {
  const problems: TrialProblem[] = [];
  for (const c of trial.criteria) {
    const messages = [
      ...leavesOf(c.rule).flatMap((leaf) => [...unitProblems(leaf, units), ...windowProblems(leaf)]),
      ...conjunctions(c.rule).flatMap(rangeProblems),
    ];
    for (const message of messages) problems.push({ criterion: c.id, message });
  }
  return problems;
}
