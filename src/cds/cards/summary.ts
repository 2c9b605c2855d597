import type { CompiledTrial } from '../../engine/compiled.js';
import type { PartResult, TrialEvaluation } from '../../engine/types.js';
import type { Need } from './needs.js';
import { listText, shorten } from './text.js';

export const STATUS_WORDS = { 'likely-eligible': 'Likely eligible', 'possibly-eligible': 'Possibly eligible', ineligible: 'Not eligible' } as const;

/** Review leaves that point at something in the record (a past rituximab course): to look at first. */
export function recordFindings(e: TrialEvaluation): PartResult[] {
  return e.criteria.flatMap((c) => c.open.filter((p) => p.outcome === 'review' && p.evidence.length > 0));
}

/**
 * The one thing that decides it (issue #11 item 1): what the record lacks, the tests that settle most first;
 * else a record finding for the team to judge; else that the record meets every criterion it can show.
 */
function deciding(e: TrialEvaluation, needs: readonly Need[]): string {
  // Issue 18 item 4: a positive the record holds that no criterion decides on is named first, never hidden.
  const fact = e.criteria.find((c) => c.facts?.length)?.facts?.[0];
  if (fact) return `positive in the record: ${fact.text}`;
  if (needs.length > 0) {
    const named = needs.slice(0, 2).map((n) => n.short);
    const more = needs.length - named.length;
    return more > 0 ? `${named.join(', ')} and ${more} more needed` : `${listText(named)} needed`;
  }
  const finding = recordFindings(e)[0];
  if (finding) return `check ${finding.label.charAt(0).toLowerCase()}${finding.label.slice(1)}`;
  return 'record meets every criterion it can show';
}

/** "Possibly eligible: BCMA/CD70 CAR-T for refractory SLE (NCT06934447): LVEF and eGFR needed", under 140. */
export function summaryOf(trial: CompiledTrial, e: TrialEvaluation, needs: readonly Need[]): string {
  return shorten(`${STATUS_WORDS[e.status]}: ${trial.shortTitle}: ${deciding(e, needs)}`, 139);
}
