import type { Immunization, Procedure } from '@medplum/fhirtypes';
import type { CompiledLeaf } from '../../mappings/compiled.js';
import { referenceOf } from '../../patient/patient-record.js';
import { candidatesFor, unavailableReason, type EvalContext } from '../context.js';
import { describeDuration, formatDate, parseFhirDate, subtractDuration } from '../dates.js';
import { foundOutcome, noDataOutcome, part } from '../part.js';
import type { Evidence, PartResult } from '../types.js';

const NOT_DONE = new Set(['entered-in-error', 'not-done']);

function eventDate(r: Procedure | Immunization): string | undefined {
  if (r.resourceType === 'Procedure') return r.performedDateTime ?? r.performedPeriod?.end ?? r.performedPeriod?.start;
  return r.occurrenceDateTime ?? r.recorded;
}

/**
 * Procedures and immunizations are decided from the record: one in the list, done, and inside the window
 * is presence; none is absence. Ongoing procedures (status in-progress) count as current.
 */
export function evaluateEvent(leaf: CompiledLeaf, ctx: EvalContext): PartResult {
  if ((leaf.spec.kind !== 'procedure' && leaf.spec.kind !== 'immunization') || !leaf.valueSet) throw new Error('not an event rule');
  const type = leaf.spec.kind === 'procedure' ? 'Procedure' : 'Immunization';
  const from = leaf.spec.window ? subtractDuration(ctx.now, leaf.spec.window) : undefined;
  const found: Evidence[] = [];
  const undated: Evidence[] = [];
  for (const r of candidatesFor(ctx, leaf, [type]) as (Procedure | Immunization)[]) {
    if (NOT_DONE.has(r.status)) continue;
    const raw = eventDate(r);
    const date = parseFhirDate(raw);
    const ongoing = r.resourceType === 'Procedure' && r.status === 'in-progress';
    const code = r.resourceType === 'Procedure' ? r.code : r.vaccineCode;
    const ev: Evidence = {
      reference: referenceOf(r),
      display: code?.text ?? code?.coding?.find((c) => c.display)?.display ?? type,
      value: ongoing ? 'ongoing' : r.status,
      date: formatDate(raw),
    };
    if (from && !ongoing) {
      if (!date) {
        undated.push(ev);
        continue;
      }
      if (date < from) continue;
    }
    found.push(ev);
  }
  const windowText = leaf.spec.window ? ` within ${describeDuration(leaf.spec.window)}` : '';
  const title = leaf.valueSet.title;
  if (found.length > 0) return part(leaf, foundOutcome(leaf), `${title} recorded${windowText}`, found);
  if (undated.length > 0) return part(leaf, 'unknown', `${title} recorded without a date`, undated, [`date of ${title}`]);
  const unavailable = unavailableReason(ctx, [type]);
  if (unavailable) return part(leaf, 'unknown', unavailable, [], [`${type} records (${title})`]);
  const outcome = noDataOutcome(leaf, 'not-met');
  return part(leaf, outcome, `no ${title} recorded${windowText}`, [], outcome === 'not-met' ? undefined : [title]);
}
