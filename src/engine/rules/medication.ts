import type { Observation } from '@medplum/fhirtypes';
import type { MedicationLeaf } from './medication-kind.js';
import { MEDICATION_TYPES, referenceOf, resourceCode } from '../../patient/patient-record.js';
import { conceptText } from '../../fhir/concept-text.js';
import { ingredientKey, matchCoding, type CompiledValueSet, type ValueSetCode } from '../../terminology/value-set.js';
import { candidatesFor, exposureIn, findByValueSet, nameIn, observationWhenIn, passesFilters, unavailableReason, windowStart, type EvalContext } from '../context.js';
import { daysBetween, firstDayOutsideWindow, describeDuration, formatDate } from '../dates.js';
import { dailyDoseMg, isIgnoredMedication, routeOf, type Exposure, type MedicationRecord } from '../medication-exposure.js';
import { numericValue, resultsInWindow } from '../observation-values.js';
import { foundOutcome, noDataOutcome, part } from '../part.js';
import type { Evidence, PartResult, WindowClears } from '../types.js';
import { convertUnit } from '../units.js';
import { toHundredths } from '../rounding.js';
import { unplacedItems } from '../unplaced-items.js';

interface Match {
  record: MedicationRecord;
  entry: ValueSetCode | undefined;
  byName: string | undefined;
  exposure: Exposure;
  /** The ingredient it stands for (RxNorm IN code, else generic name): one agent however it is recorded. */
  ingredient: string;
  /** Why it is not systemic use, when it is not (topical, ophthalmic, inhaled...). */
  local?: string;
}

/**
 * Records in the list by RxNorm code (ingredient or product), then by name in the text (generic, brand or
 * synonym), from all four medication record types. Records that say the drug was never given are left out.
 */
function matchMedications(ctx: EvalContext, leaf: MedicationLeaf, vs: CompiledValueSet): Match[] {
  const systemicOnly = leaf.spec.routes !== 'any';
  const out: Match[] = [];
  const coded = new Set<MedicationRecord>(findByValueSet(ctx, vs, MEDICATION_TYPES) as MedicationRecord[]);
  const add = (r: MedicationRecord, entry: ValueSetCode | undefined, byName: string | undefined, text: string): void => {
    const name = byName ?? (entry?.ingredient ? undefined : nameIn(ctx, vs, text));
    const ingredient = ingredientKey(vs, entry, name) ?? entry?.code ?? (text || medicationDisplay(ctx, r));
    const m: Match = { record: r, entry, byName, exposure: exposureIn(ctx, r), ingredient };
    if (systemicOnly) {
      const route = routeOf(r, ctx.record.medications, text);
      if (!route.systemic) m.local = route.how;
    }
    out.push(m);
  };
  for (const r of candidatesFor(ctx, leaf, MEDICATION_TYPES) as MedicationRecord[]) {
    if (isIgnoredMedication(r)) continue;
    const concept = resourceCode(r, ctx.record.medications);
    const entry = concept?.coding?.map((c) => matchCoding(vs, c)).find((e) => e !== undefined);
    add(r, entry, undefined, ctx.record.medicationTexts.get(r) ?? '');
  }
  for (const [resource, lowerText] of ctx.record.medicationTexts) {
    if (coded.has(resource) || isIgnoredMedication(resource) || !passesFilters(leaf, resource, ctx.record.placements)) continue;
    const name = nameIn(ctx, vs, lowerText);
    if (name) add(resource, undefined, name, lowerText);
  }
  return out;
}

function medicationDisplay(ctx: EvalContext, m: MedicationRecord): string {
  const cc = resourceCode(m, ctx.record.medications);
  return conceptText(cc) ?? m.medicationReference?.display ?? 'Medication';
}

const KIND_WORDS: Readonly<Record<MedicationRecord['resourceType'], string>> = {
  MedicationStatement: 'statement',
  MedicationRequest: 'order',
  MedicationAdministration: 'administration',
  MedicationDispense: 'dispense',
};

function evidenceOf(ctx: EvalContext, vs: CompiledValueSet, m: Match, extra?: string): Evidence {
  const ev: Evidence = {
    reference: referenceOf(m.record),
    display: medicationDisplay(ctx, m.record),
    value: m.exposure.current && m.exposure.certainty === 'given' ? 'current' : `${KIND_WORDS[m.record.resourceType]} ${m.record.status}`,
    date: formatDate(m.exposure.start),
  };
  const ingredientName = vs.ingredientNames.get(m.ingredient);
  const notes = [
    m.byName ? `matched by name "${m.byName}"${ingredientName && ingredientName !== m.byName ? ` (${ingredientName})` : ''}: its code is not in the list` : undefined,
    m.exposure.dateNote,
    m.exposure.certainty === 'given' && !m.exposure.current && m.exposure.end ? `last taken ${formatDate(m.exposure.end)}` : undefined,
    extra,
  ].filter(Boolean);
  if (notes.length > 0) ev.note = notes.join('; ');
  return ev;
}

