import type { Observation, Quantity } from '@medplum/fhirtypes';
import { describeDateRange, formatDate, isPartialDate, latestEventTime, parseFhirDateRange, placeDateRange, type FhirDateRange } from './dates.js';
import type { CompiledValueSet } from '../terminology/value-set.js';
import { readResult, type Reading, type ResultCodeLists } from './result-reading.js';
import type { UnitBudget } from './units.js';

/** Observation statuses that carry a usable result (FHIR R4 observation-status). */
const USABLE_STATUS = new Set(['final', 'amended', 'corrected', 'preliminary']);

/** Whether an Observation carries a usable result (no status is read as usable, as the window reading does). */
export function isUsableResult(o: Observation): boolean {
  return !o.status || USABLE_STATUS.has(o.status);
}

/**
 * The text of an Observation's event date: effective[x], "the time or time-period the observed value is
 * asserted as being true" (FHIR R4 Observation.effective[x]; a period's end).
 */
export function observationDateText(o: Observation): string | undefined {
  return o.effectiveDateTime ?? o.effectiveInstant ?? o.effectivePeriod?.end ?? o.effectivePeriod?.start;
}

/** When an Observation was taken, as far as the record says (see observationWhen). */
export interface ObservationWhen {
  range: FhirDateRange;
  /**
   * Only an entry date is recorded: `issued` ("the date and time this version of the observation was made
   * available to providers", FHIR R4) or `meta.lastUpdated`. The sample was taken no later than that; when
   * is not in the record, so it never places the result inside a window.
   */
  entryOnly: boolean;
}

/** An Observation's event date (effective[x]), else its entry date (issued, meta.lastUpdated) marked as such. */
export function observationWhen(o: Observation, parse: (value: string | undefined) => FhirDateRange | undefined = parseFhirDateRange): ObservationWhen | undefined {
  const effective = parse(observationDateText(o));
  if (effective) return { range: effective, entryOnly: false };
  const entry = parse(o.issued ?? o.meta?.lastUpdated);
  return entry ? { range: entry, entryOnly: true } : undefined;
}

function byId(a: Observation, b: Observation): number {
  const x = a.id ?? '';
  const y = b.id ?? '';
  return x < y ? -1 : x > y ? 1 : 0;
}

export interface DatedObservation {
  observation: Observation;
  /** Its date (the first day of a partial one); for a result that only has an entry date, that date. */
  date: Date;
  /** Why the date does not place the result in the window, for the card (see resultsInWindow's `unplaced`). */
  dateNote?: string;
  /** For a result not placed: the latest it may have been taken (its issued date, a month's last day). */
  latest?: Date;
}

/**
 * The results inside [from, now], most recent first. Results with no date cannot be placed in a window and
 * results dated after "now" are data errors; both are left out and counted so the caller can say so.
 * `unplaced`: results the record cannot put inside or before the window: dated only by when they were
 * issued or entered (issue #18: an entry date says the sample was taken no later than that, never when),
 * or dated by a month or year that straddles the window's start. They never decide a windowed part.
 */
export function resultsInWindow(
  observations: readonly Observation[],
  from: Date | undefined,
  now: Date,
  whenOf: (o: Observation) => ObservationWhen | undefined = (o) => observationWhen(o),
): { inWindow: DatedObservation[]; undated: number; future: number; outside: DatedObservation[]; unplaced: DatedObservation[] } {
  const inWindow: DatedObservation[] = [];
  const outside: DatedObservation[] = [];
  const unplaced: DatedObservation[] = [];
  let undated = 0;
  let future = 0;
  const limit = latestEventTime(now);
  for (const o of observations) {
    if (!isUsableResult(o)) continue;
    const when = whenOf(o);
    if (!when) {
      undated++;
      continue;
    }
    const { range } = when;
    const date = range.start;
    const place = placeDateRange(range, from ?? range.start, limit);
    if (place === 'after') future++;
    else if (place === 'before') outside.push({ observation: o, date });
    else if (from && when.entryOnly) {
      unplaced.push({ observation: o, date, latest: range.end, dateNote: `issued ${formatDate(range.text)}; when the sample was taken is not in the record` });
    } else if (place === 'straddles') {
      unplaced.push({ observation: o, date, latest: range.end, dateNote: `taken ${describeDateRange(range)}: may be before the window` });
    } else inWindow.push(isPartialDate(range) ? { observation: o, date, dateNote: `taken ${describeDateRange(range)}` } : { observation: o, date });
  }
  // Newest first; results of the same moment in id order, so the one shown does not depend on the order the
  // EHR or its FHIR server returned them in (test/engine/resource-order.test.ts).
  const byRecency = (a: DatedObservation, b: DatedObservation): number => b.date.getTime() - a.date.getTime() || byId(a.observation, b.observation);
  inWindow.sort(byRecency);
  outside.sort(byRecency);
  unplaced.sort(byRecency);
  return { inWindow, undated, future, outside, unplaced };
}

