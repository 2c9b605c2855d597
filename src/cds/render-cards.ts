import { randomUUID } from 'node:crypto';
import { criterionFacts } from '../engine/evaluate-trial.js';
import { reviewReasonOf } from '../engine/open-parts.js';
import type { TrialEvaluation } from '../engine/types.js';
import type { PractitionerRole, Reference } from '@medplum/fhirtypes';
import type { DataProvenance } from '../data/gather-patient-data.js';
import type { MappingSet } from '../mappings/compiled.js';
import { detailOf } from './cards/detail.js';
import { rankNeeds } from './cards/needs.js';
import { referralSuggestion } from './cards/referral.js';
import { TRIALS_FHIR_BASE, practitionerRoleId } from '../trials/research-study.js';
import { screeningOrders, type Suggestion } from './cards/suggestions.js';
import { summaryOf } from './cards/summary.js';
import { shorten } from './cards/text.js';
import { siteLineOf } from './cards/site-line.js';
import type { TrialAvailability } from '../trials/site-info.js';
import { OVERRIDE_REASONS, OVERRIDE_REASON_SYSTEM } from './override-reasons.js';

/** The card extension key (CDS Hooks 2.0 §Extensions: reverse-domain keys). Documented in the README. */
export const EXTENSION_KEY = 'org.trialmatch-cds.eligibility';
export const TRIAL_TOPIC_SYSTEM = 'urn:trialmatch-cds:trial';
/** The SMART app that shows the whole check (issue #11 item 4), under the service's public base URL. */
export const SMART_LAUNCH_PATH = '/smart/launch.html';
export const SMART_LINK_LABEL = 'Open the full eligibility check';

export type CardLink = { label: string; url: string; type: 'absolute' } | { label: string; url: string; type: 'smart'; appContext: string };

export interface Card {
  uuid: string;
  summary: string;
  detail: string;
  indicator: 'info' | 'warning' | 'critical';
  source: { label: string; url: string; topic: { system: string; code: string; display: string } };
  links: CardLink[];
  overrideReasons: { system: string; code: string; display: string }[];
  suggestions?: Suggestion[];
  selectionBehavior?: 'at-most-one' | 'any';
  extension: Record<string, unknown>;
}

export interface RenderOptions {
  /** The service's public base URL without a trailing slash (config.publicBaseUrls[0]): the app's links. */
  publicBaseUrl: string;
  /** The hook's patient, the subject of any draft order. */
  patientId: string;
  newId?: () => string;
  /**
   * Each trial's availability at this site (src/trials/site-info.ts): a trial that does not recruit here gives
   * no card (issue #19 item 3), and a card names the site's study contact. Absent: every trial is shown.
   */
  availability?: ReadonlyMap<string, TrialAvailability>;
  /** Each card offers "Refer to the study team" (REFERRAL_SUGGESTIONS, issue #19 item 4). */
  referrals?: boolean;
}

/**
 * Machine-readable status and per-criterion results (issue #11 item 1), compact so that the typical hook
 * response stays under 8 KiB: each criterion's `id` (its type is the id's `inc-`/`exc-` prefix, which the
 * mapping schema enforces: `type` is left out for size), its three-valued `result`, `review: true` when
 * the study team settles part of it (absent means false), and the facts it holds in words (issue 18 item 4).
 * `statusReason` says why the status was chosen (issue 18 item 5): its most decisive code and the reasons in
 * words naming the criteria; every code and what each criterion waits on are in `POST /trials/$evaluate`. The evidence, missing data and how each was read are not
 * repeated here: `POST /trials/$evaluate` and the app carry the full trace.
 */
function extensionOf(e: TrialEvaluation): Record<string, unknown> {
  return {
    [EXTENSION_KEY]: {
      trialId: e.trialId,
      ...(e.nctId ? { nctId: e.nctId } : {}),
      status: e.status,
      statusReason: { code: e.statusReason.code, text: shorten(e.statusReason.text, 160) },
      evaluatedAt: e.evaluatedAt,
      criteria: e.criteria.map((c) => {
        const facts = criterionFacts(c).map((f) => f.text);
        return { id: c.id, result: c.result, ...(c.review ? { review: true } : {}), ...(facts.length > 0 ? { facts } : {}) };
      }),
    },
  };
}

/**
 * What still stands between a trial and "likely" (issue 18 item 6: ranked by how few open items remain):
 * each open part the record could decide, each judgement of the record, each finding and fact an exclusion
 * holds. Consent and screening-visit items are the same for every trial and do not rank.
 */
export function openItemCount(e: TrialEvaluation): number {
  let n = 0;
  for (const c of e.criteria) {
    n += criterionFacts(c).length;
    for (const p of c.open) {
      if (p.outcome === 'unknown' || p.evidence.length > 0 || (c.type === 'inclusion' && reviewReasonOf(p) === 'judgement')) n += 1;
    }
  }
  return n;
}

const STATUS_RANK = { 'likely-eligible': 0, 'possibly-eligible': 1, ineligible: 2 } as const;

