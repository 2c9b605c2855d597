import type { Condition } from '@medplum/fhirtypes';
import { z } from 'zod';
import type { CodedLeaf } from '../compiled.js';
import { conceptText, conceptWords } from '../../fhir/concept-text.js';
import { unplacedItems, whyUnplaced } from '../unplaced-items.js';
import { referenceOf } from '../../patient/patient-record.js';
import type { CompiledValueSet } from '../../terminology/value-set.js';
import { codedFields, defineKind, memoKey } from '../rule-kind.js';
import { resourceRule } from './fields.js';
import { describeDateRange, describeDuration, formatDate, isPartialDate, latestEventTime, placeDateRange, type FhirDateRange } from '../dates.js';
import { candidatesFor, dateIn, dateRangeIn, findByValueSet, nameIn, passesFilters, unavailableReason, windowStart, type EvalContext } from '../context.js';
import { foundOutcome, noDataOutcome, part } from '../part.js';
import type { Evidence, PartResult } from '../types.js';

const conditionRuleSchema = z.strictObject({
  ...resourceRule,
  kind: z.literal('condition'),
  /** Only conditions that are active now (clinicalStatus active/recurrence/relapse, not abated). */
  activeOnly: z.boolean().default(false),
  /** Codes broader than the value set (e.g. "lupus erythematosus" for SLE): found alone, the part is unknown. */
  broaderValueSet: z.string().optional(),
});

type ConditionSpec = z.infer<typeof conditionRuleSchema>;

export interface ConditionLeaf extends CodedLeaf<'condition', ConditionSpec> {
  broaderValueSet?: CompiledValueSet;
  /** CompileScope.absenceExcludes: an uncoded Condition leaves this part unknown rather than not met. */
  absenceExcludes: boolean;
}

/** A diagnosis in the patient's Conditions (the `condition` kind). */
export const conditionKind = defineKind({
  kind: 'condition',
  schema: conditionRuleSchema,
  compile(spec, scope): ConditionLeaf {
    // Every parsed field is named here, so a new field fails the type check until the key takes it.
    const { id: _id, label: _label, note: _note, kind, valueSet, exceptValueSet, window, where, ifNoData, onMatch, activeOnly, broaderValueSet, ...rest } = spec;
    const _unkeyed: Record<string, never> = rest;
    const coded = codedFields(spec, scope);
    const leaf: ConditionLeaf = {
      kind,
      ...coded,
      spec,
      memoKey: memoKey(kind, [valueSet, exceptValueSet, window, where, ifNoData, onMatch, activeOnly, broaderValueSet, scope.absenceExcludes]),
      reads: [{ resourceType: 'Condition', valueSet: coded.valueSet }],
      evaluate: (ctx) => evaluateCondition(leaf, ctx),
      absenceExcludes: scope.absenceExcludes,
    };
    if (broaderValueSet) leaf.broaderValueSet = scope.valueSet(broaderValueSet);
    return leaf;
  },
});

const IGNORED_VERIFICATION = new Set(['refuted', 'entered-in-error']);
const TENTATIVE_VERIFICATION = new Set(['unconfirmed', 'provisional', 'differential']);
const ACTIVE_CLINICAL = new Set(['active', 'recurrence', 'relapse']);

function code(c: Condition, system?: string): string | undefined {
  return c.clinicalStatus?.coding?.find((x) => !system || x.system === system)?.code;
}

/** Active now: an active clinical status, or no status and no abatement (FHIR R4 con-3 reading). */
export function isActiveCondition(c: Condition, ctx: EvalContext): boolean {
  const status = code(c);
  if (status) return ACTIVE_CLINICAL.has(status);
  const abated = dateIn(ctx, c.abatementDateTime ?? c.abatementPeriod?.end ?? c.abatementPeriod?.start);
  return !abated || abated > ctx.now;
}

/**
 * Every event date the entry gives: when the condition began or ended (onset[x], abatement[x]). Not
 * `recordedDate`, "date record was first recorded" (FHIR R4 Condition): an entry date says the condition
 * existed by then, not when it happened (issue #18: an encephalitis resolved years ago, transcribed last
 * week, is not a recent one).
 */
function conditionDates(c: Condition, ctx: EvalContext): FhirDateRange[] {
  const raw = [c.onsetDateTime, c.onsetPeriod?.start, c.onsetPeriod?.end, c.abatementDateTime, c.abatementPeriod?.start, c.abatementPeriod?.end];
  const out: FhirDateRange[] = [];
  for (const r of raw) {
    const d = dateRangeIn(ctx, r);
    if (d) out.push(d);
  }
  return out;
}

