import type { CodeableConcept, Coding, Observation } from '@medplum/fhirtypes';
import { matchCoding, type CompiledValueSet } from '../terminology/value-set.js';
import { convertUnit, normaliseUnit, type UnitBudget } from './units.js';
import { conceptText } from '../fhir/concept-text.js';

/**
 * Reading a qualitative result the way a clinician reads the whole line of a lab report, not by spotting a
 * word ("None detected" contains "detected"; "Non reactive" contains "reactive"). Issue #10 item 1.
 *
 * Every part of the result that can say something is read on its own (the coded value, its text, a string
 * value, a boolean, the interpretation flags, a quantity against its reference range) and the parts must
 * agree. The rules, in the direction the clinical safety rules ask (ambiguity moves toward unknown):
 * - a part that is not a result at all ("QNS", "pending", "invalid", "see comment") makes the whole unknown;
 * - a part that needs confirmation ("weakly reactive", "presumptive positive") makes the whole unknown;
 * - text that says both a positive and a negative thing ("positive control, sample negative") is unknown;
 * - parts that disagree (coded Negative, flagged POS) are unknown, and `how` says which disagreed;
 * - nothing is read as positive unless a part clearly says so.
 */

export type Reading = 'positive' | 'negative' | 'indeterminate' | 'unknown';

export interface ReadingSignal {
  from: 'coded value' | 'boolean value' | 'result text' | 'interpretation' | 'quantity';
  reading: Reading;
  detail: string;
}

export interface ResultReading {
  reading: Reading;
  /** How it was read, to follow "read from the …" on a card. */
  how: string;
  signals: ReadingSignal[];
}

export interface ResultCodeLists {
  positive: CompiledValueSet;
  negative: CompiledValueSet;
  /** Indeterminate, equivocal, invalid and unsatisfactory answers (fhir-mappings/valuesets/result-indeterminate.json). */
  indeterminate?: CompiledValueSet;
}

/** Longer text is a narrative, not a result line: it is not read (and long input costs nothing). */
const MAX_TEXT = 160;
const SHOWN_TEXT = 48;

// ---------------------------------------------------------------------------------------------------------
// HL7 interpretation codes. Source: HL7 v3 ObservationInterpretation code system (hl7.fhir.r3.core 3.0.2,
// listed in GinoCanessa/fhir-cross-version-source docs/R3/ValueSets/V3CodeSystemObservationInterpretation.md;
// same codes in terminology.hl7.org CodeSystem/v3-ObservationInterpretation and v2 table 0078, whose code
// system definitions are quoted in public FSH: "within the reference range or expected norm").
//
// - POS, DET, RR (Reactive): positive.  NEG, ND, NR (Non-reactive): negative.  IND, E (Equivocal): indeterminate.
// - H, HH, HU, H> ("above the upper limit of the reference range"): positive. The tests read here (antibodies,
//   antigens, nucleic acids, hCG) have an upper limit that is the positivity cut-off; a public Viracor HIV-1
//   RNA ORU (COBAS TaqMan, a public HL7 v2 sample message) flags "<20 copies/mL" H because it is detected.
// - WR (Weakly reactive): needs confirmation, unknown.  QCF (quality control failure), IE (insufficient
//   evidence): not a result, unknown.
// - N (Normal) and A/AA (Abnormal) are NOT read: "within / outside the reference range or expected norm" does
//   not say positive or negative for a qualitative test. For immunity serology the expected norm is positive
//   (rubella IgG "Immune" flagged N); a lab may flag an indeterminate result A. They neither decide nor
//   contradict. L, LL, LU, <, > and the susceptibility codes (S, R, I, MS, VS, NS, SDD) are not read either.
// ---------------------------------------------------------------------------------------------------------
const INTERPRETATION: Readonly<Record<string, Reading>> = {
  POS: 'positive',
  DET: 'positive',
  RR: 'positive',
  H: 'positive',
  HH: 'positive',
  HU: 'positive',
  'H>': 'positive',
  NEG: 'negative',
  ND: 'negative',
  NR: 'negative',
  IND: 'indeterminate',
  E: 'indeterminate',
  WR: 'unknown',
  QCF: 'unknown',
  IE: 'unknown',
};