function steroidFactor(vs: CompiledValueSet, m: Match): number | undefined {
  if (m.entry?.prednisoneEquivalentFactor) return m.entry.prednisoneEquivalentFactor;
  return vs.steroidFactors.get(m.ingredient);
}

/** The latest body weight in the last 6 months, in kg: doses per kg use it. */
function latestWeightKg(ctx: EvalContext): { kg: number; evidence: Evidence } | undefined {
  const obs = findByValueSet(ctx, ctx.engine.bodyWeight, ['Observation']) as Observation[];
  const { inWindow } = resultsInWindow(obs, windowStart(ctx, 'P6M'), ctx.now, (o) => observationWhenIn(ctx, o));
  for (const { observation, date } of inWindow) {
    const v = numericValue(observation);
    if (!v?.unit) continue;
    const kg = convertUnit(v.value, v.unit, 'kg', ctx.units);
    if (kg.ok && kg.value > 0) {
      return { kg: kg.value, evidence: { reference: referenceOf(observation), display: 'Body weight', value: kg.value, unit: 'kg', date: formatDate(date), recorded: v.recorded } };
    }
  }
  return undefined;
}

type Check = { outcome: 'pass' | 'fail' | 'unknown'; note?: string; extraEvidence?: Evidence };

/** Two records at most this far apart still form one course (a renewal picked up the next day). */
const RENEWAL_GAP_DAYS = 2;

/** Two medication records in the order of their references ("MedicationStatement/a" before ".../b"). */
function byReference(a: Match, b: Match): number {
  const x = referenceOf(a.record);
  const y = referenceOf(b.record);
  return x < y ? -1 : x > y ? 1 : 0;
}

/**
 * When the current course of this ingredient at this dose began: the record's own start, moved back over
 * earlier given records of the same ingredient and the same daily dose that end where the next begins or
 * overlap it (renewals). A link whose dose cannot be read on one side makes the result `uncertain`: the
 * course may have been stable, the record cannot show it. A different dose ends the course (a dose change).
 */
function courseStart(ctx: EvalContext, m: Match, all: readonly Match[]): { start: Date | undefined; uncertain?: string; renewals: number } {
  let start = m.exposure.start;
  if (!start) return { start, renewals: 0 };
  const doseOf = (x: Match): number | undefined => {
    const d = dailyDoseMg(x.record, x.entry, ctx.record.medications, ctx.units);
    return d.ok ? d.mgPerDay : undefined;
  };
  const dose = doseOf(m);
  let uncertain: string | undefined;
  let renewals = 0;
  const earlier = all
    .filter((x) => x !== m && x.ingredient === m.ingredient && x.exposure.certainty === 'given' && !x.local && x.exposure.start && x.exposure.end)
    // Latest start first; records of one start in reference order, so the record a note names does not depend
    // on the order the EHR sent them in (test/clinical/meds-exposure.test.ts).
    .sort((a, b) => b.exposure.start!.getTime() - a.exposure.start!.getTime() || byReference(a, b));
  for (let changed = true; changed; ) {
    changed = false;
    for (const x of earlier) {
      if (x.exposure.start! >= start || daysBetween(x.exposure.end!, start) > RENEWAL_GAP_DAYS) continue;
      const d = doseOf(x);
      if (d !== undefined && dose !== undefined && Math.abs(d - dose) > 1e-6) continue;
      if (d === undefined || dose === undefined) uncertain ??= `the dose of ${referenceOf(d === undefined ? x.record : m.record)} is not recorded, so a stable dose cannot be confirmed`;
      start = x.exposure.start!;
      renewals++;
      changed = true;
    }
  }
  return { start, uncertain, renewals };
}

