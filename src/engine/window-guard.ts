import type { Anchor, CompiledLeaf, PartGuard, PartWindow } from './compiled.js';
import { describeDuration } from './dates.js';
import type { Outcome, PartResult } from './types.js';

/**
 * What a part's window may decide (issue 18 item 3). Each criterion says, for every window, whether the
 * protocol gives it (its words quoted) or the project chose it, and which event it counts from. Two rules
 * follow, both moving an answer toward the study team and never toward an exclusion:
 *
 * - A window counted from an event still ahead (consent, enrolment, the first dose) cannot be placed from
 *   today. A finding inside such a look-back ("cyclophosphamide within 4 weeks prior to enrollment") may be
 *   outside it by then: the part goes to review with the date it stops counting. A "stable for N before the
 *   first dose" that is not yet N long, on a drug the patient takes now, can still be by then: review with
 *   what the record shows ("course started 2026-12-03, less than 7 days ago").
 * - A project-default window never hides a trial on its own. On a result, the window only lets an earlier
 *   result stand for the test the protocol means (at screening): the outcome that would hide the trial goes
 *   to `unknown`, with the result shown. On a dated event (a diagnosis, a drug, a procedure), it does so when
 *   the same part without the window would not hide it (a course four months ago read with a 3-month default).
 */

const ANCHOR_WORDS: Readonly<Record<Anchor, string>> = {
  screening: 'screening',
  consent: 'consent',
  enrolment: 'enrolment',
  'first-dose': 'the first study dose',
};

export function anchorWords(anchor: Anchor): string {
  return ANCHOR_WORDS[anchor];
}

/** Evaluates another leaf (the guard's twin) the way the caller evaluates every leaf (memo, faults). */
export type EvaluateLeaf = (leaf: CompiledLeaf) => PartResult;

export function guardPart(result: PartResult, guard: PartGuard, evaluateLeaf: EvaluateLeaf): PartResult {
  let out = result;
  for (const w of guard.windows) {
    if (w.anchor !== 'screening') out = ahead(out, w, guard, evaluateLeaf);
    if (w.projectDefault !== undefined) out = byDefault(out, w, guard, evaluateLeaf);
  }
  return out;
}

function ahead(result: PartResult, w: PartWindow, guard: PartGuard, evaluateLeaf: EvaluateLeaf): PartResult {
  const anchor = anchorWords(w.anchor);
  const span = describeDuration(w.duration);
  if (w.field === 'window' && result.outcome === 'met') {
    const until = result.clears ? `: it no longer counts if ${anchor} is on or after ${result.clears.on} (${result.clears.after})` : '';
    return reopen(result, 'review', `${result.reason}; the protocol counts ${span} before ${anchor}, which is still ahead${until}`, [
      `${result.label}: timing against ${anchor}`,
    ]);
  }
  if (w.field === 'startedAtLeast' && result.outcome === 'not-met' && guard.hides === 'not-met' && guard.twin) {
    const now = evaluateLeaf(guard.twin);
    // Not taking the drug now is the record's own answer; a drug that may be current (an order) stays open.
    if (now.outcome === 'not-met') return result;
    if (now.outcome !== 'met') return reopen(result, 'unknown', `${result.reason}; whether it is taken now: ${now.reason}`, now.missing ?? [result.label]);
    const shown = result.evidence.filter((e) => e.note).map((e) => `${e.display}: ${e.note}`);
    const seen = shown.length > 0 ? shown.join('; ') : result.reason;
    return reopen(result, 'review', `${seen}; must be stable for ${span} before ${anchor}, which is still ahead`, [
      `${result.label}: stable for ${span} before ${anchor}`,
    ]);
  }
  return result;
}

function byDefault(result: PartResult, w: PartWindow, guard: PartGuard, evaluateLeaf: EvaluateLeaf): PartResult {
  if (result.outcome !== guard.hides) return result;
  if (guard.twin && w.field === 'window' && evaluateLeaf(guard.twin).outcome === guard.hides) return result;
  const verb = guard.hides === 'met' ? 'exclude' : 'fail the item';
  return reopen(
    result,
    'unknown',
    `${result.reason}; read through the project's default window of ${describeDuration(w.duration)} (the protocol gives none), so it does not ${verb} on its own: confirm at ${anchorWords(w.anchor)}`,
    [`${result.label}: confirm at ${anchorWords(w.anchor)}`],
  );
}

/** The part, no longer decided: its evidence kept (what the record shows), its window's clearing date dropped. */
function reopen(result: PartResult, outcome: Outcome, reason: string, missing: string[]): PartResult {
  const { clears: _clears, ...rest } = result;
  return { ...rest, outcome, reason, missing, recordOutcome: result.recordOutcome ?? result.outcome };
}
