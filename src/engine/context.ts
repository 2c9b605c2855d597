import type { CodedLeaf, EngineValueSets } from './compiled.js';
import type { ClinicalResource, ClinicalType, PatientRecord } from '../patient/patient-record.js';
import { matchCoding, matchName, matchesKey, type CompiledValueSet } from '../terminology/value-set.js';
import { listsOfKey, type ValueSetIndex } from '../terminology/value-set-index.js';
import { resourceCode } from '../patient/patient-record.js';
import type { Observation } from '@medplum/fhirtypes';
import { parseFhirDateRange, subtractDuration, type FhirDateRange } from './dates.js';
import { exposureOf, type Exposure, type MedicationRecord } from './medication-exposure.js';
import { observationWhen, type ObservationWhen } from './observation-values.js';
import type { PartResult } from './types.js';
import { UnitBudget } from './units.js';

/** What every rule evaluation receives: the patient's record, the evaluation time, and the engine's codes. */
export interface EvalContext {
  record: PatientRecord;
  now: Date;
  engine: EngineValueSets;
  /** Per-request memo of value set -> matching resources; the record is indexed by code once. */
  memo: Map<string, ClinicalResource[]>;
  /** Per-request results of leaves by their memo key (CompiledLeaf.memoKey): trials share questions. */
  leafResults: Map<string, PartResult>;
  /** Position of each code in the record's index, built on first use (see keysInRecord). */
  keyOrder?: Map<string, number>;
  /**
   * The record's codes by the list they are in (list id -> `system|code` keys in record order), placed once
   * per request through the loaded lists' shared index on first use (src/terminology/value-set-index.ts).
   */
  keysByList?: Map<string, string[]>;
  /**
   * Per-request readings of one medication record that many criteria ask for (its exposure): worked out
   * once per request, never shared across requests (issue #13 item 4).
   */
  exposures: Map<MedicationRecord, Exposure>;
  /** FHIR date strings parsed this request (onsets, performed dates, birth dates), with their precision; never shared. */
  dates: Map<string, FhirDateRange | undefined>;
  /** The start of each look-back window ("P30D" back from now), worked out once per request. */
  windowStarts: Map<string, Date>;
  /** Distinct unit conversions this request may still parse (issue #20 item 3); one per evaluation, never shared. */
  units: UnitBudget;
  /**
   * Per list, the name each record text matched (or undefined): a text is read against a list once per request,
   * however many criteria read the list (issue #21 item 5: name matching was 17% of the heavy hook's CPU).
   */
  names: Map<CompiledValueSet, Map<string, string | undefined>>;
}

export function createContext(record: PatientRecord, now: Date, engine: EngineValueSets): EvalContext {
  return { record, now, engine, memo: new Map(), leafResults: new Map(), exposures: new Map(), dates: new Map(), windowStarts: new Map(), units: new UnitBudget(), names: new Map() };
}

/** The list's name a lower-case text holds (src/terminology/value-set.ts matchName), once per request and list. */
export function nameIn(ctx: EvalContext, vs: CompiledValueSet, lower: string | undefined): string | undefined {
  if (!lower || vs.names.length === 0) return undefined;
  let byText = ctx.names.get(vs);
  if (!byText) ctx.names.set(vs, (byText = new Map<string, string | undefined>()));
  if (byText.has(lower)) return byText.get(lower);
  const name = matchName(vs, lower);
  byText.set(lower, name);
  return name;
}

/** A FHIR date, dateTime or instant with its precision, parsed once per request (the range is read, never changed). */
export function dateRangeIn(ctx: EvalContext, value: string | undefined): FhirDateRange | undefined {
  if (!value) return undefined;
  if (ctx.dates.has(value)) return ctx.dates.get(value);
  const range = parseFhirDateRange(value);
  ctx.dates.set(value, range);
  return range;
}

/** A FHIR date as one point, its first possible day (see parseFhirDate): for callers that need no range. */
export function dateIn(ctx: EvalContext, value: string | undefined): Date | undefined {
  return dateRangeIn(ctx, value)?.start;
}

/** `now` less an ISO 8601 duration (a look-back window's start), once per request and duration. */
export function windowStart(ctx: EvalContext, duration: string): Date {
  let d = ctx.windowStarts.get(duration);
  if (!d) {
    d = subtractDuration(ctx.now, duration);
    ctx.windowStarts.set(duration, d);
  }
  return d;
}

/**
 * When an Observation was taken, with its precision, or only when it was issued (entryOnly), read once per
 * request: what places a result in a window (issue #18).
 */
export function observationWhenIn(ctx: EvalContext, o: Observation): ObservationWhen | undefined {
  return observationWhen(o, (v) => dateRangeIn(ctx, v));
}

/**
 * An Observation's date as one point: when it was taken (the first day of a partial date), else when it was
 * issued. For ordering and pairing results, never for placing one in a window (observationWhenIn).
 */
export function observationDateIn(ctx: EvalContext, o: Observation): Date | undefined {
  return observationWhenIn(ctx, o)?.range.start;
}

