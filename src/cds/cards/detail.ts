import type { CompiledTrial } from '../../engine/compiled.js';
import type { CriterionResult, Evidence, PartResult, TrialEvaluation } from '../../engine/types.js';
import type { DataProvenance } from '../../data/gather-patient-data.js';
import { criterionFacts, itemName } from '../../engine/evaluate-trial.js';
import { reviewReasonOf } from '../../engine/open-parts.js';
import type { Need } from './needs.js';
import { STATUS_WORDS, recordFindings } from './summary.js';
import { escapeMd, factText, shorten } from './text.js';

export const SCREENING_AID = 'A screening aid: the study team decides eligibility.';

function leaves(p: PartResult, out: PartResult[] = []): PartResult[] {
  if (!p.parts) out.push(p);
  else for (const x of p.parts) leaves(x, out);
  return out;
}

/** Which kind of fact says most about why the patient is a candidate: the disease, its activity, its treatment. */
const FACT_RANK: Record<string, number> = { condition: 0, measurement: 1, titer: 1, 'lab-positive': 1, medication: 2, fhirpath: 3 };

/**
 * The two or three facts that make the patient a candidate: one per met inclusion, the diagnosis, disease
 * activity and treatment before age. Each is a value and date from the trace, so it traces to the resource
 * `POST /trials/$evaluate` and the app show (safety rule 4).
 */
function candidateFacts(e: TrialEvaluation): Evidence[] {
  const facts: { rank: number; order: number; evidence: Evidence }[] = [];
  e.criteria.forEach((c: CriterionResult, order) => {
    if (c.type !== 'inclusion' || c.outcome !== 'met') return;
    const met = c.parts.flatMap((p) => leaves(p)).filter((p) => p.outcome === 'met' && p.kind !== 'review' && p.evidence.length > 0);
    const best = met.sort((a, b) => (FACT_RANK[a.kind] ?? 9) - (FACT_RANK[b.kind] ?? 9))[0];
    const evidence = best?.evidence[0];
    if (best && evidence) facts.push({ rank: FACT_RANK[best.kind] ?? 9, order, evidence });
  });
  const seen = new Set<string>();
  return facts
    .sort((a, b) => a.rank - b.rank || a.order - b.order)
    .map((f) => f.evidence)
    .filter((ev) => (seen.has(ev.reference) ? false : (seen.add(ev.reference), true)))
    .slice(0, 3);
}

/** How a review item is settled, in the study team's words; the list itself is in the app. */
function reviewTopic(p: PartResult): string {
  if (p.evidence.length > 0) return 'record findings';
  const why = reviewReasonOf(p);
  if (why === 'consent') return 'consent';
  if (why === 'screening-test' || /screening/.test(p.reason)) return 'screening tests';
  if (why === 'judgement') return 'judgement';
  return 'not in the record';
}

function studyTeamLine(e: TrialEvaluation): string | undefined {
  const items = e.criteria.flatMap((c) => c.open.filter((p) => p.outcome === 'review'));
  if (items.length === 0) return undefined;
  const order = ['record findings', 'consent', 'screening tests', 'judgement', 'not in the record'];
  const topics = [...new Set(items.map(reviewTopic))].sort((a, b) => order.indexOf(a) - order.indexOf(b));
  return `**${items.length} item${items.length > 1 ? 's' : ''} for the study team** (${topics.join(', ')}), listed in the full check.`;
}

/**
 * "Non-treponemal test (RPR/VDRL) reactive: RPR positive (2026-11-10)": the part's label up to its own colon
 * (a label cut inside its explanation read "needs a…:"), then the record; the record alone when it already
 * says what the label says ("HBsAg positive (2026-08-03)", not "HBsAg positive: HBsAg positive").
 */
