import { randomUUID } from 'node:crypto';
import type { CompiledTrial } from '../mappings/compiled.js';
import type { CriterionResult, Evidence, PartResult, TrialEvaluation } from '../engine/types.js';
import type { DataProvenance } from '../data/gather-patient-data.js';

/** The card extension key (CDS Hooks 2.0 §Extensions: reverse-domain keys). Documented in the README. */
export const EXTENSION_KEY = 'org.trialmatch-cds.eligibility';
export const TRIAL_TOPIC_SYSTEM = 'urn:trialmatch-cds:trial';
const OVERRIDE_SYSTEM = 'urn:trialmatch-cds:override-reason';

export interface Card {
  uuid: string;
  summary: string;
  detail: string;
  indicator: 'info' | 'warning' | 'critical';
  source: { label: string; topic: { system: string; code: string; display: string } };
  links: { label: string; url: string; type: 'absolute' }[];
  overrideReasons: { system: string; code: string; display: string }[];
  extension: Record<string, unknown>;
}

const STATUS_WORDS = { 'likely-eligible': 'Likely eligible', 'possibly-eligible': 'Possibly eligible', ineligible: 'Not eligible' } as const;

function criterionName(c: CriterionResult): string {
  return `${c.type === 'inclusion' ? 'Inclusion' : 'Exclusion'} ${c.item}`;
}

/** "85 g/L (recorded 8.5 g/dL), 2026-11-02": a value as a clinician reads it, without internal ids. */
function describeEvidence(e: Evidence): string {
  const value = e.value !== undefined ? ` ${e.value}${e.unit ? ` ${e.unit}` : ''}` : '';
  const recorded = e.recorded ? ` (recorded ${e.recorded})` : '';
  const date = e.date ? `, ${e.date}` : '';
  const note = e.note ? ` — ${e.note}` : '';
  return `${e.display}:${value}${recorded}${date}${note}`.replace(/:$/, '');
}

function leaves(p: PartResult): PartResult[] {
  return p.parts ? p.parts.flatMap(leaves) : [p];
}

/** The parts of a criterion that are still open, with what would settle them. */
function openParts(c: CriterionResult, outcome: 'unknown' | 'review'): PartResult[] {
  return c.parts.flatMap(leaves).filter((p) => p.outcome === outcome);
}

/** The protocol text cut to its first clause, for one line of a card. */
function shortText(text: string): string {
  const first = text.split(/[;:]\s/)[0] ?? text;
  return first.length > 90 ? `${first.slice(0, 87).replace(/\s+\S*$/, '')}…` : first;
}

