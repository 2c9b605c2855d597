import type { Observation } from '@medplum/fhirtypes';
import type { CodedLeaf } from '../compiled.js';
import { conceptText } from '../../fhir/concept-text.js';
import { referenceOf } from '../../patient/patient-record.js';
import { candidatesFor, observationWhenIn, unavailableReason, windowStart, type EvalContext } from '../context.js';
import { describeDuration, formatDate } from '../dates.js';
import { numericValue, resultsInWindow, type DatedObservation } from '../observation-values.js';
import { noDataOutcome, part } from '../part.js';
import { factText } from '../facts.js';
import type { Evidence, Fact, Outcome, PartResult } from '../types.js';

export function observationDisplay(o: Observation): string {
  return conceptText(o.code) ?? 'Observation';
}

export function baseEvidence(d: DatedObservation): Evidence {
  return { reference: referenceOf(d.observation), display: observationDisplay(d.observation), date: formatDate(d.date) };
}

/** What the result kinds (measurement, lab-positive, titer) share: which result decides, in what window. */
export interface LabSpec {
  which: 'latest' | 'any' | 'ever';
  window?: string | undefined;
  ifNoData?: 'not-met' | 'unknown' | 'review' | undefined;
}

/** A leaf of one of the result kinds. */
export type LabLeaf = CodedLeaf<string, LabSpec>;

/** How a result is named in a part's reason: "latest HIV antibody result in the last 3 months", "result of 2026-05-01". */
export interface ResultScope {
  /** The window in words, "" without one. */
  windowText: string;
  /** Words that name the result being read, for its reason. */
  describe: string;
}

/** Reads one result against the part: met / not met, or unknown with what would settle it. */
export type ReadResult = (d: DatedObservation, scope: ResultScope) => PartResult;

/**
 * Whether one result, as read against the part, is a positive of the test the part reads (issue 18 item 4):
 * each kind says which of its readings that is (lab-positive: the test positive; measurement: the threshold
 * met). Such a result that does not decide the part (outside its window, or shown for review) is a fact.
 */
export type IsPositive = (r: PartResult) => boolean;

/** For `which: any / ever`, the order in which one result's outcome decides the part. */
const ANY_ORDER: readonly Outcome[] = ['met', 'review', 'unknown', 'not-met'];

/** At most this many results are shown as evidence for "none of N results" (the latest first). */
const MAX_SHOWN = 3;

/**
 * Decides a lab or measurement part from the results in its window, as the mapping's `which` says (issue #10
 * item 2): `latest`, the most recent result decides ("currently >= X"); `any` (in the window) and `ever` (no
 * window), one result that meets the part is enough ("positive within 12 months": a positive six months ago
 * is not hidden by today's normal one), a part is not met only when every result was read and none meets it,
 * and an unreadable result leaves it unknown. No result in the window is unknown (missing data is never "not
 * met"), and the part says what would settle it.
 */
