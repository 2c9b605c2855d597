import type { CodeableConcept, Dosage, Medication, Quantity } from '@medplum/fhirtypes';
import { referencedMedication, type MedicationRecord } from '../patient/patient-record.js';
import { addDuration, describeDateRange, formatDate, isPartialDate, parseFhirDate, parseFhirDateRange, type FhirDateRange } from './dates.js';
import { convertUnit, type UnitBudget } from './units.js';
import type { ValueSetCode } from '../terminology/value-set.js';
import { SNOMED_CT, canonicalSystem } from '../terminology/code-systems.js';
import { conceptPhrases } from '../fhir/concept-text.js';

export type { MedicationRecord } from '../patient/patient-record.js';

/**
 * Statuses that mean the medication was never given, per record type (FHIR R4 value sets):
 * - MedicationStatement (medication-statement-status): entered-in-error, not-taken.
 * - MedicationRequest (medicationrequest-status): cancelled ("withdrawn before any administrations have
 *   occurred"), entered-in-error, draft.
 * - MedicationAdministration (medication-admin-status): not-done, entered-in-error.
 * - MedicationDispense (medicationdispense-status): cancelled, declined, entered-in-error.
 * Such records are left out altogether.
 */
const NEVER_GIVEN: Readonly<Record<MedicationRecord['resourceType'], ReadonlySet<string>>> = {
  MedicationStatement: new Set(['entered-in-error', 'not-taken']),
  MedicationRequest: new Set(['cancelled', 'entered-in-error', 'draft']),
  MedicationAdministration: new Set(['not-done', 'entered-in-error']),
  MedicationDispense: new Set(['cancelled', 'declined', 'entered-in-error']),
};

export function isIgnoredMedication(m: MedicationRecord): boolean {
  if (m.resourceType === 'MedicationRequest' && m.doNotPerform === true) return true;
  return NEVER_GIVEN[m.resourceType].has(m.status);
}

/**
 * How sure the record is that the drug reached the patient.
 * - `given`: a completed/in-progress/stopped/on-hold administration, a completed (handed-over) dispense,
 *   or a statement that the patient takes or took it (active, completed, stopped, on-hold).
 * - `ordered`: an order (any MedicationRequest not ignored), a statement that is only `intended` or of
 *   `unknown` status, an administration of `unknown` status, a dispense not yet handed over. It says the
 *   drug was meant for the patient, not that it was taken: such a record alone never meets a part (see
 *   checkMatch in rules/medication.ts); it leaves the part unknown, with the order shown.
 */
export type Certainty = 'given' | 'ordered';

export interface Exposure {
  certainty: Certainty;
  start?: Date;
  /** Last day the patient is known (given) or might be (ordered and still open) to have been taking it. */
  end?: Date;
  /** Taken now (given), or an order still open now (ordered: "may be current"). */
  current: boolean;
  /** How the dates were read, for the evidence: "ordered 2026-10-01; administration not recorded". */
  dateNote?: string;
  /** The latest day the start may be, when it is recorded as a month or a year (start is the first). */
  startLatest?: Date;
  /** The earliest day the end may be, when it is recorded as a month or a year (end is the last). */
  endEarliest?: Date;
  /**
   * With no end: an entry date (MedicationStatement.dateAsserted) by which it had been taken, so it ended
   * no later than that when the statement is not current (issue #18: an entry date bounds an event, it
   * never dates it).
   */
  endBy?: Date;
}

const DAY_MS = 86_400_000;

function durationToIso(q: Quantity | undefined): string | undefined {
  const value = q?.value;
  const unit = q?.code ?? q?.unit;
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0 || !unit) return undefined;
  const u = ({ d: 'D', day: 'D', days: 'D', wk: 'W', week: 'W', weeks: 'W', mo: 'M', month: 'M', months: 'M', a: 'Y', year: 'Y', years: 'Y' } as Record<string, string>)[unit];
  return u ? `P${Math.round(value)}${u}` : undefined;
}

function dateOf(value: unknown): Date | undefined {
  return typeof value === 'string' ? parseFhirDate(value) : undefined;
}

