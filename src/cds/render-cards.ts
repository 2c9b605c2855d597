import { randomUUID } from 'node:crypto';
import type { CompiledTrial } from '../engine/compiled.js';
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

/** UCUM codes as a clinician writes them; annotations such as {score} carry no meaning on a card. */
const UNIT_WORDS: Record<string, string> = {
  '10*3/uL': '× 10³/µL',
  '10*9/L': '× 10⁹/L',
  '10*12/L': '× 10¹²/L',
  '/uL': '/µL',
  '[IU]/mL': 'IU/mL',
  'mL/min/{1.73_m2}': 'mL/min/1.73 m²',
  'g/(24.h)': 'g/24 h',
  'mg/(24.h)': 'mg/24 h',
};

function unitText(unit: string): string {
  return (UNIT_WORDS[unit] ?? unit.replace(/\{[^}]*\}/g, '').replace(/\[([^\]]+)\]/g, '$1').replace(/\bu(?=[LgmM]\b)/g, 'µ')).trim();
}

/** A date-time as its date: the card says what day, not what second. */
function dateText(date: string): string {
  return /^\d{4}-\d{2}-\d{2}T/.test(date) ? date.slice(0, 10) : date;
}

function valueText(e: Evidence): string {
  if (e.value === undefined) return '';
  // A unit on a text value ("1:640" titre, "positive") says nothing the value does not.
  const unit = e.unit && typeof e.value === 'number' ? unitText(e.unit) : '';
  if (!unit) return String(e.value);
  return unit === '%' ? `${e.value}%` : `${e.value} ${unit}`;
}

/** Statuses the engine puts in `value` for medications and conditions, which read with their start date. */
const ONGOING = new Set(['current', 'active']);

/** "Hemoglobin: 112 g/L (recorded 11.2 g/dL), 2026-11-16": a value as a clinician reads it, without ids. */
function describeEvidence(e: Evidence, label = ''): string {
  const value = valueText(e);
  const recorded = e.recorded ? ` (recorded ${e.recorded})` : '';
  let when = '';
  if (e.date) when = typeof e.value === 'string' && ONGOING.has(e.value) ? ` since ${dateText(e.date)}` : `, ${dateText(e.date)}`;
  const note = e.note ? ` — ${e.note}` : '';
  const said = `${value}${recorded}${when}`.replace(/^, /, '');
  // "Age ≥ 5 years: 12 years", not "Age ≥ 5 years: Age: 12 years".
  const name = said && label.toLowerCase().startsWith(e.display.toLowerCase()) ? '' : e.display;
  return `${name}${name && said ? ': ' : ''}${said}${note}`;
}

function leaves(p: PartResult, out: PartResult[] = []): PartResult[] {
  if (!p.parts) out.push(p);
  else for (const x of p.parts) leaves(x, out);
  return out;
}

/** The parts of a criterion still open with this outcome, as the trace lists them. */
function openParts(c: CriterionResult, outcome: 'unknown' | 'review'): PartResult[] {
  return c.open.filter((p) => p.outcome === outcome);
}

/** The protocol text cut to its first clause, for one line of a card. */
function shortText(text: string): string {
  const first = (text.split(/[;:]\s/)[0] ?? text).replace(/[;.]$/, '');
  return first.length > 90 ? `${first.slice(0, 87).replace(/\s+\S*$/, '')}…` : first;
}

