import type { CompiledTrial } from '../../engine/compiled.js';
import type { PartResult, TrialEvaluation } from '../../engine/types.js';
import { criterionFacts } from '../../engine/evaluate-trial.js';
import { exclusionFindings, reviewReasonOf } from '../../engine/open-parts.js';
import type { Need } from './needs.js';
import { listText, shorten } from './text.js';

export const STATUS_WORDS = { 'likely-eligible': 'Likely eligible', 'possibly-eligible': 'Possibly eligible', ineligible: 'Not eligible' } as const;

/**
 * What the record holds for the team to look at first: for an exclusion still open, its positives (HBsAg
 * positive while the HBV DNA is to check) and then its open parts that point at a record (exclusionFindings);
 * for an inclusion, review parts that point at a record (a past course to judge).
 */
export function recordFindings(e: TrialEvaluation): PartResult[] {
  return e.criteria.flatMap((c) => (c.type === 'exclusion' ? exclusionFindings(c) : c.open.filter((p) => p.outcome === 'review' && p.evidence.length > 0)));
}

/** "Hepatitis B …" stays, "HBsAg positive" and "HBV DNA" keep their capitals; "Anti-CD19 therapy" reads "anti-CD19 therapy". */
function inSentence(label: string): string {
  return /^[A-Z][a-z]/.test(label) ? `${label.charAt(0).toLowerCase()}${label.slice(1)}` : label;
}

/** The judgements of the record an inclusion still waits on (refractory, active disease, classification). */
export function openJudgements(e: TrialEvaluation): PartResult[] {
  return e.criteria.flatMap((c) => (c.type === 'inclusion' ? c.open.filter((p) => p.outcome === 'review' && reviewReasonOf(p) === 'judgement') : []));
}

/**
 * The one thing that decides it (issue #11 item 1, issue 18 items 4 and 5): a positive the record holds
 * first (it is never hidden behind "to check"); else what the record lacks, the tests that settle most first;
 * else a record finding for the team to judge; else the judgements of the record left to the team; else, for a
 * likely trial, that no exclusion was found in the coded record (never that the record meets every criterion).
 */
function deciding(e: TrialEvaluation, needs: readonly Need[]): string {
  const fact = e.criteria.flatMap((c) => (c.type === 'exclusion' ? criterionFacts(c) : []))[0];
  if (fact) return `${fact.text} in the record`;
  if (needs.length > 0) {
    const named = needs.slice(0, 2).map((n) => n.short);
    const more = needs.length - named.length;
    return more > 0 ? `${named.join(', ')} and ${more} more needed` : `${listText(named)} needed`;
  }
  const finding = recordFindings(e)[0];
  if (finding) return `check ${inSentence(finding.label)}`;
  const judged = openJudgements(e).length;
  if (judged > 0) return `${judged} judgement${judged > 1 ? 's' : ''} for the study team`;
  return 'no exclusion found in the coded record';
}

/** "Possibly eligible: BCMA/CD70 CAR-T for refractory SLE (NCT06934447): LVEF and eGFR needed", under 140. */
export function summaryOf(trial: CompiledTrial, e: TrialEvaluation, needs: readonly Need[]): string {
  return shorten(`${STATUS_WORDS[e.status]}: ${trial.shortTitle}: ${deciding(e, needs)}`, 139);
}