export interface NumericValue {
  value: number;
  unit: string | undefined;
  /** A recorded comparator: "<5" means the true value is below 5. */
  comparator?: '<' | '<=' | '>' | '>=';
  recorded: string;
}

/**
 * A number written as a string is at most this long once trimmed ("< 1.3 log IU/mL", "12.5 g/dL"); longer
 * text is not a number as recorded. Capping before the regex keeps parsing linear: a leading-whitespace
 * pattern on "   ...   x" backtracked quadratically (135 KiB of spaces then "x" took 21 s, issue #12).
 */
const MAX_NUMERIC_STRING = 64;
const NUMERIC_STRING = /^(<=|>=|<|>)?\s*(-?\d+(?:\.\d+)?)\s*([^\d\s].*)?$/;

/** A Quantity's unit as the engine compares it: the UCUM code when coded in UCUM, else its code or text. */
function quantityUnit(q: Quantity): string | undefined {
  return q.system === 'http://unitsofmeasure.org' && q.code ? q.code : (q.code ?? q.unit);
}

/** The numeric value of a result: valueQuantity, valueInteger, or a number written as a string. */
export function numericValue(o: Observation): NumericValue | undefined {
  const q = o.valueQuantity;
  if (q && typeof q.value === 'number' && Number.isFinite(q.value)) {
    const unit = quantityUnit(q);
    const cmp = q.comparator;
    const v: NumericValue = { value: q.value, unit, recorded: `${cmp ?? ''}${q.value} ${q.unit ?? q.code ?? ''}`.trim() };
    if (cmp) v.comparator = cmp;
    return v;
  }
  if (typeof o.valueInteger === 'number' && Number.isFinite(o.valueInteger)) {
    return { value: o.valueInteger, unit: undefined, recorded: String(o.valueInteger) };
  }
  if (typeof o.valueString === 'string') {
    // trim() is linear; the pattern then starts at a non-space, and the two \s* runs are separated by a digit.
    const s = o.valueString.trim();
    if (s.length > MAX_NUMERIC_STRING) return undefined;
    const m = NUMERIC_STRING.exec(s);
    if (m) {
      const v: NumericValue = { value: Number(m[2]), unit: m[3]?.trim() || undefined, recorded: s };
      if (m[1]) v.comparator = m[1] as NumericValue['comparator'] & string;
      return v;
    }
  }
  return undefined;
}

/** The reference range's upper limit, in the unit it was recorded in. */
export function upperLimit(o: Observation): { value: number; unit: string | undefined } | undefined {
  for (const range of o.referenceRange ?? []) {
    const high = range.high;
    if (high && typeof high.value === 'number' && Number.isFinite(high.value)) {
      return { value: high.value, unit: quantityUnit(high) };
    }
  }
  return undefined;
}

export type Polarity = 'positive' | 'negative' | 'indeterminate';

/**
 * Reads a result as positive, negative or indeterminate from the whole result (result-reading.ts): the
 * coded value and its text, a string, a boolean, the interpretation flags and a quantity against its
 * reference range, which must agree. Undefined when nothing in the result says anything.
 *
 * A result that cannot be read (not a result, needs confirmation, parts that disagree) comes back as
 * `indeterminate` with `reading: 'unknown'` and a `how` that says why, so every caller treats it as unknown
 * and the card shows the reason.
 */
export function polarity(
  o: Observation,
  units: UnitBudget,
  positive: CompiledValueSet,
  negative: CompiledValueSet,
  indeterminate?: CompiledValueSet,
): { polarity: Polarity; how: string; reading: Reading } | undefined {
  const lists: ResultCodeLists = indeterminate ? { positive, negative, indeterminate } : { positive, negative };
  const r = readResult(o, lists, numericValue(o), upperLimit(o), units);
  if (!r) return undefined;
  return { polarity: r.reading === 'unknown' ? 'indeterminate' : r.reading, how: r.how, reading: r.reading };
}

/** A titre's dilution denominator: "1:320", "1/320", a Ratio 1:320, or a quantity of unit {titer}. */
export function titerDilution(o: Observation): number | undefined {
  const r = o.valueRatio;
  if (r?.numerator?.value && r.denominator?.value) return r.denominator.value / r.numerator.value;
  const s = o.valueString ?? o.valueCodeableConcept?.text;
  // Capped like NUMERIC_STRING: a titre is a few characters ("1 : 320").
  const m = s && s.length <= MAX_NUMERIC_STRING ? /^\s*1\s*[:/]\s*(\d+)\s*$/.exec(s) : null;
  if (m) return Number(m[1]);
  const q = o.valueQuantity;
  if (q && typeof q.value === 'number' && /titer|titre/i.test(`${q.code ?? ''} ${q.unit ?? ''}`)) return q.value;
  return undefined;
}
