import type { Observation } from '@medplum/fhirtypes';
import type { CompiledLeaf } from '../../mappings/compiled.js';
import { referenceOf } from '../../patient/patient-record.js';
import { candidatesFor, unavailableReason, type EvalContext } from '../context.js';
import { describeDuration, formatDate, subtractDuration } from '../dates.js';
import { resultsInWindow, type DatedObservation } from '../observation-values.js';
import { noDataOutcome, part } from '../part.js';
import type { Evidence, PartResult } from '../types.js';

export function observationDisplay(o: Observation): string {
  return o.code.text ?? o.code.coding?.find((c) => c.display)?.display ?? 'Observation';
}

export function baseEvidence(d: DatedObservation): Evidence {
  return { reference: referenceOf(d.observation), display: observationDisplay(d.observation), date: formatDate(d.date) };
}

export type LatestResult =
  | { ok: true; latest: DatedObservation; windowText: string }
  | { ok: false; result: PartResult };

/**
 * Measurements are decided by the most recent result inside the criterion's window. None in the window is
 * unknown (missing data is never "not met"), and the part says what would settle it.
 */
export function latestResult(leaf: CompiledLeaf, ctx: EvalContext): LatestResult {
  const spec = leaf.spec;
  if (!leaf.valueSet || (spec.kind !== 'measurement' && spec.kind !== 'lab-positive' && spec.kind !== 'titer')) {
    throw new Error('not a lab rule');
  }
  const window = spec.window;
  const from = window ? subtractDuration(ctx.now, window) : undefined;
  const obs = candidatesFor(ctx, leaf, ['Observation']) as Observation[];
  const { inWindow, undated, future, outside } = resultsInWindow(obs, from, ctx.now);
  const windowText = window ? ` in the last ${describeDuration(window)}` : '';
  const latest = inWindow[0];
  if (latest) return { ok: true, latest, windowText };
  const title = leaf.valueSet.title;
  const notes = [
    outside[0] ? `latest result ${formatDate(outside[0].date)} is older than the window` : undefined,
    undated > 0 ? `${undated} result(s) without a date` : undefined,
    future > 0 ? `${future} result(s) dated in the future were ignored` : undefined,
  ].filter((n): n is string => n !== undefined);
  const evidence = outside[0] ? [{ ...baseEvidence(outside[0]), note: 'outside the window' }] : [];
  const unavailable = unavailableReason(ctx, ['Observation']);
  const reason = unavailable ?? `no ${title} result${windowText}${notes.length ? ` (${notes.join('; ')})` : ''}`;
  const outcome = unavailable ? 'unknown' : noDataOutcome(leaf, 'unknown');
  const said = outcome === 'review' ? `not in the record${windowText}: checked at screening` : reason;
  return { ok: false, result: part(leaf, outcome, said, evidence, [`${title}${windowText}`]) };
}
