import type { PartResult } from './types.js';

function hasMetLeaf(p: PartResult): boolean {
  return p.parts ? p.parts.some(hasMetLeaf) : p.outcome === 'met';
}

/**
 * The leaves the outcome still waits on. A group already decided (met or not met) leaves nothing open below
 * it: "not female" settles the contraception item, so neither the pregnancy test nor the contraception
 * agreement of the female branch is asked of a boy (issue 18 item 6), and a "female and hCG positive"
 * exclusion is settled for him too. An alternative that is already met leaves nothing open beside it
 * (platelets >= 75 makes the "investigator discretion" route moot); where alternatives wait on review and
 * one has its automatic parts met, only that one's review items are open (treated as required, so
 * "intolerant to standard treatments" need not be checked too).
 */
function openLeaves(p: PartResult, out: PartResult[]): void {
  if (!p.parts) {
    out.push(p);
    return;
  }
  if (p.outcome === 'met' || p.outcome === 'not-met') return;
  if (p.outcome === 'review' && p.kind === 'any') {
    const backed = p.parts.find((x) => x.outcome === 'review' && x.parts !== undefined && hasMetLeaf(x));
    if (backed) return openLeaves(backed, out);
  }
  for (const x of p.parts) openLeaves(x, out);
}

/**
 * A criterion's leaves still open (unknown or for review), in the trace's order: what the card lists. Takes
 * the criterion's root, so a criterion decided at its root (an `any` met through one branch) has none.
 */
export function openParts(root: PartResult): PartResult[] {
  const out: PartResult[] = [];
  openLeaves(root, out);
  return out.filter((p) => p.outcome === 'unknown' || p.outcome === 'review');
}

/** Why a review part goes to the study team, from the `review` kind's reason (src/engine/rules/review.ts). */
export type ReviewReason = 'judgement' | 'consent' | 'screening-test' | 'not-coded';

/** The `review` kind's reason of an open part ("for review (judgement)"), else undefined (a finding, "checked at screening"). */
export function reviewReasonOf(p: PartResult): ReviewReason | undefined {
  if (p.kind !== 'review') return undefined;
  const why = /\(([a-z-]+)\)$/.exec(p.reason)?.[1];
  return why === 'judgement' || why === 'consent' || why === 'screening-test' || why === 'not-coded' ? why : undefined;
}

/** Kinds that qualify who an exclusion applies to (a girl, a child under 9) without being a finding themselves. */
const QUALIFIER_KINDS = new Set(['age', 'sex']);

function positiveLeaves(p: PartResult, out: PartResult[]): void {
  // Below a `not`, a met record counts for the patient, not against.
  if (p.kind === 'not') return;
  if (!p.parts) {
    if (p.outcome === 'met' && p.evidence.length > 0 && !QUALIFIER_KINDS.has(p.kind)) out.push(p);
    return;
  }
  for (const x of p.parts) positiveLeaves(x, out);
}

/**
 * What the record holds for an exclusion still open (unknown or for review), issue 18 item 5: the parts
 * already met (HBsAg positive, while the HBV DNA that completes the exclusion is to check), then the open parts
 * that point at a record (an older result, a drug found for the team to judge). A decided exclusion has none.
 */
export function exclusionFindings(c: { type: string; outcome: string; parts: readonly PartResult[]; open: readonly PartResult[] }): PartResult[] {
  if (c.type !== 'exclusion' || c.outcome === 'met' || c.outcome === 'not-met') return [];
  const out: PartResult[] = [];
  for (const p of c.parts) positiveLeaves(p, out);
  return [...out, ...c.open.filter((p) => p.outcome === 'review' && p.evidence.length > 0)];
}