function rangeOf(value: unknown): FhirDateRange | undefined {
  return typeof value === 'string' ? parseFhirDateRange(value) : undefined;
}

/**
 * The exposure's dates from its event dates (a statement's or an administration's effective[x]): the first
 * possible day of the start and the last possible day of the end, with the other edge of a partial date
 * ("2026-10") kept so a window or a course length it straddles is unknown, not decided.
 */
function eventDates(startValue: string | undefined, endValue: string | undefined): { start?: Date; end?: Date; startLatest?: Date; endEarliest?: Date; partial?: string } {
  const start = rangeOf(startValue);
  // A period with only a start (or one date) ends, at the latest, on the last day that start may be.
  const end = rangeOf(endValue) ?? start;
  const out: { start?: Date; end?: Date; startLatest?: Date; endEarliest?: Date; partial?: string } = {};
  if (start) out.start = start.start;
  if (end) out.end = end.end;
  if (start && isPartialDate(start)) out.startLatest = start.end;
  if (end && isPartialDate(end)) out.endEarliest = end.start;
  const partial = [start, end].find((d) => d && isPartialDate(d));
  if (partial) out.partial = `dated ${describeDateRange(partial)}`;
  return out;
}

/**
 * When the patient took (or might have taken) the medication, by record type. Event dates only (issue #18):
 * an entry date (a statement's dateAsserted) never starts a course.
 * - MedicationStatement: effective[x]; active with no past end date is current. `intended` (may be taken
 *   in the future) and `unknown` are `ordered`. With no effective[x], the course's dates are not in the
 *   record: dateAsserted only says it had been taken by then (endBy).
 * - MedicationAdministration: effective[x] is when it was given; in-progress is current, and so is an
 *   administration that ended in the last day (a continuous infusion, a daily dose).
 * - MedicationDispense: handed over (`whenHandedOver`) and, with `daysSupply`, the days it covers.
 * - MedicationRequest: evidence of an order on `authoredOn`, never of exposure through
 *   `dispenseRequest.validityPeriod` (a prescription valid for a year says nothing of what was taken). An
 *   active order is "open": the patient may be taking it now, so it may matter for "current" and "in the
 *   last N" parts, always as `ordered` (unknown, never met on its own).
 */