/** Whether one medication record satisfies the rule's timing and dose constraints. */
function checkMatch(leaf: MedicationLeaf, ctx: EvalContext, m: Match, all: readonly Match[], weight: ReturnType<typeof latestWeightKg>): Check {
  const spec = leaf.spec;
  const { exposure } = m;
  if (m.local) return { outcome: 'fail', note: `${m.local}: not systemic therapy` };
  if (spec.currentOnly && !exposure.current) return { outcome: 'fail', note: 'not current' };
  if (spec.window) {
    const from = windowStart(ctx, spec.window);
    // Issue #18: an entry date bounds the course (it ended by then), it never places it in the window.
    if (!exposure.end && exposure.endBy && exposure.endBy < from) return { outcome: 'fail', note: `no longer taken when asserted ${formatDate(exposure.endBy)}, before the ${describeDuration(spec.window)} window` };
    if (!exposure.end) return { outcome: 'unknown', note: 'no dates recorded' };
    if (exposure.end < from) return { outcome: 'fail', note: `last taken before the ${describeDuration(spec.window)} window` };
    if (exposure.endEarliest && exposure.endEarliest < from) return { outcome: 'unknown', note: `last taken in a month or year that straddles the ${describeDuration(spec.window)} window` };
  }
  let uncertainCourse: string | undefined;
  if (spec.startedAtLeast) {
    const course = courseStart(ctx, m, all);
    if (!course.start) return { outcome: 'unknown', note: 'start date not recorded' };
    const renewed = course.renewals > 0 ? ` (${course.renewals + 1} records of the same dose read as one course)` : '';
    if (course.start > windowStart(ctx, spec.startedAtLeast)) {
      return { outcome: 'fail', note: `current course started ${formatDate(course.start)}, less than ${describeDuration(spec.startedAtLeast)} ago${renewed}` };
    }
    // A start recorded as a month or a year, whose last day is less than the span ago: it may be either.
    if (course.renewals === 0 && exposure.startLatest && exposure.startLatest > windowStart(ctx, spec.startedAtLeast)) {
      return { outcome: 'unknown', note: `start recorded only to the month or year: it may be less than ${describeDuration(spec.startedAtLeast)} ago` };
    }
    if (course.uncertain) uncertainCourse = `course from ${formatDate(course.start)}, but ${course.uncertain}`;
    else if (renewed) uncertainCourse = undefined;
    if (!course.uncertain && renewed) return finish(m, all, spec, { outcome: 'pass', note: `course started ${formatDate(course.start)}${renewed}` });
  }
  if (uncertainCourse) return { outcome: 'unknown', note: uncertainCourse };
  if (spec.minCourse) {
    if (!exposure.start || !exposure.end) return { outcome: 'unknown', note: 'course dates not recorded' };
    const days = daysBetween(exposure.start, exposure.end);
    const needed = daysBetween(windowStart(ctx, spec.minCourse), ctx.now);
    if (days < needed) return { outcome: 'fail', note: `course of ${Math.round(days)} days, under ${describeDuration(spec.minCourse)}` };
    // The shortest course its month- or year-only dates allow (issue #18).
    const shortest = daysBetween(exposure.startLatest ?? exposure.start, exposure.endEarliest ?? exposure.end);
    if (shortest < needed) return { outcome: 'unknown', note: `course dated only to the month or year: it may be under ${describeDuration(spec.minCourse)}` };
  }
  if (spec.minPrednisoneMgPerKgPerDay !== undefined) {
    const factor = leaf.valueSet ? steroidFactor(leaf.valueSet, m) : undefined;
    if (factor === undefined) return { outcome: 'unknown', note: 'no prednisone equivalence for this drug' };
    const dose = dailyDoseMg(m.record, m.entry, ctx.record.medications, ctx.units);
    if (!dose.ok) return { outcome: 'unknown', note: dose.reason };
    if (!weight) return { outcome: 'unknown', note: 'no body weight in the last 6 months' };
    const perKg = (dose.mgPerDay * factor) / weight.kg;
    const note = `${dose.how} = ${toHundredths(dose.mgPerDay * factor)} mg/day prednisone equivalent, ${toHundredths(perKg)} mg/kg/day at ${toHundredths(weight.kg)} kg`;
    return finish(m, all, spec, { outcome: perKg >= spec.minPrednisoneMgPerKgPerDay ? 'pass' : 'fail', note, extraEvidence: weight.evidence });
  }
  return finish(m, all, spec, { outcome: 'pass' });
}

/**
 * How an order counts (clinical safety rule 3: an order that may not have been given moves the answer
 * toward unknown, never toward an exclusion being met on its own). A record that is only `ordered` (see
 * Exposure) and would pass the part leaves it `unknown`, shown with the order's date:
 * - "in the last N" and "currently receiving" parts, exclusions and inclusions alike: unknown. An exclusion
 *   is then never met by an order alone (it goes to the study team with the order shown); an inclusion is
 *   never met by it either, and never not-met because of it.
 * - A part with no time limit (a treatment history: "treated with corticosteroids", a dose course) counts
 *   the order when the record also shows the same ingredient given (an administration, dispense or
 *   statement): the drug was taken, and the order supplies what the other record lacks (dose, dates).
 */
