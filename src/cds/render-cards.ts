import { randomUUID } from 'node:crypto';
import type { TrialEvaluation } from '../engine/types.js';
import type { DataProvenance } from '../data/gather-patient-data.js';
import type { MappingSet } from '../mappings/compiled.js';
import { detailOf } from './cards/detail.js';
import { rankNeeds } from './cards/needs.js';
import { orderSuggestion, type Suggestion } from './cards/suggestions.js';
import { summaryOf } from './cards/summary.js';
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
}

/**
 * Machine-readable status and per-criterion results (issue #11 item 1), compact so that the typical hook
 * response stays under 8 KiB: each criterion's `id` (its type is the id's `inc-`/`exc-` prefix, which the
 * mapping schema enforces: `type` is left out for size), its three-valued `result`, and `review: true` when
 * the study team settles part of it (absent means false). The evidence, missing data and how each was read are
 * not repeated here: `POST /trials/$evaluate` and the app carry the full trace.
 */
function extensionOf(e: TrialEvaluation): Record<string, unknown> {
  return {
    [EXTENSION_KEY]: {
      trialId: e.trialId,
      ...(e.nctId ? { nctId: e.nctId } : {}),
      status: e.status,
      evaluatedAt: e.evaluatedAt,
      criteria: e.criteria.map((c) => ({ id: c.id, result: c.result, ...(c.review ? { review: true } : {}) })),
    },
  };
}

/**
 * One card per trial that is likely or possibly eligible, likely first; none for ineligible trials, so none
 * at all for a patient without SLE. Every field is filled: CDS Hooks forbids empty or null values.
 */
export function renderCards(
  mappings: Pick<MappingSet, 'trials' | 'orderables'>,
  evaluations: readonly TrialEvaluation[],
  provenance: readonly DataProvenance[],
  options: RenderOptions,
): Card[] {
  const newId = options.newId ?? randomUUID;
  const byId = new Map(mappings.trials.map((t) => [t.id, t]));
  const { byTrial } = rankNeeds(evaluations, mappings.orderables);
  const rank = { 'likely-eligible': 0, 'possibly-eligible': 1, ineligible: 2 } as const;
  const app = `${options.publicBaseUrl}${SMART_LAUNCH_PATH}`;
  return evaluations
    .filter((e) => e.status !== 'ineligible')
    .sort((a, b) => rank[a.status] - rank[b.status])
    .map((e) => {
      const trial = byId.get(e.trialId);
      if (!trial) throw new Error(`evaluation for unknown trial ${e.trialId}`);
      const needs = byTrial.get(e.trialId) ?? [];
      const suggestion = orderSuggestion(trial, e, needs, options.patientId, newId);
      const card: Card = {
        uuid: newId(),
        summary: summaryOf(trial, e, needs),
        detail: detailOf(trial, e, needs, provenance),
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
      if (suggestion) {
        card.suggestions = [suggestion];
        // Required with suggestions (CDS Hooks 2.0 §Card Attributes); one suggestion, so at most one.
        card.selectionBehavior = 'at-most-one';
      }
      return card;
    });
}