export function exposureOf(m: MedicationRecord, now: Date): Exposure {
  switch (m.resourceType) {
    case 'MedicationStatement': {
      const dates = eventDates(m.effectivePeriod?.start ?? m.effectiveDateTime, m.effectivePeriod?.end ?? m.effectiveDateTime);
      const { start, end } = dates;
      const certainty: Certainty = m.status === 'intended' || m.status === 'unknown' ? 'ordered' : 'given';
      const activeStatus = m.status === 'active' || m.status === 'intended' || m.status === 'unknown';
      const current = activeStatus && (!m.effectivePeriod?.end || (end !== undefined && end >= now));
      const asserted = start ? undefined : dateOf(m.dateAsserted);
      const notes = [
        m.status === 'intended' ? 'recorded as intended: not yet taken' : m.status === 'unknown' ? 'status unknown' : undefined,
        asserted ? `asserted ${formatDate(asserted)}; when it was started is not in the record` : undefined,
        dates.partial,
      ].filter((n): n is string => n !== undefined);
      const e = withNote({ certainty, start, end: current ? now : (end ?? start), current }, notes.join('; ') || undefined);
      if (asserted && !current) e.endBy = asserted;
      return withPartial(e, dates, current);
    }
    case 'MedicationAdministration': {
      const dates = eventDates(m.effectivePeriod?.start ?? m.effectiveDateTime, m.effectivePeriod?.end ?? m.effectiveDateTime);
      const { start } = dates;
      const end = dates.end ?? start;
      const certainty: Certainty = m.status === 'unknown' ? 'ordered' : 'given';
      const current = m.status === 'in-progress' || (end !== undefined && end.getTime() >= now.getTime() - DAY_MS && m.status !== 'stopped');
      const note = [certainty === 'ordered' ? 'administration status unknown' : undefined, dates.partial].filter((n): n is string => n !== undefined).join('; ');
      return withPartial(withNote({ certainty, start, end: current ? now : end, current }, note || undefined), dates, current);
    }
    case 'MedicationDispense': {
      const handed = rangeOf(m.whenHandedOver);
      const certainty: Certainty = m.status === 'completed' && handed ? 'given' : 'ordered';
      const when = handed ?? rangeOf(m.whenPrepared);
      const supply = durationToIso(m.daysSupply);
      const covered = (d: Date | undefined): Date | undefined => (d && supply ? addDuration(d, supply) : d);
      // A month- or year-only date: the supply runs out, at the latest, its days after the last day.
      const start = when?.start;
      const end = covered(when?.end);
      const current = end !== undefined && end >= now;
      const note = [certainty === 'ordered' ? `dispense ${m.status}${handed ? '' : ', not recorded as handed over'}` : undefined, when && isPartialDate(when) ? `dated ${describeDateRange(when)}` : undefined].filter((n): n is string => n !== undefined).join('; ');
      const partial = when && isPartialDate(when) ? { startLatest: when.end, endEarliest: covered(when.start) } : {};
      return withPartial(withNote({ certainty, start, end: current ? now : end, current }, note || undefined), partial, current);
    }
    case 'MedicationRequest': {
      const authored = dateOf(m.authoredOn);
      const start = authored ?? dateOf(m.dispenseRequest?.validityPeriod?.start);
      const open = m.status === 'active' || m.status === 'unknown';
      const supply = durationToIso(m.dispenseRequest?.expectedSupplyDuration);
      const plannedEnd = dateOf(m.dispenseRequest?.validityPeriod?.end) ?? (start && supply ? addDuration(start, supply) : undefined);
      // An open order may still be being taken; a closed one (completed, stopped, on-hold) at most until its
      // planned end. Either way only `ordered`: what was given is not recorded.
      const current = open && (!plannedEnd || plannedEnd >= now);
      const end = current ? now : (plannedEnd ?? start);
      const note = `${authored ? `ordered ${formatDate(authored)}` : `order undated${start ? `, valid from ${formatDate(start)}` : ''}`} (${m.status}); administration not recorded`;
      return { certainty: 'ordered', start, end, current, dateNote: note };
    }
  }
}

/** Keeps the other edge of a partial start or end (see Exposure.startLatest, endEarliest). */
function withPartial(e: Exposure, dates: { startLatest?: Date; endEarliest?: Date }, current: boolean): Exposure {
  if (dates.startLatest) e.startLatest = dates.startLatest;
  if (dates.endEarliest && !current) e.endEarliest = dates.endEarliest;
  return e;
}

function withNote(e: Exposure, note: string | undefined): Exposure {
  if (note) e.dateNote = note;
  return e;
}

/** The dosages of a record, whichever field its type keeps them in. */
function dosages(m: MedicationRecord): Dosage[] {
  switch (m.resourceType) {
    case 'MedicationStatement':
      return Array.isArray(m.dosage) ? m.dosage : [];
    case 'MedicationRequest':
    case 'MedicationDispense':
      return Array.isArray(m.dosageInstruction) ? m.dosageInstruction : [];
    case 'MedicationAdministration':
      return [];
  }
}

/**
 * SNOMED CT route codes (Route of administration value) that are not systemic. Checked in the SNOMED code
 * list of ONCOFAIR/FHIR-ImplementationGuide-Article (input/fsh/OncoFAIR/CodeSystems/SNOMEDCTOncoFAIRCodeSystem.fsh):
 * 6064005 Topical route, 10547007 Otic route, 16857009 Per vagina, 37161004 Per rectum, 46713006 Nasal route,
 * 54485002 Ophthalmic route. Inhaled and cutaneous routes are read from their words (no code confirmed).
 */
const LOCAL_ROUTE_CODES = new Set(['6064005', '10547007', '16857009', '37161004', '46713006', '54485002']);

