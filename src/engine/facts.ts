import type { CodedLeaf, CompiledRule } from './compiled.js';
import type { Evidence, Fact, PartResult } from './types.js';

/**
 * The facts of one open criterion (issue 18 item 4): the positives its result parts hold that do not decide
 * it, shown to the clinician, and keeping the trial at most "possibly eligible".
 *
 * A positive counts only where it goes against the patient: in an exclusion where it would make the part
 * met, in an inclusion where it would make the part not met (a positive pregnancy test for "negative
 * pregnancy test"), each `not` turning that round. So a positive anti-dsDNA outside an inclusion's window,
 * which would help the patient, is no fact. Two sources:
 * - a result part left open keeps, as `facts`, positives outside its window or shown for review;
 * - a result part already decided against the patient inside a criterion still open on another part
 *   (HBsAg positive while the HBV DNA the exclusion also asks for is not in the record): its evidence.
 *   A branch decided in the patient's favour is not looked into (HCV antibody positive, HCV RNA not detected).
 * - a windowed result part decided in the patient's favour by its latest result keeps the positive before its
 *   window (issue 18 item 4: "a known positive never hides behind 'to check'", nor behind a later negative).
 * A criterion decided against the patient has no facts: its own evidence already says why.
 */
export function criterionFacts(type: 'inclusion' | 'exclusion', rule: CompiledRule, root: PartResult): Fact[] {
  const against = type === 'exclusion' ? 'met' : 'not-met';
  // Decided against the patient: the trial is ineligible, and the criterion's own evidence says why.
  if (root.outcome === against) return [];
  const out: Fact[] = [];
  walk(rule, root, against, out, root.outcome !== 'unknown' && root.outcome !== 'review');
  const seen = new Set<string>();
  return out.filter((f) => {
    if (seen.has(f.text)) return false;
    seen.add(f.text);
    return true;
  });
}

/**
 * `onlyKept`: the branch was decided in the patient's favour, so only the positives a result part kept from
 * before its window are looked for (a serum hCG of 15,200 20 days ago under a negative one 3 days ago: the
 * window decides, and the positive is still said); its evidence decided nothing against the patient.
 */
function walk(rule: CompiledRule, result: PartResult, against: 'met' | 'not-met', out: Fact[], onlyKept: boolean): void {
  // A part decided in the patient's favour holds no evidence against the patient for this criterion (an HCV
  // antibody in a branch whose HCV RNA is not detected); only its kept positives are looked for.
  const favour = result.outcome !== against && result.outcome !== 'unknown' && result.outcome !== 'review';
  const kept = onlyKept || favour;
  if ('of' in rule) {
    const next = rule.kind === 'not' ? (against === 'met' ? 'not-met' : 'met') : against;
    rule.of.forEach((r, i) => {
      const p = result.parts?.[i];
      if (p) walk(r, p, next, out, kept);
    });
    return;
  }
  if (rule.factOutcome !== against) return;
  if (result.facts) out.push(...result.facts);
  if (kept) return;
  const title = 'valueSet' in rule ? (rule as CodedLeaf).valueSet.title : undefined;
  if (result.outcome === against) out.push(...result.evidence.map((e) => ({ kind: 'prior-positive' as const, text: factText(e, title), evidence: e })));
}

/** Longer result names (a LOINC long name) give way to the code list's title in a fact's text. */
const MAX_NAME = 40;

/**
 * "HBsAg positive 2026-08-03", "HBV DNA 2,400 IU/mL 2026-07-24": the result's own name (or the code list's
 * title when that is a long LOINC name), its value and unit as recorded, its date.
 */
export function factText(e: Evidence, title: string | undefined): string {
  const name = e.display.length > MAX_NAME && title ? title : e.display;
  const value = e.value === undefined ? '' : ` ${typeof e.value === 'number' ? e.value.toLocaleString('en-US', { maximumFractionDigits: 6 }) : e.value}${e.unit ? ` ${e.unit}` : ''}`;
  return `${name}${value}${e.date ? ` ${e.date}` : ''}`;
}