function escapeMd(s: string): string {
  return s.replace(/([*_`[\]<>|])/g, '\\$1');
}

function bullet(text: string): string {
  return `- ${escapeMd(text)}`;
}

/** The single most important thing to say in the summary: the first missing datum, or the review count. */
function headline(e: TrialEvaluation): string {
  const unknown = e.criteria.filter((c) => c.outcome === 'unknown');
  if (unknown.length > 0) {
    const first = openParts(unknown[0] as CriterionResult, 'unknown')[0];
    const more = unknown.length > 1 ? ` +${unknown.length - 1} more` : '';
    return `needs ${first?.label ?? (unknown[0] as CriterionResult).text}${more}`;
  }
  const reviews = e.criteria.filter((c) => c.review).length;
  return `${reviews} item${reviews === 1 ? '' : 's'} for the study team to confirm`;
}

function summaryOf(trial: CompiledTrial, e: TrialEvaluation): string {
  const full = `${STATUS_WORDS[e.status]}: ${trial.shortTitle} — ${headline(e)}`;
  if (full.length < 140) return full;
  return `${full.slice(0, 136).replace(/\s+\S*$/, '')}…`;
}

/**
 * The card's markdown: what is missing and what to review first, then what was met, each with its value,
 * unit and date. References stay in the extension, not in the text a clinician reads.
 */
function detailOf(trial: CompiledTrial, e: TrialEvaluation, provenance: readonly DataProvenance[]): string {
  const lines: string[] = [];
  lines.push(`**${STATUS_WORDS[e.status]}** for ${escapeMd(trial.title)} (${trial.studyType}, ${escapeMd(trial.phase)}). A screening aid: the study team decides eligibility.`);
  const unavailable = provenance.filter((p) => p.origin === 'unavailable');
  if (unavailable.length > 0) {
    lines.push('', `**Could not be read from the EHR:** ${unavailable.map((p) => p.resourceType).join(', ')}. Criteria that need them are shown as missing.`);
  }
  const missing = e.criteria.filter((c) => c.outcome === 'unknown');
  if (missing.length > 0) {
    lines.push('', '**Missing data that would decide it**');
    for (const c of missing) {
      for (const p of openParts(c, 'unknown')) lines.push(bullet(`${criterionName(c)} — ${p.label}: ${p.reason}`));
    }
  }
  const review = e.criteria.filter((c) => c.review);
  if (review.length > 0) {
    lines.push('', '**For the study team to review**');
    for (const c of review) {
      for (const p of openParts(c, 'review')) {
        // A review leaf speaks for itself; a test left to screening says so after its label.
        const why = p.kind === 'review' ? '' : `: ${p.reason}`;
        const ev = p.evidence.length > 0 ? ` (${p.evidence.map(describeEvidence).join('; ')})` : '';
        lines.push(bullet(`${criterionName(c)} — ${p.label}${why}${ev}`));
      }
    }
  }
  const met = e.criteria.filter((c) => c.outcome === 'met' || c.outcome === 'not-met');
  if (met.length > 0) {
    lines.push('', '**Criteria met**');
    for (const c of met) {
      if (c.type === 'exclusion') {
        lines.push(bullet(`${criterionName(c)} — does not apply: ${shortText(c.text)}`));
        continue;
      }
      const firstLeaf = c.parts.flatMap(leaves).find((p) => p.outcome === 'met');
      const ev = c.evidence.slice(0, 3).map(describeEvidence).join('; ');
      lines.push(bullet(`${criterionName(c)} — ${firstLeaf?.label ?? shortText(c.text)}${ev ? `: ${ev}` : ''}`));
    }
  }
  return lines.join('\n');
}

function extensionOf(e: TrialEvaluation): Record<string, unknown> {
  return {
    [EXTENSION_KEY]: {
      trialId: e.trialId,
      ...(e.nctId ? { nctId: e.nctId } : {}),
      status: e.status,
      evaluatedAt: e.evaluatedAt,
      criteria: e.criteria.map((c) => ({
        id: c.id,
        type: c.type,
        item: c.item,
        result: c.result,
        review: c.review,
        ...(c.evidence.length > 0 ? { evidence: c.evidence } : {}),
        ...(c.missing.length > 0 ? { missing: c.missing } : {}),
      })),
    },
  };
}

/**
 * One card per trial that is likely or possibly eligible, likely first; none for ineligible trials, so none
 * at all for a patient without SLE. Every field is filled: CDS Hooks forbids empty or null values.
 */
export function renderCards(
  trials: readonly CompiledTrial[],
  evaluations: readonly TrialEvaluation[],
  provenance: readonly DataProvenance[],
  newId: () => string = randomUUID,
): Card[] {
  const byId = new Map(trials.map((t) => [t.id, t]));
  const rank = { 'likely-eligible': 0, 'possibly-eligible': 1, ineligible: 2 } as const;
  return evaluations
    .filter((e) => e.status !== 'ineligible')
    .sort((a, b) => rank[a.status] - rank[b.status])
    .map((e) => {
      const trial = byId.get(e.trialId);
      if (!trial) throw new Error(`evaluation for unknown trial ${e.trialId}`);
      return {
        uuid: newId(),
        summary: summaryOf(trial, e),
        detail: detailOf(trial, e, provenance),
        indicator: 'info',
        source: { label: 'TrialMatch CDS', topic: { system: TRIAL_TOPIC_SYSTEM, code: trial.id, display: trial.shortTitle } },
        links: [{ label: trial.registry.label, url: trial.registry.url, type: 'absolute' }],
        overrideReasons: [
          { system: OVERRIDE_SYSTEM, code: 'not-interested', display: 'Patient or family not interested' },
          { system: OVERRIDE_SYSTEM, code: 'already-screened', display: 'Already screened for this trial' },
          { system: OVERRIDE_SYSTEM, code: 'not-appropriate', display: 'Not clinically appropriate' },
        ],
        extension: extensionOf(e),
      };
    });
}