/**
 * Where a Condition stands against a look-back window (issue #10 item 4, issue #18). It is `in` the window
 * only when an event date (onset, abatement) falls in it: an old problem-list entry still marked active is
 * not a recent event; such an entry is `stale`, shown to the study team with its dates, never deciding
 * alone. `unplaced`: the record cannot say whether it is in the window: an event date given as a month or
 * a year that straddles the window's start, or no event date at all and a recorded date inside the window
 * (it began no later than that, perhaps long before). A recorded date before the window does place it
 * before. `out`: every date is before the window and it is not active.
 */
function placeInWindow(c: Condition, from: Date, ctx: EvalContext): { place: 'in' | 'stale' | 'out' | 'unplaced'; note?: string } {
  const limit = latestEventTime(ctx.now);
  const dates = conditionDates(c, ctx);
  let straddling: FhirDateRange | undefined;
  for (const d of dates) {
    const place = placeDateRange(d, from, limit);
    if (place === 'in') return { place: 'in' };
    if (place === 'straddles') straddling ??= d;
  }
  if (straddling) return { place: 'unplaced', note: `dated ${describeDateRange(straddling)}: may be before the window` };
  if (dates.length === 0) {
    const recorded = dateRangeIn(ctx, c.recordedDate);
    if (recorded && placeDateRange(recorded, from, limit) !== 'before') {
      return { place: 'unplaced', note: `recorded ${formatDate(recorded.text)}; when it began is not in the record` };
    }
  }
  return { place: isActiveCondition(c, ctx) ? 'stale' : 'out' };
}

function evidenceOf(c: Condition, ctx: EvalContext, note?: string): Evidence {
  const display = conceptText(c.code) ?? 'Condition';
  const active = isActiveCondition(c, ctx);
  const ev: Evidence = {
    reference: referenceOf(c),
    display,
    value: active ? 'active' : (code(c) ?? 'resolved'),
    date: formatDate(c.onsetDateTime ?? c.onsetPeriod?.start ?? c.recordedDate),
  };
  const onset = dateRangeIn(ctx, c.onsetDateTime ?? c.onsetPeriod?.start);
  const notes = [
    onset && isPartialDate(onset) ? `onset ${describeDateRange(onset)}` : undefined,
    c.abatementDateTime ? `abated ${formatDate(c.abatementDateTime)}` : undefined,
    c.recordedDate && (c.onsetDateTime ?? c.onsetPeriod?.start) ? `recorded ${formatDate(c.recordedDate)}` : undefined,
    note,
  ].filter(Boolean);
  if (notes.length > 0) ev.note = notes.join('; ');
  return ev;
}

/**
 * Diagnoses are decided from the record: a matching Condition is presence, none is absence (unless the
 * Conditions could not be read). Refuted and entered-in-error Conditions are ignored; tentative ones and
 * codes broader than the list (e.g. "lupus erythematosus" for SLE) leave the part unknown.
 */
export function evaluateCondition(leaf: ConditionLeaf, ctx: EvalContext): PartResult {
  const spec = leaf.spec;
  const from = spec.window ? windowStart(ctx, spec.window) : undefined;
  const stale: Condition[] = [];
  const unplaced: Evidence[] = [];
  const inScope = (c: Condition, keepStale = false): boolean => {
    if (IGNORED_VERIFICATION.has(c.verificationStatus?.coding?.[0]?.code ?? '')) return false;
    if (spec.activeOnly && !isActiveCondition(c, ctx)) return false;
    if (from) {
      const { place, note } = placeInWindow(c, from, ctx);
      if (place === 'stale' && keepStale) stale.push(c);
      if (place === 'unplaced' && keepStale) unplaced.push(evidenceOf(c, ctx, note));
      if (place !== 'in') return false;
    }
    return true;
  };
  const found = (candidatesFor(ctx, leaf, ['Condition']) as Condition[]).filter((c) => inScope(c, true));
  const confirmed = found.filter((c) => !TENTATIVE_VERIFICATION.has(c.verificationStatus?.coding?.[0]?.code ?? ''));
  const windowText = spec.window ? ` within ${describeDuration(spec.window)}` : '';
  if (confirmed.length > 0) {
    return part(leaf, foundOutcome(leaf), `recorded${windowText}`, confirmed.map((c) => evidenceOf(c, ctx)));
  }
  if (found.length > 0) {
    return part(leaf, 'unknown', 'recorded, but not confirmed', found.map((c) => evidenceOf(c, ctx, 'verification status: not confirmed')), [
      `a confirmed ${leaf.valueSet.title} diagnosis`,
    ]);
  }
  if (unplaced.length > 0 && spec.window) {
    // Issue #18: a date that cannot place the entry in the window is neither presence nor absence.
    return part(leaf, 'unknown', `recorded, but its dates cannot place it in the last ${describeDuration(spec.window)}`, unplaced, [
      `when the ${leaf.valueSet.title} began or ended (${describeDuration(spec.window)} window)`,
    ]);
  }
  if (stale.length > 0 && spec.window) {
    const note = `still marked active, but its dates are older than ${describeDuration(spec.window)}`;
    return part(leaf, 'review', `recorded as active, dated before the last ${describeDuration(spec.window)}: is it current?`, stale.map((c) => evidenceOf(c, ctx, note)), [
      `whether the ${leaf.valueSet.title} entry is current (${describeDuration(spec.window)} window)`,
    ]);
  }
  const unavailable = unavailableReason(ctx, ['Condition']);
  if (unavailable) return part(leaf, 'unknown', unavailable, [], [`Conditions (${leaf.valueSet.title})`]);
  if (leaf.broaderValueSet) {
    const broader = (findByValueSet(ctx, leaf.broaderValueSet, ['Condition']) as Condition[]).filter(
      (c) => passesFilters(leaf, c, ctx.record.placements) && inScope(c),
    );
    if (broader.length > 0) {
      return part(
        leaf,
        'unknown',
        `only a broader diagnosis is recorded (${leaf.broaderValueSet.title})`,
        broader.map((c) => evidenceOf(c, ctx, 'code is broader than the criterion')),
        [`a specific ${leaf.valueSet.title} diagnosis`],
      );
    }
  }
  const outcome = noDataOutcome(leaf, 'not-met');
  if (outcome === 'not-met') {
    const uncoded = uncodedOutcome(leaf, ctx, (c) => passesFilters(leaf, c) && inScope(c));
    if (uncoded) return uncoded;
  }
  return part(leaf, outcome, `no ${leaf.valueSet.title} recorded${windowText}`, [], outcome === 'not-met' ? undefined : [`${leaf.valueSet.title}`]);
}