const MARKDOWN_SPECIAL = /[\\*_`[\]<>|#]/;
const MARKDOWN_SPECIALS = new RegExp(MARKDOWN_SPECIAL.source, 'g');

function escapeMd(s: string): string {
  return MARKDOWN_SPECIAL.test(s) ? s.replace(MARKDOWN_SPECIALS, '\\$&') : s;
}

function bullet(text: string): string {
  return `- ${escapeMd(text)}`;
}

function distinct(values: readonly string[]): string[] {
  return [...new Set(values)];
}

/** What would settle an unknown criterion, in the engine's words ("Haemoglobin in the last 30 days"). */
function missingData(c: CriterionResult): string[] {
  return c.missing.length > 0 ? c.missing : openParts(c, 'unknown').map((p) => p.label);
}

/** Review leaves that point at something in the record (a past rituximab course): to look at first. */
function flaggedInRecord(c: CriterionResult): PartResult[] {
  return openParts(c, 'review').filter((p) => p.evidence.length > 0);
}

/**
 * The one reason the summary gives: the first missing datum, else the first record finding to judge,
 * else that the record meets everything it can show and how many items the study team confirms.
 */
function headline(e: TrialEvaluation): string {
  const needs = distinct(e.criteria.filter((c) => c.outcome === 'unknown').flatMap(missingData));
  // A plain datum ("SLEDAI-2K total score in the last 3 months") reads better than an explained one
  // ("Systemic glucocorticoids: no body weight …"), so it leads when there is one.
  const lead = needs.find((n) => !n.includes(': ')) ?? needs[0];
  if (lead) return `needs ${lead}${needs.length > 1 ? ` and ${needs.length - 1} other item${needs.length > 2 ? 's' : ''}` : ''}`;
  const flagged = e.criteria.flatMap(flaggedInRecord)[0];
  if (flagged) return `check ${flagged.label.charAt(0).toLowerCase()}${flagged.label.slice(1)}`;
  const reviews = e.criteria.filter((c) => c.review).length;
  return `all criteria the record can show are met; ${reviews} to confirm`;
}

function summaryOf(trial: CompiledTrial, e: TrialEvaluation): string {
  const full = `${STATUS_WORDS[e.status]}: ${trial.shortTitle} — ${headline(e)}`;
  if (full.length < 140) return full;
  return `${full.slice(0, 136).replace(/\s+\S*$/, '')}…`;
}

/** How a review leaf is settled, when its label does not say it ("at screening"). */
function reviewNote(p: PartResult): string {
  if (p.kind !== 'review') return p.evidence.length > 0 ? p.evidence.map((x) => describeEvidence(x)).join('; ') : p.reason;
  const why = /\(([^)]+)\)$/.exec(p.reason)?.[1];
  if (why === 'screening-test') return 'at screening';
  if (why === 'not-coded') return 'not coded: check the notes';
  return '';
}

/**
 * One line per criterion for the study team: its open items, those settled the same way sharing one note
 * ("HCV RNA detectable, CMV DNA detectable (not in the record …: checked at screening)").
 */
function reviewLine(c: CriterionResult): string {
  const groups = new Map<string, string[]>();
  for (const p of openParts(c, 'review')) {
    const note = reviewNote(p);
    groups.set(note, [...(groups.get(note) ?? []), p.label]);
  }
  const segments = [...groups].map(([note, labels]) => `${labels.join(note ? ', ' : '; ')}${note ? ` (${note})` : ''}`);
  return bullet(`${criterionName(c)} — ${segments.join('; ')}`);
}

/** A met inclusion in one line: the parts that met it, each with at most two values. */
function metLine(c: CriterionResult): string {
  const all: PartResult[] = [];
  for (const p of c.parts) leaves(p, all);
  const met = all.filter((p) => p.outcome === 'met' && p.kind !== 'review');
  const said = met.slice(0, 2).map((p) => {
    const ev = p.evidence.slice(0, 2).map((x) => describeEvidence(x, p.label)).join('; ');
    return `${p.label}${ev ? `: ${ev}` : ''}`;
  });
  return bullet(`${criterionName(c)} — ${said.length > 0 ? said.join('; ') : shortText(c.text)}`);
}

/**
 * The card's markdown, in the order a clinician acts on it: what is missing, what to review (record
 * findings first), then what was met, collapsed. References stay in the extension, not in this text.
 */
function detailOf(trial: CompiledTrial, e: TrialEvaluation, provenance: readonly DataProvenance[]): string {
  const lines: string[] = [];
  const design = /^not stated/i.test(trial.phase) ? trial.studyType : `${trial.studyType}, ${trial.phase}`;
  lines.push(`**${STATUS_WORDS[e.status]}** for ${escapeMd(trial.title)} (${escapeMd(design)}). A screening aid: the study team decides eligibility.`);
  const unavailable = provenance.filter((p) => p.origin === 'unavailable');
  if (unavailable.length > 0) {
    lines.push('', `**Could not be read from the EHR:** ${unavailable.map((p) => p.resourceType).join(', ')}. Criteria that need them are shown as missing.`);
  }
  const partial = provenance.filter((p) => p.partial);
  if (partial.length > 0) {
    lines.push('', `**The EHR sent only part of:** ${partial.map((p) => p.resourceType).join(', ')}. What it sent counts; criteria that need the rest are shown as missing.`);
  }
  const missing = e.criteria.filter((c) => c.outcome === 'unknown');
  if (missing.length > 0) {
    lines.push('', '**Missing data that would decide it**');
    for (const c of missing) {
      for (const p of openParts(c, 'unknown')) lines.push(bullet(`${criterionName(c)} — ${p.label}: ${p.reason}`));
    }
  }
  // Record findings to judge come first; the rest keep the protocol's order.
  const toReview = e.criteria.filter((c) => c.review);
  const review = [...toReview.filter((c) => flaggedInRecord(c).length > 0), ...toReview.filter((c) => flaggedInRecord(c).length === 0)];
  if (review.length > 0) {
    lines.push('', '**For the study team to review**');
    for (const c of review) lines.push(reviewLine(c));
  }
  const metInclusions = e.criteria.filter((c) => c.type === 'inclusion' && c.outcome === 'met');
  const clearExclusions = e.criteria.filter((c) => c.type === 'exclusion' && c.outcome === 'not-met');
  if (metInclusions.length > 0 || clearExclusions.length > 0) {
    lines.push('', '**Criteria met**');
    for (const c of metInclusions) lines.push(metLine(c));
    if (clearExclusions.length > 0) {
      const items = clearExclusions.map((c) => c.item);
      lines.push(bullet(`Exclusion${items.length > 1 ? 's' : ''} ${items.join(', ')} — none found in the record`));
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