export function decideByResults(leaf: LabLeaf, ctx: EvalContext, read: ReadResult, positive?: IsPositive): PartResult {
  const spec = leaf.spec;
  const window = spec.window;
  const from = window ? windowStart(ctx, window) : undefined;
  const obs = candidatesFor(ctx, leaf, ['Observation']) as Observation[];
  const { inWindow, undated, future, outside, unplaced } = resultsInWindow(obs, from, ctx.now, (o) => observationWhenIn(ctx, o));
  const windowText = window ? ` in the last ${describeDuration(window)}` : '';
  const title = leaf.valueSet.title;
  let result: PartResult;
  if (inWindow.length > 0) {
    const decided =
      spec.which === 'latest'
        ? read(inWindow[0]!, { windowText, describe: `latest ${title} result${windowText}` })
        : anyResult(leaf, inWindow, windowText, read);
    const settled = unplaced.length > 0 ? withUnplacedResults(leaf, decided, inWindow[0]!, unplaced, windowText, read) : decided;
    const partial = unavailableReason(ctx, ['Observation']);
    result = partial ? onPartialResults(leaf, settled, partial, spec.which) : settled;
  } else {
    const notes = [
      unplaced[0]?.dateNote,
      outside[0] ? `latest result ${formatDate(outside[0].date)} is older than the window` : undefined,
      undated > 0 ? `${undated} result(s) without a date` : undefined,
      future > 0 ? `${future} result(s) dated in the future were ignored` : undefined,
    ].filter((n): n is string => n !== undefined);
    // Issue #18: a result the record cannot place in the window (only an issued date, a month that straddles
    // its start) is shown with its date, never read as in it.
    const evidence = [
      ...unplaced.slice(0, MAX_SHOWN).map((d) => ({ ...baseEvidence(d), note: d.dateNote ?? 'not placed in the window' })),
      ...(outside[0] ? [{ ...baseEvidence(outside[0]), note: 'outside the window' }] : []),
    ];
    const unavailable = unavailableReason(ctx, ['Observation']);
    const reason = unavailable ?? `no ${title} result${windowText}${notes.length ? ` (${notes.join('; ')})` : ''}`;
    const outcome = unavailable ? 'unknown' : noDataOutcome(leaf, 'unknown');
    const said = outcome === 'review' && unplaced.length === 0 ? `not in the record${windowText}: checked at screening` : reason;
    result = part(leaf, outcome, said, evidence, [`${title}${windowText}`]);
  }
  return positive ? withPositiveFacts(result, leaf, inWindow, [...unplaced, ...outside], read, positive) : result;
}

/** At most this many facts per part: the most recent first. */
const MAX_FACTS = 3;

/**
 * Issue 18 item 4: a part left open (unknown, or "checked at screening") never hides a positive the record
 * holds. For `latest`, the latest result in the window (a positive shown for review) and the latest one
 * before it; for `any` / `ever`, every result. Each positive among them is a fact with its value and date.
 * A fact decides nothing here: the window does; the trial's status is at most "possibly" (evaluate-trial.ts).
 */
function withPositiveFacts(
  result: PartResult,
  leaf: LabLeaf,
  inWindow: readonly DatedObservation[],
  outside: readonly DatedObservation[],
  read: ReadResult,
  positive: IsPositive,
): PartResult {
  const window = leaf.spec.window;
  const open = result.outcome === 'unknown' || result.outcome === 'review';
  // Decided by its latest result in the window, not by a positive (a negative hCG 3 days ago): the latest
  // positive before the window is still kept, so the card says it (facts.ts decides whether it counts).
  const decidedOtherwise = !open && leaf.factOutcome !== undefined && result.outcome !== leaf.factOutcome && leaf.spec.which === 'latest' && window !== undefined;
  if (!open && !decidedOtherwise) return result;
  const candidates = decidedOtherwise
    ? outside.slice(0, 1)
    : leaf.spec.which === 'latest'
      ? [inWindow[0], outside[0]].filter((d): d is DatedObservation => d !== undefined)
      : [...inWindow, ...outside];
  const facts: Fact[] = [];
  for (const d of candidates) {
    if (facts.length >= MAX_FACTS) break;
    const r = read(d, { windowText: '', describe: `${leaf.valueSet.title} result of ${formatDate(d.date) ?? 'an unknown date'}` });
    if (!positive(r)) continue;
    const outsideWindow = outside.includes(d);
    facts.push(positiveFact(d, r, outsideWindow && window ? `outside the ${describeDuration(window)} window` : r.reason, leaf.valueSet.title));
  }
  return facts.length > 0 ? { ...result, facts } : result;
}

/** "Serum beta-hCG 15,200 mIU/mL 2026-11-03", "HBsAg positive 2026-08-03": the result as recorded, then its date. */
function positiveFact(d: DatedObservation, r: PartResult, note: string, title: string): Fact {
  const v = numericValue(d.observation);
  const unit = d.observation.valueQuantity?.unit ?? v?.unit;
  // A value recorded with a comparator (">1000") keeps it: the fact says what the laboratory said.
  const value = v ? (v.comparator ? `${v.comparator}${v.value}` : v.value) : String(r.evidence[0]?.value ?? 'positive');
  const evidence: Evidence = { ...baseEvidence(d), value, note };
  if (v && unit) evidence.unit = unit;
  return { kind: 'prior-positive', text: factText(evidence, title), evidence };
}

