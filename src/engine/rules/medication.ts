import type { Observation } from '@medplum/fhirtypes';
import type { MedicationLeaf } from './medication-kind.js';
import { referenceOf, resourceCode } from '../../patient/patient-record.js';
import { matchCoding, matchName, type CompiledValueSet, type ValueSetCode } from '../../terminology/value-set.js';
import { candidatesFor, findByValueSet, passesFilters, unavailableReason, type EvalContext } from '../context.js';
import { daysBetween, describeDuration, formatDate, subtractDuration } from '../dates.js';
import { dailyDoseMg, exposureOf, isIgnoredMedication, type Exposure, type MedicationRecord } from '../medication-exposure.js';
import { numericValue, resultsInWindow } from '../observation-values.js';
import { foundOutcome, noDataOutcome, part } from '../part.js';
import type { Evidence, PartResult } from '../types.js';
import { convertUnit } from '../units.js';

interface Match {
  record: MedicationRecord;
  entry: ValueSetCode | undefined;
  byName: string | undefined;
  exposure: Exposure;
}

/** Records in the list by RxNorm code (ingredient or product), then by ingredient name in the text. */
function matchMedications(ctx: EvalContext, leaf: MedicationLeaf, vs: CompiledValueSet): Match[] {
  const out: Match[] = [];
  const coded = new Set<MedicationRecord>(findByValueSet(ctx, vs, ['MedicationStatement', 'MedicationRequest']) as MedicationRecord[]);
  const empty = new Map();
  for (const r of candidatesFor(ctx, leaf, ['MedicationStatement', 'MedicationRequest']) as MedicationRecord[]) {
    if (isIgnoredMedication(r)) continue;
    const concept = resourceCode(r, empty);
    const entry = concept?.coding?.map((c) => matchCoding(vs, c)).find((e) => e !== undefined);
    out.push({ record: r, entry, byName: undefined, exposure: exposureOf(r, ctx.now) });
  }
  for (const { resource, lowerText } of ctx.record.medicationTexts) {
    if (coded.has(resource) || isIgnoredMedication(resource) || !passesFilters(leaf, resource)) continue;
    const name = matchName(vs, lowerText);
    if (name) out.push({ record: resource, entry: undefined, byName: name, exposure: exposureOf(resource, ctx.now) });
  }
  return out;
}

/** The drug a match stands for: its RxNorm ingredient, or the name it matched by. */
function ingredientOf(m: Match): string {
  return m.entry?.ingredient ?? m.byName ?? m.entry?.display ?? medicationDisplay(m.record);
}

function medicationDisplay(m: MedicationRecord): string {
  const cc = m.medicationCodeableConcept;
  return cc?.text ?? cc?.coding?.find((c) => c.display)?.display ?? m.medicationReference?.display ?? 'Medication';
}

function evidenceOf(m: Match, extra?: string): Evidence {
  const ev: Evidence = {
    reference: referenceOf(m.record),
    display: medicationDisplay(m.record),
    value: m.exposure.current ? 'current' : m.record.status,
    date: formatDate(m.exposure.start),
  };
  const notes = [
    m.byName ? `matched by name "${m.byName}": its code is not in the list` : undefined,
    !m.exposure.current && m.exposure.end ? `last taken ${formatDate(m.exposure.end)}` : undefined,
    extra,
  ].filter(Boolean);
  if (notes.length > 0) ev.note = notes.join('; ');
  return ev;
}

function steroidFactor(vs: CompiledValueSet, m: Match): number | undefined {
  if (m.entry) return m.entry.prednisoneEquivalentFactor ?? (m.entry.ingredient ? vs.steroidFactors.get(m.entry.ingredient) : undefined);
  const name = m.byName;
  for (const e of vs.exact.values()) {
    if (e.prednisoneEquivalentFactor && name && e.display.toLowerCase() === name) return e.prednisoneEquivalentFactor;
  }
  return undefined;
}

/** The latest body weight in the last 6 months, in kg: doses per kg use it. */
function latestWeightKg(ctx: EvalContext): { kg: number; evidence: Evidence } | undefined {
  const obs = findByValueSet(ctx, ctx.engine.bodyWeight, ['Observation']) as Observation[];
  const { inWindow } = resultsInWindow(obs, subtractDuration(ctx.now, 'P6M'), ctx.now);
  for (const { observation, date } of inWindow) {
    const v = numericValue(observation);
    if (!v?.unit) continue;
    const kg = convertUnit(v.value, v.unit, 'kg');
    if (kg.ok && kg.value > 0) {
      return { kg: kg.value, evidence: { reference: referenceOf(observation), display: 'Body weight', value: kg.value, unit: 'kg', date: formatDate(date), recorded: v.recorded } };
    }
  }
  return undefined;
}

type Check = { outcome: 'pass' | 'fail' | 'unknown'; note?: string; extraEvidence?: Evidence };