function finish(m: Match, all: readonly Match[], spec: { window?: string; currentOnly: boolean; startedAtLeast?: string }, check: Check): Check {
  if (check.outcome !== 'pass' || m.exposure.certainty === 'given') return check;
  const timeLimited = spec.window !== undefined || spec.currentOnly || spec.startedAtLeast !== undefined;
  const given = all.find((x) => x !== m && x.ingredient === m.ingredient && x.exposure.certainty === 'given' && !x.local);
  if (!timeLimited && given) {
    return { ...check, note: [check.note, `counted with ${referenceOf(given.record)}, which shows it given`].filter(Boolean).join('; ') };
  }
  return { ...check, outcome: 'unknown', note: [check.note, 'an order alone does not show the drug was given'].filter(Boolean).join('; ') };
}


/** Whether the record holds any medication data at all (any of the four types, whatever its drug). */
function hasMedicationData(ctx: EvalContext): boolean {
  return MEDICATION_TYPES.some((t) => (ctx.record.counts[t] ?? 0) > 0);
}

/**
 * Medication records that name no drug (issue #18 item 2: no code in a system the lists use, no text, and a
 * medicationReference that neither resolves nor carries a display): the patient was given or ordered
 * something the service cannot name. Kept only where they could still count for this part (not ruled out by
 * its window or by "current"), and only for a part whose "not met" would hide a trial.
 */
function unnamedAgents(ctx: EvalContext, leaf: MedicationLeaf): MedicationRecord[] {
  if (!leaf.absenceExcludes) return [];
  const from = leaf.spec.window ? windowStart(ctx, leaf.spec.window) : undefined;
  return (unplacedItems(ctx, MEDICATION_TYPES) as MedicationRecord[]).filter((r) => {
    if (isIgnoredMedication(r) || !passesFilters(leaf, r)) return false;
    const exposure = exposureIn(ctx, r);
    if (leaf.spec.currentOnly && !exposure.current) return false;
    return !(from && exposure.end && exposure.end < from);
  });
}

function unnamedEvidence(ctx: EvalContext, r: MedicationRecord): Evidence {
  const exposure = exposureIn(ctx, r);
  const ref = r.medicationReference?.reference;
  return {
    reference: referenceOf(r),
    display: 'a medication the EHR did not name',
    value: `${KIND_WORDS[r.resourceType]} ${r.status}`,
    date: formatDate(exposure.start),
    note: typeof ref === 'string' ? `medicationReference ${ref.slice(0, 200)} is not in the record and carries no display` : 'no code, text or display',
  };
}

/**
 * Medications are decided from the record: a matching record given (statement, administration, dispense)
 * that meets the timing, route and dose constraints is presence; orders alone leave it unknown (finish).
 * Absence is read as "not taken" only when the record holds medication data of some kind: a record with
 * none at all (issue #10 item 11: the EHR may simply not send medications) leaves every medication part
 * unknown, "no medication history in the record" - for a treatment-history inclusion (never not-met on an
 * absent history) and for a "no X in the last N" exclusion alike (never a guess either way).
 */
