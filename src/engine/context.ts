import type { CodedLeaf, EngineValueSets } from './compiled.js';
import type { ClinicalResource, ClinicalType, PatientRecord } from '../patient/patient-record.js';
import { isExactOnly, matchCoding, matchingKeys, type CompiledValueSet } from '../terminology/value-set.js';
import { resourceCode } from '../patient/patient-record.js';
import type { Observation } from '@medplum/fhirtypes';
import { parseFhirDate, subtractDuration } from './dates.js';
import { exposureOf, type Exposure, type MedicationRecord } from './medication-exposure.js';
import { observationDateText } from './observation-values.js';
import type { PartResult } from './types.js';

/** What every rule evaluation receives: the patient's record, the evaluation time, and the engine's codes. */
export interface EvalContext {
  record: PatientRecord;
  now: Date;
  engine: EngineValueSets;
  /** Per-request memo of value set -> matching resources; the record is indexed by code once. */
  memo: Map<string, ClinicalResource[]>;
  /** Per-request results of leaves by their memo key (CompiledLeaf.memoKey): trials share questions. */
  leafResults: Map<string, PartResult>;
  /** Position of each code in the record's index, built on first use (see keysInRecordOrder). */
  keyOrder?: Map<string, number>;
  /**
   * Per-request readings of one medication record that many criteria ask for (its exposure): worked out
   * once per request, never shared across requests (issue #13 item 4).
   */
  exposures: Map<MedicationRecord, Exposure>;
  /** FHIR date strings parsed this request (onsets, performed dates, birth dates); never shared. */
  dates: Map<string, Date | undefined>;
  /** The start of each look-back window ("P30D" back from now), worked out once per request. */
  windowStarts: Map<string, Date>;
}

export function createContext(record: PatientRecord, now: Date, engine: EngineValueSets): EvalContext {
  return { record, now, engine, memo: new Map(), leafResults: new Map(), exposures: new Map(), dates: new Map(), windowStarts: new Map() };
}

/** A FHIR date, dateTime or instant, parsed once per request (the Date is read, never changed). */
export function dateIn(ctx: EvalContext, value: string | undefined): Date | undefined {
  if (!value) return undefined;
  if (ctx.dates.has(value)) return ctx.dates.get(value);
  const date = parseFhirDate(value);
  ctx.dates.set(value, date);
  return date;
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

/** An Observation's clinically relevant date, read once per request. */
export function observationDateIn(ctx: EvalContext, o: Observation): Date | undefined {
  return dateIn(ctx, observationDateText(o));
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
 * listed in). A plain list of codes smaller than the record is looked up code by code, so a big record
 * costs a small list nothing; otherwise, or when the list has prefixes or exclusions, the record's codes
 * are tested against the list.
 */
function keysInRecord(ctx: EvalContext, vs: CompiledValueSet): string[] {
  const keys = listedKeysInRecord(ctx, vs);
  const placements = ctx.record.placements;
  if (!placements || placements.size === 0) return keys;
  const listed = new Set(keys);
  for (const key of placements.keys()) if (!listed.has(key) && isPlaced(placements, vs, key)) keys.push(key);
  if (keys.length === listed.size || keys.length < 2) return keys;
  const order = (ctx.keyOrder ??= new Map([...ctx.record.byCode.keys()].map((k, i) => [k, i])));
  return keys.sort((a, b) => (order.get(a) ?? 0) - (order.get(b) ?? 0));
}

/** Whether a record's code was placed in the list (or one of a union's lists) from outside its own codes. */
function isPlaced(placements: ReadonlyMap<string, ReadonlySet<string>>, vs: CompiledValueSet, key: string): boolean {
  const lists = placements.get(key);
  if (!lists) return false;
  return vs.members ? vs.members.some((m) => lists.has(m.id)) : lists.has(vs.id);
}

function listedKeysInRecord(ctx: EvalContext, vs: CompiledValueSet): string[] {
  const byCode = ctx.record.byCode;
  if (!isExactOnly(vs) || vs.exact.size >= byCode.size) return matchingKeys(vs, byCode.keys());
  const keys: string[] = [];
  for (const key of vs.exact.keys()) if (byCode.has(key)) keys.push(key);
  if (keys.length < 2) return keys;
  const order = (ctx.keyOrder ??= new Map([...byCode.keys()].map((k, i) => [k, i])));
  return keys.sort((a, b) => order.get(a)! - order.get(b)!);
}

const NO_MEDICATIONS = new Map();

/**
 * Whether a resource passes the rule's exceptions list and FHIRPath filter. A code placed in the exceptions
 * list (`placements`, from the record) counts as in it, as a code placed in the rule's list counts there.
 */
export function passesFilters(leaf: Pick<CodedLeaf, 'exceptValueSet' | 'where'>, r: ClinicalResource, placements?: PatientRecord['placements']): boolean {
  const except = leaf.exceptValueSet;
  if (except && resourceCode(r, NO_MEDICATIONS)?.coding?.some((c) => matchCoding(except, c) || (placements !== undefined && !!c.system && !!c.code && isPlaced(placements, except, `${c.system}|${c.code}`)))) return false;
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