const INTERPRETATION_SYSTEMS = new Set([
  'http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation',
  'http://hl7.org/fhir/v3/ObservationInterpretation',
  'http://terminology.hl7.org/CodeSystem/v2-0078',
  'http://hl7.org/fhir/v2/0078',
]);

function interpretationCode(c: Coding): Reading | undefined {
  if (!c.code) return undefined;
  if (c.system && !INTERPRETATION_SYSTEMS.has(c.system)) return undefined;
  return Object.hasOwn(INTERPRETATION, c.code) ? INTERPRETATION[c.code] : undefined;
}

// ---------------------------------------------------------------------------------------------------------
// Result text
// ---------------------------------------------------------------------------------------------------------

/** Text that is not a result: the result is missing, spoiled, or elsewhere. */
const NOT_A_RESULT: readonly RegExp[] = [
  /\binvalid\b/,
  /\bsee (?:the )?(?:comments?|notes?|report|below|attached|interpretation|narrative|text)\b/,
  /\b(?:pending|in progress|to follow|awaiting)\b/,
  /\bnot (?:performed|done|tested|run|reported|processed|received|available|interpretable|interpreted)\b/,
  /\b(?:qns|quantity not sufficient|insufficient|rejected|cancell?ed|unsatisfactory|uninterpretable|dnr|do not report)\b/,
  // "TNP", "TNP124", "DTEL^TNP1003": test not performed codes as LIS send them.
  /\btnp/,
  /^(?:nt|ng|canc)$/,
  /\b(?:haemoly[sz]ed|hemoly[sz]ed|lipa?emic|clotted|leaked|contaminated)\b/,
  /\b(?:error|fail|failed|failure)\b/,
  /\bno (?:sample|specimen|result)\b/,
  /\b(?:unable|cannot|could not) (?:to )?(?:be )?(?:determine|determined|interpret|interpreted|report|reported|perform|performed)\b/,
  /^(?:n\/a|na|---?|\?)$/,
];

/** Text that reports a result needing confirmation before a clinician would act on it. */
const NEEDS_CONFIRMATION: readonly RegExp[] = [
  /\bweak(?:ly)?\b/,
  /\blow[- ]?(?:level )?positive\b/,
  /\b(?:presumptive|presumed|suspected|suspicious|probable|possible|questionable|faint|trace)\b/,
  /\b(?:unconfirmed|not confirmed|confirmation (?:required|pending|to follow)|to be confirmed)\b/,
  /\b(?:repeat testing|retest|recollect)\b/,
  /\bfalse[- ]positive\b/,
  /弱阳性|可疑|待复查/,
];

const INDETERMINATE: readonly RegExp[] = [/\b(?:indetermina\w*|indet|equivocal|borderline|inconclusive|undetermined|gr[ae]y[- ]zone)\b/, /临界|不确定/];

/** Whole-string abbreviations used by LIS and HL7 v2 feeds. */
const ABBREVIATIONS: Readonly<Record<string, Reading>> = {
  nr: 'negative',
  nd: 'negative',
  tnd: 'negative',
  bdl: 'negative',
  rr: 'positive',
  det: 'positive',
  ind: 'indeterminate',
  eqv: 'indeterminate',
  equiv: 'indeterminate',
  wr: 'unknown',
};

/** "below the limit of detection" and its forms: a negative reading, written as a word the tokens understand. */
const BELOW_DETECTION =
  /\b(?:below|under|less than|lower than)\s+(?:the\s+)?(?:lower\s+)?(?:(?:limits?|levels?|thresholds?)\s+of\s+detection|detection(?:\s+(?:limits?|levels?|thresholds?))?|lod|llod|lld)\b|<\s*(?:lod|llod)\b/g;
/** "below the limit of quantitation": the target may still be detected, so this alone is not negative. */
const BELOW_QUANTITATION =
  /\b(?:below|under|less than|lower than)\s+(?:the\s+)?(?:lower\s+)?(?:(?:limits?|levels?)\s+of\s+(?:quantitation|quantification)|quantitation(?:\s+limits?)?|loq|lloq|llq)\b|<\s*(?:loq|lloq|llq)\b|\bbloq\b/g;