/**
 * Words of a local (non-systemic) route, as RxNorm dose forms and route displays write them ("Topical Cream",
 * "Ophthalmic Solution", "Inhalant", "Dry Powder Inhaler", "Nasal Spray", "Otic", "Rectal Foam", "Enema",
 * "Vaginal Tablet"). They win over any form word: a vaginal tablet is not systemic. Rectal and intestinal
 * corticosteroids are classed as local (ATC A07EA), not systemic (H02). Chinese records name the dose form in the
 * drug's name (醋酸泼尼松龙滴眼液 eye drops, 他克莫司软膏 ointment, 醋酸泼尼松片 tablets) and are written without spaces,
 * so their words are matched without word boundaries (issue #17, drug names as records write them).
 */
const LOCAL_ROUTE_WORDS =
  /\b(topical|ophthalmic|eye drops?|intravitreal|otic|ear drops?|nasal|intranasal|inhal\w*|nebuli[sz]\w*|respiratory|cutaneous|rectal|enema|suppository|vaginal|mouthwash|oral rinse|oral paste|dental)\b|(滴眼液|眼膏|眼用|滴耳液|鼻喷|喷鼻|鼻用|吸入|雾化|外用|栓剂|灌肠|阴道|含漱|漱口)/i;
/** Words of a systemic route or a systemic-only form. */
const SYSTEMIC_WORDS = /\b(oral|intravenous|iv|subcutaneous|intramuscular|transdermal|sublingual|injection|injectable|infusion|tablet|capsule)\b|(注射|静脉|口服|皮下|肌内|输注|滴注|胶囊|片)/i;
/** Dose forms that are local when nothing names a systemic route ("tacrolimus 0.1% ointment"). */
const LOCAL_FORM_WORDS = /\b(cream|ointment|lotion|gel|foam|shampoo|paste)\b|(乳膏|软膏|凝胶|洗剂|搽剂)/i;

/** What a text says of the route: local, systemic, or nothing. */
function readRouteText(text: string): { systemic: boolean; word: string } | undefined {
  const local = LOCAL_ROUTE_WORDS.exec(text);
  if (local) return { systemic: false, word: local[0] };
  const systemic = SYSTEMIC_WORDS.exec(text);
  if (systemic) return { systemic: true, word: systemic[0] };
  const form = LOCAL_FORM_WORDS.exec(text);
  return form ? { systemic: false, word: form[0] } : undefined;
}

export type RouteReading = { systemic: true; how?: string } | { systemic: false; how: string };


function routesOf(m: MedicationRecord): CodeableConcept[] {
  if (m.resourceType === 'MedicationAdministration') return m.dosage?.route ? [m.dosage.route] : [];
  return dosages(m).flatMap((d) => (d.route ? [d.route] : []));
}

/**
 * Whether a record is systemic use: the dosage route when it is coded or named, else the product's dose
 * form (Medication.form, or the drug's name, where RxNorm puts the dose form: "hydrocortisone 10 MG/ML
 * Topical Cream"). A record that says nothing of its route counts as systemic (most systemic records carry
 * no route; a local one almost always names its form).
 */
export function routeOf(m: MedicationRecord, medications: ReadonlyMap<string, Medication>, drugText: string): RouteReading {
  for (const route of routesOf(m)) {
    const codings = Array.isArray(route.coding) ? route.coding : [];
    const local = codings.find((c) => typeof c.system === 'string' && canonicalSystem(c.system) === SNOMED_CT && typeof c.code === 'string' && LOCAL_ROUTE_CODES.has(c.code));
    if (local) return { systemic: false, how: `route ${local.display ?? `SNOMED ${local.code}`}` };
    const text = conceptPhrases(route);
    const read = text ? readRouteText(text) : undefined;
    if (read) return read.systemic ? { systemic: true, how: `route ${text}` } : { systemic: false, how: `route ${text}` };
  }
  const form = conceptPhrases(referencedMedication(m, medications)?.form);
  const byForm = form ? readRouteText(form) : undefined;
  if (byForm) return byForm.systemic ? { systemic: true, how: `dose form ${form}` } : { systemic: false, how: `dose form ${form}` };
  const byName = readRouteText(drugText);
  if (byName && !byName.systemic) return { systemic: false, how: `dose form "${byName.word}" in "${drugText}"` };
  return { systemic: true };
}