/** Whether one medication record satisfies the rule's timing and dose constraints. */
function checkMatch(leaf: MedicationLeaf, ctx: EvalContext, m: Match, weight: ReturnType<typeof latestWeightKg>): Check {
  const spec = leaf.spec;
  const { exposure } = m;
  if (spec.currentOnly && !exposure.current) return { outcome: 'fail', note: 'not current' };
  if (spec.window) {
    const from = subtractDuration(ctx.now, spec.window);
    if (!exposure.end) return { outcome: 'unknown', note: 'no dates recorded' };
    if (exposure.end < from) return { outcome: 'fail', note: `last taken before the ${describeDuration(spec.window)} window` };
  }
  if (spec.startedAtLeast) {
    if (!exposure.start) return { outcome: 'unknown', note: 'start date not recorded' };
    if (exposure.start > subtractDuration(ctx.now, spec.startedAtLeast)) {
      return { outcome: 'fail', note: `current course started ${formatDate(exposure.start)}, less than ${describeDuration(spec.startedAtLeast)} ago` };
    }
  }
  if (spec.minCourse) {
    if (!exposure.start || !exposure.end) return { outcome: 'unknown', note: 'course dates not recorded' };
    const days = daysBetween(exposure.start, exposure.end);
    const needed = daysBetween(subtractDuration(ctx.now, spec.minCourse), ctx.now);
    if (days < needed) return { outcome: 'fail', note: `course of ${Math.round(days)} days, under ${describeDuration(spec.minCourse)}` };
  }
  if (spec.minPrednisoneMgPerKgPerDay !== undefined) {
    const factor = leaf.valueSet ? steroidFactor(leaf.valueSet, m) : undefined;
    if (factor === undefined) return { outcome: 'unknown', note: 'no prednisone equivalence for this drug' };
    const dose = dailyDoseMg(m.record, m.entry);
    if (!dose.ok) return { outcome: 'unknown', note: dose.reason };
    if (!weight) return { outcome: 'unknown', note: 'no body weight in the last 6 months' };
    const perKg = (dose.mgPerDay * factor) / weight.kg;
    const note = `${dose.how} = ${round(dose.mgPerDay * factor)} mg/day prednisone equivalent, ${round(perKg)} mg/kg/day at ${round(weight.kg)} kg`;
    return { outcome: perKg >= spec.minPrednisoneMgPerKgPerDay ? 'pass' : 'fail', note, extraEvidence: weight.evidence };
  }
  return { outcome: 'pass' };
}

function round(n: number): number {
  return Math.round(n * 100) / 100;
}

/**
 * Medications are decided from the record: a matching MedicationStatement or MedicationRequest that meets
 * the timing and dose constraints is presence; none is absence. Entered-in-error, not-taken and draft
 * records are ignored.
 */
export function evaluateMedication(leaf: MedicationLeaf, ctx: EvalContext): PartResult {
  const matches = matchMedications(ctx, leaf, leaf.valueSet);
  const weight = leaf.spec.minPrednisoneMgPerKgPerDay !== undefined ? latestWeightKg(ctx) : undefined;
  const pass: Evidence[] = [];
  const unsure: Evidence[] = [];
  const failed: Evidence[] = [];
  const unsureNotes: string[] = [];
  const passing: Match[] = [];
  const unsureMatches: Match[] = [];
  for (const m of matches) {
    const check = checkMatch(leaf, ctx, m, weight);
    const ev = evidenceOf(m, check.note);
    if (check.outcome === 'pass') {
      passing.push(m);
      pass.push(ev);
      if (check.extraEvidence) pass.push(check.extraEvidence);
    } else if (check.outcome === 'unknown') {
      unsureMatches.push(m);
      unsure.push(ev);
      if (check.note) unsureNotes.push(check.note);
    } else failed.push(ev);
  }
  const title = leaf.valueSet.title;
  const minIngredients = leaf.spec.minIngredients;
  if (minIngredients !== undefined) {
    // Count different drugs, not records: two prescriptions of methotrexate are one agent.
    const agents = new Set(passing.map(ingredientOf));
    const possible = new Set([...passing, ...unsureMatches].map(ingredientOf));
    const list = [...agents].join(', ') || 'none';
    if (agents.size >= minIngredients) return part(leaf, foundOutcome(leaf), `${agents.size} different agents: ${list}`, pass);
    if (possible.size >= minIngredients) {
      return part(leaf, 'unknown', `${agents.size} of ${minIngredients} agents confirmed (${list}); others incomplete`, [...pass, ...unsure], [`${title}: ${unsureNotes[0] ?? 'dates'}`]);
    }
    const unavailable = unavailableReason(ctx, ['MedicationStatement', 'MedicationRequest']);
    if (unavailable) return part(leaf, 'unknown', unavailable, pass, [`medications (${title})`]);
    return part(leaf, noDataOutcome(leaf, 'not-met'), `${agents.size} of ${minIngredients} different agents recorded (${list})`, [...pass, ...failed]);
  }
  if (pass.length > 0) return part(leaf, foundOutcome(leaf), `${title}: found`, pass);
  if (unsure.length > 0) {
    return part(leaf, 'unknown', `${title} recorded, but ${unsureNotes[0] ?? 'its details are incomplete'}`, unsure, [`${title}: ${unsureNotes[0] ?? 'dates and dose'}`]);
  }
  const unavailable = unavailableReason(ctx, ['MedicationStatement', 'MedicationRequest']);
  if (unavailable) return part(leaf, 'unknown', unavailable, failed, [`medications (${title})`]);
  const outcome = noDataOutcome(leaf, 'not-met');
  const reason = failed.length > 0 ? `${title} recorded, but not as the criterion requires` : `no ${title} recorded`;
  return part(leaf, outcome, reason, failed, outcome === 'not-met' ? undefined : [title]);
}