const POSITIVE_WORDS = new Set(['positive', 'pos', 'detected', 'detectable', 'reactive', 'present', 'zzpos']);
const NEGATIVE_WORDS = new Set(['negative', 'neg', 'nonreactive', 'nonreactivity', 'absent', 'undetectable', 'undetected', 'nondetected', 'nondetectable', 'zzneg']);
const NEGATORS = new Set(['not', 'no', 'none', 'non', 'without', 'nil', 'never']);

/** A titre: reported at a dilution means reactive at it; below the lowest dilution means not reactive. */
const TITRE = /^(?:(<|less than)\s*)?1\s*[:/]\s*\d+$/;

export interface TextReading {
  reading: Reading;
  detail: string;
}

function shown(text: string): string {
  const t = text.trim().replace(/\s+/g, ' ');
  return t.length > SHOWN_TEXT ? `${t.slice(0, SHOWN_TEXT - 1)}…` : t;
}

/**
 * Reads one result text. Undefined when the text says nothing about positivity (a bare number, "None",
 * "Nil", a unit); a reading of 'unknown' when it says something that must not be read as either.
 */
export function readResultText(raw: string | undefined): TextReading | undefined {
  if (raw === undefined) return undefined;
  if (raw.length > MAX_TEXT * 4) return { reading: 'unknown', detail: 'text too long to be one result' };
  const text = raw
    .toLowerCase()
    .replace(/[\u2010-\u2015\u2212]/g, '-')
    .replace(/\s+/g, ' ')
    .trim()
    .replace(/[.!]+$/, '');
  if (text === '') return undefined;
  if (text.length > MAX_TEXT) return { reading: 'unknown', detail: 'text too long to be one result' };
  const quoted = `"${shown(raw)}"`;
  if (NOT_A_RESULT.some((re) => re.test(text))) return { reading: 'unknown', detail: `${quoted} is not a result` };
  if (NEEDS_CONFIRMATION.some((re) => re.test(text))) return { reading: 'unknown', detail: `${quoted} needs confirmation` };
  if (INDETERMINATE.some((re) => re.test(text))) return { reading: 'indeterminate', detail: quoted };
  const abbreviation = Object.hasOwn(ABBREVIATIONS, text) ? ABBREVIATIONS[text] : undefined;
  if (abbreviation) return abbreviation === 'unknown' ? { reading: 'unknown', detail: `${quoted} needs confirmation` } : { reading: abbreviation, detail: quoted };
  const titre = TITRE.exec(text);
  if (titre) return { reading: titre[1] ? 'negative' : 'positive', detail: `${quoted} (titre)` };

  // Chinese laboratory reports (all five trials recruit in China): 阴性 negative, 阳性 positive, 未检出 not detected.
  const cjk = text.replace(/未检出|未检测到/g, ' zzneg ').replace(/阴性/g, ' zzneg ').replace(/阳性|检出/g, ' zzpos ');
  const belowQuantitation = BELOW_QUANTITATION.test(cjk);
  BELOW_QUANTITATION.lastIndex = 0;
  const prepared = cjk.replace(BELOW_DETECTION, ' zzneg ').replace(BELOW_QUANTITATION, ' ').replace(/\bnon-/g, 'non ');

  const found = new Set<'positive' | 'negative' | 'double'>();
  for (const clause of prepared.split(/[,;:()[\]]|\bbut\b|\bhowever\b|\. /)) {
    let negated = false;
    for (const word of clause.split(/[^a-z0-9]+/)) {
      if (word === '') continue;
      if (NEGATORS.has(word)) negated = true;
      else if (POSITIVE_WORDS.has(word)) found.add(negated ? 'negative' : 'positive');
      else if (NEGATIVE_WORDS.has(word)) found.add(negated ? 'double' : 'negative');
    }
  }
  if (found.has('double')) return { reading: 'unknown', detail: `${quoted} is a double negative` };
  if (found.has('positive') && found.has('negative')) return { reading: 'unknown', detail: `${quoted} says both positive and negative` };
  if (found.has('positive')) return { reading: 'positive', detail: quoted };
  if (found.has('negative')) return { reading: 'negative', detail: quoted };
  if (belowQuantitation) return { reading: 'unknown', detail: `${quoted}: below the quantitation limit, which does not say whether it was detected` };
  return undefined;
}