/** When the patient took (or may have taken) a medication, worked out once per request. */
export function exposureIn(ctx: EvalContext, m: MedicationRecord): Exposure {
  let e = ctx.exposures.get(m);
  if (!e) {
    e = exposureOf(m, ctx.now);
    ctx.exposures.set(m, e);
  }
  return e;
}

/** The patient's resources of the given types whose code is in the value set. */
export function findByValueSet(
  ctx: EvalContext,
  vs: CompiledValueSet,
  types: readonly ClinicalType[],
): ClinicalResource[] {
  let all = ctx.memo.get(vs.id);
  if (!all) {
    const seen = new Set<ClinicalResource>();
    all = [];
    for (const key of keysInRecord(ctx, vs)) {
      for (const r of ctx.record.byCode.get(key) ?? []) {
        if (!seen.has(r)) {
          seen.add(r);
          all.push(r);
        }
      }
    }
    ctx.memo.set(vs.id, all);
  }
  return all.filter((r) => types.includes(r.resourceType));
}

/**
 * The record's codes that the value set matches, in the record's index order (the order evidence is
 * listed in). Each code of the record is placed in its lists once per request (listsOfKey: exact entries,
 * prefixes, WHO parents, exclusions, worked out once per process for a code seen before), so a list is then a
 * lookup; a union merges its members' codes.
 */
function keysInRecord(ctx: EvalContext, vs: CompiledValueSet): readonly string[] {
  const index = vs.index;
  // A list compiled on its own (not by the loader) has no shared index: test each of the record's codes.
  if (!index) return [...ctx.record.byCode.keys()].filter((key) => matchesKey(vs, key) || isPlaced(ctx.record.placements, vs, key));
  const byList = (ctx.keysByList ??= placeKeys(ctx, index));
  if (!vs.members) return byList.get(vs.id) ?? [];
  const keys = [...new Set(vs.members.flatMap((m) => byList.get(m.id) ?? []))];
  if (keys.length < 2) return keys;
  const order = (ctx.keyOrder ??= new Map([...ctx.record.byCode.keys()].map((k, i) => [k, i])));
  return keys.sort((a, b) => order.get(a)! - order.get(b)!);
}

/**
 * Every code of the record placed in the lists that hold it, in record order: by the lists' own codes, and
 * by the record's `placements` (a site's ConceptMap or terminology server, worked out before evaluation).
 */
function placeKeys(ctx: EvalContext, index: ValueSetIndex): Map<string, string[]> {
  const byList = new Map<string, string[]>();
  const placements = ctx.record.placements;
  for (const key of ctx.record.byCode.keys()) {
    const placed = placements?.get(key);
    const ids = placed ? new Set([...listsOfKey(index, key), ...placed]) : listsOfKey(index, key);
    for (const id of ids) {
      const keys = byList.get(id);
      if (keys) keys.push(key);
      else byList.set(id, [key]);
    }
  }
  return byList;
}

/** Whether a record's code was placed in the list (or one of a union's lists) from outside its own codes. */
function isPlaced(placements: PatientRecord['placements'], vs: CompiledValueSet, key: string): boolean {
  const lists = placements?.get(key);
  if (!lists) return false;
  return vs.members ? vs.members.some((m) => lists.has(m.id)) : lists.has(vs.id);
}

const NO_MEDICATIONS = new Map();

/**
 * Whether a resource passes the rule's exceptions list and FHIRPath filter. A code placed in the exceptions
 * list (`placements`, from the record) counts as in it, as a code placed in the rule's list counts there.
 */
export function passesFilters(leaf: Pick<CodedLeaf, 'exceptValueSet' | 'where'>, r: ClinicalResource, placements?: PatientRecord['placements']): boolean {
  const except = leaf.exceptValueSet;
  if (except && resourceCode(r, NO_MEDICATIONS)?.coding?.some((c) => matchCoding(except, c) || (!!c.system && !!c.code && isPlaced(placements, except, `${c.system}|${c.code}`)))) return false;
  return leaf.where ? leaf.where(r) : true;
}

/** The rule's candidate resources: in its code list, not in its exceptions, and passing its filter. */
export function candidatesFor(ctx: EvalContext, leaf: Pick<CodedLeaf, 'valueSet' | 'exceptValueSet' | 'where'>, types: readonly ClinicalType[]): ClinicalResource[] {
  return findByValueSet(ctx, leaf.valueSet, types).filter((r) => passesFilters(leaf, r, ctx.record.placements));
}

/**
 * Why the absence of a matching record cannot be read as "not present": one of the types it could be in
 * was not read (its prefetch was missing and the FHIR server failed).
 */
export function unavailableReason(ctx: EvalContext, types: readonly ClinicalType[]): string | undefined {
  const reasons = types.map((t) => ctx.record.unavailable.get(t)).filter((r): r is string => r !== undefined);
  return reasons.length > 0 ? reasons.join('; ') : undefined;
}
