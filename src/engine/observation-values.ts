import type { CodeableConcept, Observation } from '@medplum/fhirtypes';
import { parseFhirDate } from './dates.js';
import { matchCoding, type CompiledValueSet } from '../terminology/value-set.js';

/** Observation statuses that carry a usable result (FHIR R4 observation-status). */
const USABLE_STATUS = new Set(['final', 'amended', 'corrected', 'preliminary']);

export function observationDate(o: Observation): Date | undefined {
  return parseFhirDate(o.effectiveDateTime ?? o.effectiveInstant ?? o.effectivePeriod?.end ?? o.effectivePeriod?.start ?? o.issued);
}

export interface DatedObservation {
  observation: Observation;
  date: Date;
}

/**
 * The results inside [from, now], most recent first. Results with no date cannot be placed in a window and
 * results dated after "now" are data errors; both are left out and counted so the caller can say so.
 */
export function resultsInWindow(
  observations: readonly Observation[],
  from: Date | undefined,
  now: Date,
): { inWindow: DatedObservation[]; undated: number; future: number; outside: DatedObservation[] } {
  const inWindow: DatedObservation[] = [];
  const outside: DatedObservation[] = [];
  let undated = 0;
  let future = 0;
  for (const o of observations) {
    if (o.status && !USABLE_STATUS.has(o.status)) continue;
    const date = observationDate(o);
    if (!date) {
      undated++;
      continue;
    }
    // A day's grace: a result stamped later today in another time zone is not "in the future".
    if (date.getTime() > now.getTime() + 86_400_000) {
      future++;
      continue;
    }
    if (from && date < from) outside.push({ observation: o, date });
    else inWindow.push({ observation: o, date });
  }
  const byRecency = (a: DatedObservation, b: DatedObservation): number => b.date.getTime() - a.date.getTime();
  inWindow.sort(byRecency);
  outside.sort(byRecency);
  return { inWindow, undated, future, outside };
}

export interface NumericValue {
  value: number;
  unit: string | undefined;
  /** A recorded comparator: "<5" means the true value is below 5. */
  comparator?: '<' | '<=' | '>' | '>=';
  recorded: string;
}

/** The numeric value of a result: valueQuantity, valueInteger, or a number written as a string. */
export function numericValue(o: Observation): NumericValue | undefined {
  const q = o.valueQuantity;
  if (q && typeof q.value === 'number' && Number.isFinite(q.value)) {
    const unit = q.system === 'http://unitsofmeasure.org' && q.code ? q.code : (q.code ?? q.unit);
    const cmp = q.comparator;
    const v: NumericValue = { value: q.value, unit, recorded: `${cmp ?? ''}${q.value} ${q.unit ?? q.code ?? ''}`.trim() };
    if (cmp) v.comparator = cmp;
    return v;
  }
  if (typeof o.valueInteger === 'number' && Number.isFinite(o.valueInteger)) {
    return { value: o.valueInteger, unit: undefined, recorded: String(o.valueInteger) };
  }
  if (typeof o.valueString === 'string') {
    const m = /^\s*(<=|>=|<|>)?\s*(-?\d+(?:\.\d+)?)\s*([^\d\s].*)?$/.exec(o.valueString);
    if (m) {
      const v: NumericValue = { value: Number(m[2]), unit: m[3]?.trim() || undefined, recorded: o.valueString };
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
      return { value: high.value, unit: high.system === 'http://unitsofmeasure.org' && high.code ? high.code : (high.code ?? high.unit) };
    }
  }
  return undefined;
}

export type Polarity = 'positive' | 'negative' | 'indeterminate';

const POSITIVE_INTERPRETATION = new Set(['POS', 'H', 'HH', 'HU', 'A', 'AA', 'DET']);
const NEGATIVE_INTERPRETATION = new Set(['NEG', 'N', 'ND', 'NR']);
const INDETERMINATE_INTERPRETATION = new Set(['IND', 'E', 'EQV', 'I']);

/** Words EHRs use for qualitative results; negatives first, since "not detected" contains "detected". */
function polarityOfText(text: string | undefined): Polarity | undefined {
  if (!text) return undefined;
  const t = text.toLowerCase();
  if (/\b(indeterminate|equivocal|borderline|inconclusive)\b/.test(t)) return 'indeterminate';
  if (/\b(negative|not detected|non-?reactive|undetectable|absent)\b/.test(t)) return 'negative';
  if (/\b(positive|detected|reactive|present)\b/.test(t)) return 'positive';
  if (/^\s*1\s*[:/]\s*\d+\s*$/.test(t)) return 'positive';
  return undefined;
}

function polarityOfConcept(
  cc: CodeableConcept | undefined,
  positive: CompiledValueSet,
  negative: CompiledValueSet,
): Polarity | undefined {
  if (!cc) return undefined;
  for (const coding of cc.coding ?? []) {
    if (matchCoding(negative, coding)) return 'negative';
    if (matchCoding(positive, coding)) return 'positive';
  }
  return polarityOfText(cc.text ?? cc.coding?.find((c) => c.display)?.display);
}

/**
 * Reads a result as positive or negative: the coded value, then the recorded string, then the
 * interpretation flag, then a quantity against its reference range. Undefined when none of these says.
 */
export function polarity(
  o: Observation,
  positive: CompiledValueSet,
  negative: CompiledValueSet,
): { polarity: Polarity; how: string } | undefined {
  const coded = polarityOfConcept(o.valueCodeableConcept, positive, negative);
  if (coded) return { polarity: coded, how: 'coded result' };
  if (typeof o.valueBoolean === 'boolean') return { polarity: o.valueBoolean ? 'positive' : 'negative', how: 'boolean result' };
  const text = polarityOfText(o.valueString);
  if (text) return { polarity: text, how: 'result text' };
  for (const interp of o.interpretation ?? []) {
    for (const c of interp.coding ?? []) {
      if (!c.code) continue;
      if (POSITIVE_INTERPRETATION.has(c.code)) return { polarity: 'positive', how: `interpretation ${c.code}` };
      if (NEGATIVE_INTERPRETATION.has(c.code)) return { polarity: 'negative', how: `interpretation ${c.code}` };
      if (INDETERMINATE_INTERPRETATION.has(c.code)) return { polarity: 'indeterminate', how: `interpretation ${c.code}` };
    }
    const t = polarityOfText(interp.text);
    if (t) return { polarity: t, how: 'interpretation text' };
  }
  const num = numericValue(o);
  const high = upperLimit(o);
  if (num && high && !num.comparator) {
    return { polarity: num.value > high.value ? 'positive' : 'negative', how: `value against reference range (upper ${high.value})` };
  }
  return undefined;
}

/** A titre's dilution denominator: "1:320", "1/320", a Ratio 1:320, or a quantity of unit {titer}. */
export function titerDilution(o: Observation): number | undefined {
  const r = o.valueRatio;
  if (r?.numerator?.value && r.denominator?.value) return r.denominator.value / r.numerator.value;
  const s = o.valueString ?? o.valueCodeableConcept?.text;
  const m = s ? /^\s*1\s*[:/]\s*(\d+)\s*$/.exec(s) : null;
  if (m) return Number(m[1]);
  const q = o.valueQuantity;
  if (q && typeof q.value === 'number' && /titer|titre/i.test(`${q.code ?? ''} ${q.unit ?? ''}`)) return q.value;
  return undefined;
}