// ---------------------------------------------------------------------------------------------------------
// Codes and quantities
// ---------------------------------------------------------------------------------------------------------

function codingLabel(c: Coding): string {
  return `${c.code}${c.display ? ` (${shown(c.display)})` : ''}`;
}

function readConcept(cc: CodeableConcept, lists: ResultCodeLists, out: ReadingSignal[]): void {
  let matched = false;
  const codedReadings = new Set<Reading>();
  for (const coding of cc.coding ?? []) {
    let reading: Reading | undefined;
    if (matchCoding(lists.negative, coding)) reading = 'negative';
    else if (matchCoding(lists.positive, coding)) reading = 'positive';
    else if (lists.indeterminate && matchCoding(lists.indeterminate, coding)) reading = 'indeterminate';
    else if (coding.system && INTERPRETATION_SYSTEMS.has(coding.system)) reading = interpretationCode(coding);
    if (reading) {
      matched = true;
      codedReadings.add(reading);
      out.push({ from: 'coded value', reading, detail: codingLabel(coding) });
    }
  }
  // The concept's own text is read too: a coded Negative with the text "Positive" is a disagreement. A
  // display is read only when no code was recognised (a local code whose display is "Not detected").
  const text = readResultText(cc.text);
  const agrees = text && codedReadings.size === 1 && codedReadings.has(text.reading);
  if (text && !agrees) out.push({ from: 'coded value', reading: text.reading, detail: `text ${text.detail}` });
  else if (!matched && !cc.text) {
    for (const coding of cc.coding ?? []) {
      const d = readResultText(coding.display);
      if (d) out.push({ from: 'coded value', reading: d.reading, detail: `display ${d.detail}` });
    }
  }
}

export interface QuantityLike {
  value: number;
  unit: string | undefined;
  comparator?: '<' | '<=' | '>' | '>=';
  recorded: string;
}

const DETECTION_LIMIT_TEXT = /\b(?:limit of detection|detection limit|lod|llod|lower limit of detection)\b[^0-9]{0,20}(\d+(?:\.\d+)?)/;

/** The number a lab states as its detection limit in the reference range text or a note, if any. */
function statedDetectionLimit(o: Observation): number | undefined {
  const texts = [...(o.referenceRange ?? []).map((r) => r.text), ...(o.note ?? []).map((n) => n.text)];
  for (const t of texts) {
    if (!t || t.length > 400) continue;
    const m = DETECTION_LIMIT_TEXT.exec(t.toLowerCase());
    if (m) return Number(m[1]);
  }
  return undefined;
}

/**
 * A quantity against the reference range's upper limit (issue #10 item 2).
 * - No comparator: above the upper limit is positive, at or below it negative.
 * - "<x" / "<=x": negative when x is at or below the upper limit (every possible value is within range).
 * - ">x" / ">=x": positive when x is at or above the upper limit.
 * - "<x" with no reference range is NOT read as negative: x is the lab's reporting limit, which for viral
 *   loads is often the quantitation limit, below which the target can still be detected (the public Viracor
 *   HIV-1 ORU above: "<20 Copies/mL: Detected"). It is negative only when the lab states x is its detection
 *   limit (reference range text or a note: "LOD 20 IU/mL").
 * - A number with no reference range says nothing here.
 */