const PER_DAY: Readonly<Record<string, number>> = { s: 86_400, min: 1_440, h: 24, d: 1, wk: 1 / 7, mo: 1 / 30, a: 1 / 365 };

export type DailyDose = { ok: true; mgPerDay: number; how: string } | { ok: false; reason: string };

/**
 * The strength of one unit (tablet, capsule, mL) in mg: from the code list's product entry, else from the
 * referenced Medication's single ingredient strength (Medication.ingredient.strength, a Ratio such as
 * 20 mg / 1 TAB; FHIR R4 §Medication).
 */
export function unitStrengthMg(m: MedicationRecord, product: ValueSetCode | undefined, medications: ReadonlyMap<string, Medication>, units: UnitBudget): { mg: number; from: string } | undefined {
  if (product?.strength && /^mg$/i.test(product.strength.unit)) return { mg: product.strength.value, from: 'product strength' };
  const med = referencedMedication(m, medications);
  const ingredients = Array.isArray(med?.ingredient) ? med.ingredient : [];
  const withStrength = ingredients.filter((i) => i.strength?.numerator);
  if (withStrength.length !== 1) return undefined;
  const { numerator, denominator } = withStrength[0]!.strength!;
  if (typeof numerator?.value !== 'number' || (denominator && denominator.value !== undefined && denominator.value !== 1)) return undefined;
  const mg = convertUnit(numerator.value, numerator.code ?? numerator.unit ?? '', 'mg', units);
  return mg.ok && mg.value > 0 ? { mg: mg.value, from: `Medication strength ${numerator.value} ${numerator.unit ?? numerator.code}` } : undefined;
}

/**
 * Daily dose in mg from the first dosage: doseQuantity in mass units, or a count of units (tablets) times
 * the unit strength (code list product, or the referenced Medication's ingredient strength); times the
 * timing's frequency per day. An administration gives one dose (MedicationAdministration.dosage.dose).
 */
export function dailyDoseMg(m: MedicationRecord, product: ValueSetCode | undefined, medications: ReadonlyMap<string, Medication>, units: UnitBudget): DailyDose {
  if (m.resourceType === 'MedicationAdministration') return { ok: false, reason: 'an administration records one dose, not a daily dose' };
  const dosage = dosages(m)[0];
  if (!dosage) return { ok: false, reason: 'no dosage recorded' };
  const dq = dosage.doseAndRate?.find((d) => d.doseQuantity)?.doseQuantity;
  if (!dq || typeof dq.value !== 'number' || !Number.isFinite(dq.value)) return { ok: false, reason: 'no dose quantity recorded' };
  const unit = dq.code ?? dq.unit;
  let mgPerDose: number;
  let how: string;
  const mass = unit ? convertUnit(dq.value, unit, 'mg', units) : undefined;
  const strength = mass?.ok ? undefined : unitStrengthMg(m, product, medications, units);
  if (mass?.ok) {
    mgPerDose = mass.value;
    how = `${dq.value} ${unit}`;
  } else if (strength) {
    mgPerDose = dq.value * strength.mg;
    how = `${dq.value} x ${strength.mg} mg (${strength.from})`;
  } else {
    return { ok: false, reason: `dose "${`${dq.value} ${unit ?? ''}`.trim()}" cannot be read as mg` };
  }
  const repeat = dosage.timing?.repeat;
  if (!repeat?.frequency || !repeat.period || !repeat.periodUnit) {
    return { ok: false, reason: 'dose frequency not recorded' };
  }
  const perDay = (repeat.frequency / repeat.period) * (PER_DAY[repeat.periodUnit] ?? Number.NaN);
  if (!Number.isFinite(perDay)) return { ok: false, reason: 'dose frequency not readable' };
  return { ok: true, mgPerDay: mgPerDose * perDay, how: `${how}, ${repeat.frequency} per ${repeat.period} ${repeat.periodUnit}` };
}