export function evaluateMedication(leaf: MedicationLeaf, ctx: EvalContext): PartResult {
  const vs = leaf.valueSet;
  const matches = matchMedications(ctx, leaf, vs);
  const weight = leaf.spec.minPrednisoneMgPerKgPerDay !== undefined ? latestWeightKg(ctx) : undefined;
  const pass: Evidence[] = [];
  const unsure: Evidence[] = [];
  const failed: Evidence[] = [];
  const unsureNotes: string[] = [];
  const passing: Match[] = [];
  const unsureMatches: Match[] = [];
  for (const m of matches) {
    const check = checkMatch(leaf, ctx, m, matches, weight);
    const ev = evidenceOf(ctx, vs, m, check.note);
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
  const title = vs.title;
  const nameOf = (k: string): string => vs.ingredientNames.get(k) ?? k;
  const noHistory = !hasMedicationData(ctx);
  const unavailable = unavailableReason(ctx, MEDICATION_TYPES);
  const minIngredients = leaf.spec.minIngredients;
  if (minIngredients !== undefined) {
    // Count different ingredients, not records: two prescriptions of methotrexate, or CellCept and
    // "mycophenolate mofetil", are one agent.
    const agents = new Set(passing.map((m) => m.ingredient));
    const possible = new Set([...passing, ...unsureMatches].map((m) => m.ingredient));
    const list = [...agents].map(nameOf).join(', ') || 'none';
    if (agents.size >= minIngredients) return part(leaf, foundOutcome(leaf), `${agents.size} different agents: ${list}`, pass);
    if (possible.size >= minIngredients) {
      return part(leaf, 'unknown', `${agents.size} of ${minIngredients} agents confirmed (${list}); others incomplete`, [...pass, ...unsure], [`${title}: ${unsureNotes[0] ?? 'dates'}`]);
    }
    if (unavailable) return part(leaf, 'unknown', unavailable, pass, [`medications (${title})`]);
    if (noHistory) return part(leaf, noHistoryOutcome(leaf), 'no medication history in the record', [], [`medication history (${title})`]);
    const unnamed = unnamedAgents(ctx, leaf);
    if (unnamed.length > 0 && possible.size + unnamed.length >= minIngredients) {
      const reason = `${agents.size} of ${minIngredients} agents confirmed (${list}); ${unnamed.length} medication${unnamed.length === 1 ? '' : 's'} the EHR did not name`;
      return part(leaf, 'unknown', reason, [...pass, ...unsure, ...unnamed.map((r) => unnamedEvidence(ctx, r))], [`${title}: the name of each medication the EHR did not name`]);
    }
    return part(leaf, noDataOutcome(leaf, 'not-met'), `${agents.size} of ${minIngredients} different agents recorded (${list})`, [...pass, ...failed]);
  }
  if (pass.length > 0) {
    const result = part(leaf, foundOutcome(leaf), `${title}: found`, pass);
    const clears = result.outcome === 'met' ? windowClears(ctx, leaf, passing) : undefined;
    if (clears) result.clears = clears;
    return result;
  }
  if (unsure.length > 0) {
    return part(leaf, 'unknown', `${title} recorded, but ${unsureNotes[0] ?? 'its details are incomplete'}`, unsure, [`${title}: ${unsureNotes[0] ?? 'dates and dose'}`]);
  }
  if (unavailable) return part(leaf, 'unknown', unavailable, failed, [`medications (${title})`]);
  if (noHistory) return part(leaf, noHistoryOutcome(leaf), 'no medication history in the record', [], [`medication history (${title})`]);
  const outcome = noDataOutcome(leaf, 'not-met');
  const unnamed = outcome === 'not-met' ? unnamedAgents(ctx, leaf) : [];
  if (unnamed.length > 0) {
    return part(leaf, 'unknown', `${title} not found, but the record holds a medication the EHR did not name`, [...unnamed.map((r) => unnamedEvidence(ctx, r)), ...failed], [
      `${title}: the name of each medication the EHR did not name`,
    ]);
  }
  const reason = failed.length > 0 ? `${title} recorded, but not as the criterion requires` : `no ${title} recorded`;
  return part(leaf, outcome, reason, failed, outcome === 'not-met' ? undefined : [title]);
}

/**
 * When a part met only by "X in the last N" stops being met: N after the latest end among the passing
 * records (checkMatch fails a record once its end falls before the window's start). Only for a plain
 * window: a current drug, a course length, a dose or a count of agents may change in other ways.
 */
function windowClears(ctx: EvalContext, leaf: MedicationLeaf, passing: readonly Match[]): WindowClears | undefined {
  const spec = leaf.spec;
  if (!spec.window || spec.currentOnly || spec.startedAtLeast || spec.minCourse || spec.minPrednisoneMgPerKgPerDay !== undefined) return undefined;
  let latest: Match | undefined;
  for (const m of passing) {
    if (m.exposure.current || !m.exposure.end) return undefined;
    if (!latest || m.exposure.end > latest.exposure.end!) latest = m;
  }
  if (!latest) return undefined;
  const end = latest.exposure.end!;
  return { on: formatDate(firstDayOutsideWindow(end, spec.window))!, after: `${describeDuration(spec.window)} after the last ${medicationDisplay(ctx, latest.record)} (${formatDate(end)})` };
}

/** With no medication data at all: unknown, or the mapping's `review` when it asks for one. */
function noHistoryOutcome(leaf: MedicationLeaf): 'unknown' | 'review' {
  return noDataOutcome(leaf, 'unknown') === 'review' ? 'review' : 'unknown';
}