/** Likely before possibly, then the fewest open items first; the mappings' order among equals. */
export function rankEvaluations(evaluations: readonly TrialEvaluation[]): TrialEvaluation[] {
  return evaluations
    .map((e, order) => ({ e, order, open: openItemCount(e) }))
    .sort((a, b) => STATUS_RANK[a.e.status] - STATUS_RANK[b.e.status] || a.open - b.open || a.order - b.order)
    .map((x) => x.e);
}

/**
 * One card per trial that is likely or possibly eligible, ranked (rankEvaluations); none for ineligible
 * trials, so none at all for a patient without SLE. Every field is filled: CDS Hooks forbids empty or null
 * values.
 *
 * The draft orders are ONE suggestion for all cards (issue 18 item 6), on the first card, in rank order,
 * whose trial waits on one of the tests. CDS Hooks 2.0 §Card attributes has suggestions belong to a card, and
 * the sandbox (like an EHR) shows each card's suggestions as buttons under that card and answers
 * `acceptedSuggestions` for that card's uuid, so feedback keeps working. A card of its own for the orders
 * was not chosen: it would have no trial for its source topic, its override reasons ("already screened for
 * this trial") would mean nothing on it, and it would add a card to every possibly-eligible patient's chart.
 */
export function renderCards(
  mappings: Pick<MappingSet, 'trials' | 'orderables'>,
  evaluations: readonly TrialEvaluation[],
  provenance: readonly DataProvenance[],
  options: RenderOptions,
): Card[] {
  const newId = options.newId ?? randomUUID;
  const byId = new Map(mappings.trials.map((t) => [t.id, t]));
  // A trial not recruiting here is left out before the tests are counted: a test only it needs is not offered.
  const here = options.availability ? evaluations.filter((e) => options.availability?.get(e.trialId)?.recruiting !== false) : evaluations;
  const { all, byTrial } = rankNeeds(here, mappings.orderables);
  const app = `${options.publicBaseUrl}${SMART_LAUNCH_PATH}`;
  const shown = rankEvaluations(here.filter((e) => e.status !== 'ineligible')).map((e) => {
    const trial = byId.get(e.trialId);
    if (!trial) throw new Error(`evaluation for unknown trial ${e.trialId}`);
    return { trial, evaluation: e, needs: byTrial.get(e.trialId) ?? [] };
  });
  const suggestion = screeningOrders(shown, all, options.patientId, newId, TRIAL_TOPIC_SYSTEM);
  const home = suggestion ? shown.find((t) => suggestion.actions.some((a) => (a.resource.reasonCode ?? []).some((r) => r.coding?.[0]?.code === t.trial.id))) : undefined;
  return shown.map(({ trial, evaluation: e, needs }) => {
    const card: Card = {
      uuid: newId(),
      summary: summaryOf(trial, e, needs),
      detail: detailOf(trial, e, needs, provenance, siteLineOf(options.availability?.get(trial.id))),
      indicator: 'info',
      // source.url: the service's own page, so the EHR's "Source" link leads somewhere (CDS Hooks 2.0 §Source).
      source: { label: 'TrialMatch CDS', url: `${options.publicBaseUrl}/`, topic: { system: TRIAL_TOPIC_SYSTEM, code: trial.id, display: trial.shortTitle } },
      links: [
        { label: trial.registry.label, url: trial.registry.url, type: 'absolute' },
        // CDS Hooks 2.0 §Link: a `smart` link launches the app in the patient's context; appContext names the trial.
        { label: SMART_LINK_LABEL, url: app, type: 'smart', appContext: JSON.stringify({ trialId: trial.id }) },
      ],
      overrideReasons: OVERRIDE_REASONS.map((r) => ({ system: OVERRIDE_REASON_SYSTEM, code: r.code, display: r.display })),
      extension: extensionOf(e),
    };
    // Issue #19 item 4: with REFERRAL_SUGGESTIONS every card shown (likely or possibly eligible) offers the
    // referral; the carrier of the draft orders offers both, and either or both may be taken (selectionBehavior
    // `any`, CDS Hooks 2.0 §Card Attributes); a card with one suggestion, at most one.
    const offered = [...(suggestion && home?.trial.id === trial.id ? [suggestion] : []), ...(options.referrals ? [referralSuggestion(trial, options.patientId, newId, TRIAL_TOPIC_SYSTEM, studyContactOf(trial.id, options))] : [])];
    if (offered.length > 0) {
      card.suggestions = offered;
      card.selectionBehavior = offered.length > 1 ? 'any' : 'at-most-one';
    }
    return card;
  });
}

/** The site's study contact for a trial, as a reference to the PractitionerRole the service publishes for it. */
function studyContactOf(trialId: string, options: RenderOptions): Reference<PractitionerRole> | undefined {
  const contact = options.availability?.get(trialId)?.contact;
  if (!contact) return undefined;
  return { reference: `${options.publicBaseUrl}${TRIALS_FHIR_BASE}/PractitionerRole/${practitionerRoleId({ id: trialId })}`, display: `${contact.name} (${contact.role})` };
}
