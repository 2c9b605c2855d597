import type { Dosage, MedicationRequest, MedicationStatement } from '@medplum/fhirtypes';
import { addDuration, parseFhirDate } from './dates.js';
import { convertUnit } from './units.js';
import type { ValueSetCode } from '../terminology/value-set.js';

export type MedicationRecord = MedicationStatement | MedicationRequest;

/** Statuses that mean the medication was never taken (FHIR R4 medication-statement/request status). */
const NOT_TAKEN = new Set(['entered-in-error', 'not-taken', 'draft']);

export function isIgnoredMedication(m: MedicationRecord): boolean {
  return NOT_TAKEN.has(m.status);
}

export interface Exposure {
  start?: Date;
  /** Last day the patient is known to have been taking it; `now` when current. */
  end?: Date;
  current: boolean;
}

function durationToIso(value: number | undefined, unit: string | undefined): string | undefined {
  if (!value || !unit) return undefined;
  const u = { d: 'D', day: 'D', days: 'D', wk: 'W', week: 'W', weeks: 'W', mo: 'M', month: 'M', months: 'M', a: 'Y', year: 'Y', years: 'Y' }[unit];
  return u ? `P${Math.round(value)}${u}` : undefined;
}

/**
 * When the patient took the medication. MedicationStatement: effective[x]; status active/intended with no
 * past end date is current. MedicationRequest: authoredOn to the validity period end or authoredOn plus the
 * expected supply; status active is current.
 */
export function exposureOf(m: MedicationRecord, now: Date): Exposure {
  if (m.resourceType === 'MedicationStatement') {
    const start = parseFhirDate(m.effectivePeriod?.start ?? m.effectiveDateTime ?? m.dateAsserted);
    const end = parseFhirDate(m.effectivePeriod?.end ?? m.effectiveDateTime);
    const activeStatus = m.status === 'active' || m.status === 'intended';
    const current = activeStatus && (!m.effectivePeriod?.end || (end !== undefined && end >= now));
    return { start, end: current ? now : (end ?? start), current };
  }
  const start = parseFhirDate(m.dispenseRequest?.validityPeriod?.start ?? m.authoredOn);
  const supply = m.dispenseRequest?.expectedSupplyDuration;
  const supplyIso = durationToIso(supply?.value, supply?.code ?? supply?.unit);
  const plannedEnd =
    parseFhirDate(m.dispenseRequest?.validityPeriod?.end) ?? (start && supplyIso ? addDuration(start, supplyIso) : undefined);
  const current = m.status === 'active' && (!plannedEnd || plannedEnd >= now);
  return { start, end: current ? now : (plannedEnd ?? start), current };
}

function dosages(m: MedicationRecord): Dosage[] {
  return m.resourceType === 'MedicationStatement' ? (m.dosage ?? []) : (m.dosageInstruction ?? []);
}

const PER_DAY: Readonly<Record<string, number>> = { s: 86_400, min: 1_440, h: 24, d: 1, wk: 1 / 7, mo: 1 / 30, a: 1 / 365 };

export type DailyDose = { ok: true; mgPerDay: number; how: string } | { ok: false; reason: string };

/**
 * Daily dose in mg from the first dosage: doseQuantity in mass units, or a count of units (tablets) times
 * the product strength from the code list; times the timing's frequency per day.
 */
export function dailyDoseMg(m: MedicationRecord, product: ValueSetCode | undefined): DailyDose {
  const dosage = dosages(m)[0];
  if (!dosage) return { ok: false, reason: 'no dosage recorded' };
  const dq = dosage.doseAndRate?.find((d) => d.doseQuantity)?.doseQuantity;
  if (!dq || typeof dq.value !== 'number' || !Number.isFinite(dq.value)) return { ok: false, reason: 'no dose quantity recorded' };
  const unit = dq.code ?? dq.unit;
  let mgPerDose: number;
  let how: string;
  const mass = unit ? convertUnit(dq.value, unit, 'mg') : undefined;
  if (mass?.ok) {
    mgPerDose = mass.value;
    how = `${dq.value} ${unit}`;
  } else if (product?.strength && /^mg$/i.test(product.strength.unit)) {
    mgPerDose = dq.value * product.strength.value;
    how = `${dq.value} x ${product.strength.value} mg`;
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
