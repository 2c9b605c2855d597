import type { Immunization, Procedure } from '@medplum/fhirtypes';
import { z } from 'zod';
import type { CodedLeaf } from '../compiled.js';
import { conceptText } from '../../fhir/concept-text.js';
import { codedFields, defineKind, memoKey, type CompileScope } from '../rule-kind.js';
import { resourceRule } from './fields.js';
import { referenceOf } from '../../patient/patient-record.js';
import { candidatesFor, dateRangeIn, unavailableReason, windowStart, type EvalContext } from '../context.js';
import { describeDateRange, describeDuration, firstDayOutsideWindow, formatDate, isPartialDate, latestEventTime, placeDateRange } from '../dates.js';
import { foundOutcome, noDataOutcome, part } from '../part.js';
import type { Evidence, PartResult } from '../types.js';

const procedureRuleSchema = z.strictObject({ ...resourceRule, kind: z.literal('procedure') });
const immunizationRuleSchema = z.strictObject({ ...resourceRule, kind: z.literal('immunization') });

type EventSpec = z.infer<typeof procedureRuleSchema> | z.infer<typeof immunizationRuleSchema>;
export type EventLeaf = CodedLeaf<EventSpec['kind'], EventSpec>;

const EVENT_TYPES = { procedure: 'Procedure', immunization: 'Immunization' } as const;

/** The two event kinds differ only in the resource type they read. */
function compileEvent(spec: EventSpec, scope: CompileScope): EventLeaf {
  const { id: _id, label: _label, note: _note, kind, valueSet, exceptValueSet, window, where, ifNoData, onMatch, ...rest } = spec;
  const _unkeyed: Record<string, never> = rest;
  const coded = codedFields(spec, scope);
  const leaf: EventLeaf = {
    kind,
    ...coded,
    spec,
    memoKey: memoKey(kind, [valueSet, exceptValueSet, window, where, ifNoData, onMatch]),
    reads: [{ resourceType: EVENT_TYPES[kind], valueSet: coded.valueSet }],
    evaluate: (ctx) => evaluateEvent(leaf, ctx),
  };
  return leaf;
}

/** A procedure in the record (the `procedure` kind). */
export const procedureKind = defineKind({ kind: 'procedure', schema: procedureRuleSchema, compile: compileEvent });
/** An immunization in the record (the `immunization` kind). */
export const immunizationKind = defineKind({ kind: 'immunization', schema: immunizationRuleSchema, compile: compileEvent });

const NOT_DONE = new Set(['entered-in-error', 'not-done']);

/**
 * When it was done: Procedure.performed[x] (a period's end), Immunization.occurrence[x]. An event date,
 * unlike the entry dates of entryDate.
 */
function eventDate(r: Procedure | Immunization): string | undefined {
  if (r.resourceType === 'Procedure') return r.performedDateTime ?? r.performedPeriod?.end ?? r.performedPeriod?.start;
  return r.occurrenceDateTime;
}

/**
 * When it was entered: Immunization.recorded ("the date the occurrence of the immunization was first
 * captured in the record", FHIR R4), else meta.lastUpdated. It was done no later than that (issue #18), so
 * such a date places it before a window, never inside one.
 */
function entryDate(r: Procedure | Immunization): string | undefined {
  return (r.resourceType === 'Immunization' ? r.recorded : undefined) ?? r.meta?.lastUpdated;
}

/**
 * Procedures and immunizations are decided from the record: one in the list, done, and inside the window
 * is presence; none is absence. Ongoing procedures (status in-progress) count as current. One the record
 * cannot place in the window (no date, only an entry date inside it, a month or year straddling its start)
 * leaves the part unknown with what it shows.
 */
export function evaluateEvent(leaf: EventLeaf, ctx: EvalContext): PartResult {
  const type = EVENT_TYPES[leaf.kind];
  const from = leaf.spec.window ? windowStart(ctx, leaf.spec.window) : undefined;
  const limit = latestEventTime(ctx.now);
  const found: Evidence[] = [];
  // The latest dated event found in the window, unless one is ongoing: when the part stops being met.
  let latest: { date: Date; display: string } | undefined;
  let ongoingFound = false;
  const undated: Evidence[] = [];
  for (const r of candidatesFor(ctx, leaf, [type]) as (Procedure | Immunization)[]) {
    if (NOT_DONE.has(r.status)) continue;
    const raw = eventDate(r);
    const date = dateRangeIn(ctx, raw);
    const ongoing = r.resourceType === 'Procedure' && r.status === 'in-progress';
    const code = r.resourceType === 'Procedure' ? r.code : r.vaccineCode;
    const ev: Evidence = {
      reference: referenceOf(r),
      display: conceptText(code) ?? type,
      value: ongoing ? 'ongoing' : r.status,
      date: formatDate(raw),
    };
    if (date && isPartialDate(date)) ev.note = `done ${describeDateRange(date)}`;
    if (from && !ongoing) {
      if (!date) {
        const entry = dateRangeIn(ctx, entryDate(r));
        if (entry && placeDateRange(entry, from, limit) === 'before') continue;
        if (entry) ev.note = `recorded ${formatDate(entry.text)}; when it was done is not in the record`;
        undated.push(ev);
        continue;
      }
      const place = placeDateRange(date, from, limit);
      if (place === 'before') continue;
      if (place === 'straddles') {
        ev.note = `done ${describeDateRange(date)}: may be before the window`;
        undated.push(ev);
        continue;
      }
    }
    if (ongoing) ongoingFound = true;
    // The window clears after the latest day it may have been done.
    else if (date && (!latest || date.end > latest.date)) latest = { date: date.end, display: ev.display };
    found.push(ev);
  }
  const windowText = leaf.spec.window ? ` within ${describeDuration(leaf.spec.window)}` : '';
  const title = leaf.valueSet.title;
  if (found.length > 0) {
    const result = part(leaf, foundOutcome(leaf), `${title} recorded${windowText}`, found);
    if (result.outcome === 'met' && leaf.spec.window && latest && !ongoingFound) {
      result.clears = { on: formatDate(firstDayOutsideWindow(latest.date, leaf.spec.window))!, after: `${describeDuration(leaf.spec.window)} after the last ${latest.display} (${formatDate(latest.date)})` };
    }
    return result;
  }
  if (undated.length > 0) return part(leaf, 'unknown', `${title} recorded without a date that places it${windowText}`, undated, [`date of ${title}`]);
  const unavailable = unavailableReason(ctx, [type]);
  if (unavailable) return part(leaf, 'unknown', unavailable, [], [`${type} records (${title})`]);
  const outcome = noDataOutcome(leaf, 'not-met');
  return part(leaf, outcome, `no ${title} recorded${windowText}`, [], outcome === 'not-met' ? undefined : [title]);
}