/**
 * Results the record cannot place in the window (issue #18: only an issued date, a month across its start)
 * may still be in it. One that would read otherwise leaves the part unknown, with both shown: for `latest`,
 * one that may be later than the latest placed result; for `any`, one that would meet a part otherwise not
 * met. Dropping them would turn a positive dated only by its report into "none in the window".
 */
function withUnplacedResults(leaf: LabLeaf, decided: PartResult, latest: DatedObservation, unplaced: readonly DatedObservation[], windowText: string, read: ReadResult): PartResult {
  const which = leaf.spec.which;
  for (const d of unplaced) {
    if (which === 'latest' && (d.latest ?? d.date) <= latest.date) continue;
    const r = read(d, { windowText, describe: `${leaf.valueSet.title} result (${d.dateNote ?? 'date not placed'})` });
    const differs = which === 'latest' ? r.outcome !== decided.outcome : decided.outcome === 'not-met' && r.outcome !== 'not-met';
    if (!differs) continue;
    const evidence = [...decided.evidence, ...r.evidence.map((e) => ({ ...e, note: [e.note, d.dateNote].filter(Boolean).join('; ') }))];
    return part(leaf, 'unknown', `${decided.reason}; but ${r.reason}, and the record cannot place it in the window`, evidence, [`when the ${leaf.valueSet.title} sample was taken`]);
  }
  return decided;
}

/**
 * Results read from part of the record (the EHR sent only a page): a result found still counts for `any` /
 * `ever`, but nothing decides `latest` (a later result may be on a page not sent) and nothing is "none of
 * them" (issue #10 item 7: a page of a search is never read as the whole record).
 */
function onPartialResults(leaf: LabLeaf, decided: PartResult, partial: string, which: 'latest' | 'any' | 'ever'): PartResult {
  const stands = decided.outcome === 'unknown' || decided.outcome === 'review' || (which !== 'latest' && decided.outcome === 'met');
  if (stands) return decided;
  return part(leaf, 'unknown', `${decided.reason}, but ${partial}`, decided.evidence, [`every ${leaf.valueSet.title} result`]);
}

function uniqueEvidence(list: readonly Evidence[]): Evidence[] {
  const seen = new Set<string>();
  return list.filter((e) => {
    const key = `${e.reference}|${String(e.value)}|${e.note ?? ''}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

function anyResult(leaf: LabLeaf, results: readonly DatedObservation[], windowText: string, read: ReadResult): PartResult {
  const title = leaf.valueSet.title;
  const byOutcome = new Map<Outcome, PartResult[]>();
  for (const d of results) {
    const r = read(d, { windowText, describe: `${title} result of ${formatDate(d.date) ?? 'an unknown date'}` });
    const list = byOutcome.get(r.outcome);
    if (list) list.push(r);
    else byOutcome.set(r.outcome, [r]);
  }
  const span = windowText || ' in the record';
  for (const outcome of ANY_ORDER) {
    const found = byOutcome.get(outcome);
    if (!found) continue;
    const first = found[0]!;
    // A confirmatory result is read with its screen (rules/confirmation.ts): the two give one finding, shown once.
    const evidence = uniqueEvidence(found.slice(0, MAX_SHOWN).flatMap((r) => r.evidence));
    if (outcome === 'not-met') {
      const reason = results.length === 1 ? first.reason : `none of ${results.length} ${title} results${span} meets it (latest: ${first.reason})`;
      return part(leaf, 'not-met', reason, evidence);
    }
    const others = found.length > 1 ? ` (${found.length} results${span})` : '';
    const missing = found.flatMap((r) => r.missing ?? []);
    return part(leaf, outcome, `${first.reason}${others}`, evidence, missing.length > 0 ? [...new Set(missing)] : [`${title}${windowText}`]);
  }
  throw new Error('no result was read');
}