/** How the record names the entry, for the evidence: "a problem-list entry", "an encounter diagnosis". */
function entryKind(c: Condition): string {
  const categories = (Array.isArray(c.category) ? c.category : []).flatMap((cat) => (Array.isArray(cat.coding) ? cat.coding : [])).map((x) => x.code);
  if (categories.includes('problem-list-item')) return 'a problem-list entry';
  if (categories.includes('encounter-diagnosis')) return 'an encounter diagnosis';
  return 'a Condition';
}

/**
 * Conditions the service could not code (issue #17 item 4; Cerner sends many problems with `code.text`
 * only) are not evidence that the diagnosis is absent. One whose words name the list (its `names`:
 * "systemic lupus erythematosus", "SLE", 系统性红斑狼疮) is shown, whichever way the part counts: for review
 * where the part must be found, unknown where finding it excludes. Any other leaves a part whose "not met"
 * would hide a trial unknown, with the entries shown.
 * Tentative, refuted and out-of-window entries are left out as for coded ones.
 */
function uncodedOutcome(leaf: ConditionLeaf, ctx: EvalContext, keep: (c: Condition) => boolean): PartResult | undefined {
  const items = (unplacedItems(ctx, ['Condition']) as Condition[]).filter(keep);
  if (items.length === 0) return undefined;
  const title = leaf.valueSet.title;
  const describe = (c: Condition): string => `${entryKind(c)} the service could not code (${whyUnplaced(c.code)})`;
  const named = items.filter((c) => nameIn(ctx, leaf.valueSet, conceptWords(c.code)) !== undefined);
  if (named.length > 0) {
    // Review for a part that must be found (the study team confirms the diagnosis the words name); unknown for
    // one whose finding excludes, since a review item alone leaves a trial "likely" while the record names the
    // excluding condition (issue #18 item 5: "likely" only with no positive anywhere in the record).
    const outcome = leaf.absenceExcludes ? 'review' : 'unknown';
    return part(leaf, outcome, `${describe(named[0]!)} names ${title}: is it the diagnosis?`, named.map((c) => evidenceOf(c, ctx, describe(c))), [
      UNCODED_NEED,
    ]);
  }
  if (!leaf.absenceExcludes) return undefined;
  const shown = items.slice(0, MAX_UNCODED_SHOWN);
  const what = items.length === 1 ? describe(items[0]!) : `${items.length} Conditions the service could not code${items.length > shown.length ? ` (${shown.length} shown)` : ''}`;
  return part(leaf, 'unknown', `the record holds ${what}: it may be ${title}`, shown.map((c) => evidenceOf(c, ctx, describe(c))), [
    UNCODED_NEED,
  ]);
}

/**
 * What settles every such part, one phrase for all lists so the card ranks it once ("Would settle it: codes
 * for the uncoded diagnoses in the record (5 criteria, 3 trials)"); the entries themselves are the evidence.
 */
const UNCODED_NEED = 'codes for the uncoded diagnoses in the record';

/** The uncoded entries shown as evidence of an unknown part: enough to act on, not the whole problem list. */
const MAX_UNCODED_SHOWN = 5;