function readQuantity(o: Observation, v: QuantityLike, high: { value: number; unit: string | undefined } | undefined, units: UnitBudget): ReadingSignal | { note: string } | undefined {
  const recorded = shown(v.recorded);
  if (high) {
    let limit = high.value;
    if (high.unit && v.unit && normaliseUnit(high.unit) !== normaliseUnit(v.unit)) {
      const c = convertUnit(high.value, high.unit, v.unit, units);
      if (!c.ok) return { note: `${recorded}: the reference range is in ${high.unit}, which cannot be compared` };
      limit = c.value;
    }
    const range = `reference range upper limit ${high.value}${high.unit ? ` ${high.unit}` : ''}`;
    if (!v.comparator) {
      return v.value > limit
        ? { from: 'quantity', reading: 'positive', detail: `${recorded} above the ${range}` }
        : { from: 'quantity', reading: 'negative', detail: `${recorded} within the ${range}` };
    }
    if ((v.comparator === '<' || v.comparator === '<=') && v.value <= limit) {
      return { from: 'quantity', reading: 'negative', detail: `${recorded}: below the reporting limit, within the ${range}` };
    }
    if ((v.comparator === '>' || v.comparator === '>=') && v.value >= limit) {
      return { from: 'quantity', reading: 'positive', detail: `${recorded} above the ${range}` };
    }
    return { note: `${recorded} spans the ${range}` };
  }
  if (v.comparator === '<' || v.comparator === '<=') {
    const lod = statedDetectionLimit(o);
    if (lod !== undefined && v.value <= lod) {
      return { from: 'quantity', reading: 'negative', detail: `${recorded}: below the lab's stated detection limit ${lod}` };
    }
    return { note: `${recorded}: below the lab's reporting limit, which may be a quantitation limit (detected but not quantifiable); no reference range or detection limit to read it by` };
  }
  return undefined;
}

function signalText(s: ReadingSignal): string {
  return `${s.from} ${s.detail}`;
}

/**
 * Reads a result from every part that can say something. Undefined when no part says anything.
 * `quantity` and `high` come from the caller (observation-values.ts) so the numeric parsing lives in one place.
 */
export function readResult(
  o: Observation,
  lists: ResultCodeLists,
  quantity: QuantityLike | undefined,
  high: { value: number; unit: string | undefined } | undefined,
  units: UnitBudget,
): ResultReading | undefined {
  const signals: ReadingSignal[] = [];
  const notes: string[] = [];
  if (o.valueCodeableConcept) readConcept(o.valueCodeableConcept, lists, signals);
  if (typeof o.valueBoolean === 'boolean') signals.push({ from: 'boolean value', reading: o.valueBoolean ? 'positive' : 'negative', detail: String(o.valueBoolean) });
  if (typeof o.valueString === 'string') {
    const t = readResultText(o.valueString);
    if (t) signals.push({ from: 'result text', reading: t.reading, detail: t.detail });
  }
  for (const interp of o.interpretation ?? []) {
    let coded = false;
    for (const c of interp.coding ?? []) {
      const r = interpretationCode(c);
      if (r) {
        coded = true;
        signals.push({ from: 'interpretation', reading: r, detail: c.code ?? '' });
      } else if (c.code && c.system && INTERPRETATION_SYSTEMS.has(c.system)) {
        coded = true; // N, A, L...: read and deliberately not used (see the table above)
      }
    }
    if (!coded) {
      const t = readResultText(conceptText(interp));
      if (t) signals.push({ from: 'interpretation', reading: t.reading, detail: `text ${t.detail}` });
    }
  }
  if (quantity) {
    const q = readQuantity(o, quantity, high, units);
    if (q && 'note' in q) notes.push(q.note);
    else if (q) signals.push(q);
  }

  const blocking = signals.find((s) => s.reading === 'unknown');
  if (blocking) return { reading: 'unknown', how: `${signalText(blocking)}: not read`, signals };
  const readings = new Set(signals.map((s) => s.reading));
  if (readings.size > 1) {
    const parts = signals.map((s) => `${signalText(s)} (${s.reading})`).join(' and ');
    return { reading: 'unknown', how: `${parts}, which disagree: not read`, signals };
  }
  const [only] = readings;
  if (only) return { reading: only, how: signals.map(signalText).join(' and '), signals };
  if (notes.length > 0) return { reading: 'unknown', how: notes.join('; '), signals };
  return undefined;
}