function findingText(p: PartResult): string {
  const record = factText(p.evidence[0] as Evidence);
  const head = shorten(p.label.split(/:\s/)[0] ?? p.label, 60);
  const display = (p.evidence[0]?.display ?? '').toLowerCase();
  if (display && head.toLowerCase().startsWith(display)) return escapeMd(record);
  return `${escapeMd(head)}: ${escapeMd(record)}`;
}

function needText(n: Need): string {
  const counts = n.criteria.size > 1 || n.trials.size > 1 ? ` (${n.criteria.size} criteria${n.trials.size > 1 ? `, ${n.trials.size} trials` : ''})` : '';
  return `${escapeMd(n.label)}${counts}`;
}

/** What the EHR did not send, in plain words: the gap is why a criterion is open, the details are in the app. */
function recordGapLine(provenance: readonly DataProvenance[]): string | undefined {
  const gaps = provenance.filter((p) => p.origin === 'unavailable' || p.partial);
  if (gaps.length === 0) return undefined;
  return '**Part of the record could not be read from the EHR**: criteria that need it count as missing.';
}

/**
 * At most six lines (issue #11 item 1), in the order a clinician acts on them: why a candidate, what to
 * check in the record, the tests that settle the open criteria, the study team's share, the screening-aid
 * sentence. Protocol lists, met criteria and how each was read are in the app, one click away.
 */
export function detailOf(trial: CompiledTrial, e: TrialEvaluation, needs: readonly Need[], provenance: readonly DataProvenance[], siteLine?: string): string {
  const lines: string[] = [];
  const candidate = candidateFacts(e).map((f) => escapeMd(factText(f)));
  // The trial and status are in the summary just above; the first line says why the patient is a candidate.
  lines.push(`**${STATUS_WORDS[e.status]}**${candidate.length > 0 ? `: ${candidate.join('; ')}.` : '.'}`);
  // Issue 18 item 4: a positive the record holds outside a criterion's window is said first, with its value
  // and date ("HBsAg positive 2026-08-03"), before the findings the team judges; one line for both.
  const factsOf = e.criteria.flatMap((c) => criterionFacts(c).map((f) => ({ c, f })));
  // One result is said once, with every item it bears on (a positive hCG is both "negative pregnancy test" and
  // "positive pregnancy test"), in its shortest wording.
  const byResult = new Map<string, { text: string; items: string[] }>();
  for (const { c, f } of factsOf) {
    const seen = byResult.get(f.evidence.reference);
    if (!seen) byResult.set(f.evidence.reference, { text: f.text, items: [itemName(c)] });
    else {
      if (f.text.length < seen.text.length) seen.text = f.text;
      if (!seen.items.includes(itemName(c))) seen.items.push(itemName(c));
    }
  }
  const facts = [...byResult.values()].map(({ text, items }) => `${escapeMd(text)} (${items.join(', ')}, outside its window)`);
  // A finding whose result is already said as a fact is not said twice (the HBsAg of an open HBV exclusion).
  const said = new Set(byResult.keys());
  const findings = recordFindings(e)
    .filter((p) => !p.evidence.some((ev) => said.has(ev.reference)))
    .map(findingText);
  const toCheck = [...facts, ...findings].slice(0, 3);
  if (toCheck.length > 0) lines.push(`**${facts.length > 0 ? 'Positive in the record' : 'To check in the record'}:** ${toCheck.join('; ')}.`);
  if (needs.length > 0) {
    const shown = needs.slice(0, 4).map(needText);
    const more = needs.length - shown.length;
    lines.push(`**Would settle it:** ${shown.join('; ')}${more > 0 ? `; ${more} more in the full check` : ''}.`);
  }
  const team = studyTeamLine(e);
  if (team) lines.push(team);
  const gap = recordGapLine(provenance);
  if (gap) lines.push(gap);
  // Issue #19 item 3: the site's study contact and a registry status that may be stale (src/cds/cards/site-line.ts).
  if (siteLine) lines.push(siteLine);
  lines.push(SCREENING_AID);
  // Blank lines between them: markdown joins single newlines into one paragraph.
  return lines.join('\n\n');
}
