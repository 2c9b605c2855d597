import { badRequest, notFound } from '../fhir/outcomes.js';
import { suppressionKey } from '../security/suppression-key.js';
import { normalizeFhirBase } from '../fhir/fhir-base-url.js';
import type { PatientState } from '../store/patient-states.js';
import type { CardFeedback, RememberedCard, SharedState } from '../store/shared-state.js';
import { overrideReason } from './override-reasons.js';
import { TRIAL_TOPIC_SYSTEM, type Card } from './render-cards.js';
import { ORDER_SUGGESTION_LABEL, trialsOfAction, type Suggestion } from './cards/suggestions.js';
import { REFERRAL_LABEL } from './cards/referral.js';

/** Who the cards are for: the suppression key's parts other than the trial. */
export interface CardAudience {
  issuer: string;
  fhirServer?: string | undefined;
  patientId: string;
}

/** What a feedback call recorded, as the route answers it (issue #12 item 3: never a silent 200-and-drop). */
export interface FeedbackAnswer {
  stored: number;
  duplicates: number;
  unknownCards: number;
  rejected: { card: string; why: string }[];
  /** Trials whose card this patient will not see again until `until` (an honoured override reason). */
  suppressed: { trialId: string; until: string }[];
}

/** The cards whose accepted feedback the store kept now or before (a retry): referrals act on these. */
export function acceptedCards(receipt: { accepted: { card: string; outcome: string }[]; repeated?: { card: string; outcome: string }[] }): Set<string> {
  return new Set([...receipt.accepted, ...(receipt.repeated ?? [])].filter((a) => a.outcome === 'accepted').map((a) => a.card.toLowerCase()));
}

/** What a feedback call was about, per patient, for the audit trail (issue #20 item 5): cards and trials. */
export interface FeedbackAbout {
  patientId?: string;
  cards: string[];
  trials: string[];
}

const DAY_MS = 24 * 60 * 60 * 1000;

/**
 * After the hook: drops the cards the patient's suppressions hide (an override reason that `suppresses`,
 * cds/override-reasons.ts), and remembers the rest (trial, offered reasons, suppression key, suggestions) so
 * feedback on them, on any replica, can be checked and attributed.
 */
export async function keepUnsuppressedCards(state: SharedState, secret: string, audience: CardAudience, cards: readonly Card[], now: Date): Promise<Card[]> {
  const keyed = cards.map((card) => ({ card, key: suppressionKey(secret, { ...audience, trialId: card.source.topic.code }) }));
  const hidden = await state.suppressions.active(
    keyed.map((k) => k.key),
    now,
  );
  const hiddenTrials = new Set(keyed.filter((k) => hidden.has(k.key)).map((k) => k.card.source.topic.code));
  const shown = rehomeOrders(
    keyed.map((k) => k.card),
    hiddenTrials,
  ).flatMap((card) => {
    const key = keyed.find((k) => k.card.uuid === card.uuid)?.key;
    return key && !hidden.has(key) ? [{ card, key }] : [];
  });
  await state.feedback.rememberCards(shown.map(({ card, key }) => rememberedCard(card, key, audience)));
  await offerReferrals(state, audience, shown.map((k) => k.card), now);
  return shown.map((k) => k.card);
}

/**
 * Issue #19 item 4: remembers which patient and trial each card's "Refer to the study team" is for, so that
 * feedback accepting it sets the worklist state. A hook without a fhirServer (prefetch only) names no server
 * a worklist could hold the patient under: its referrals are offered but not tracked.
 */
async function offerReferrals(state: SharedState, audience: CardAudience, cards: readonly Card[], now: Date): Promise<void> {
  const fhirServer = audience.fhirServer ? normalizeFhirBase(audience.fhirServer) : undefined;
  if (!fhirServer) return;
  const offers = cards.flatMap((card) =>
    (card.suggestions ?? []).filter((x) => x.label === REFERRAL_LABEL).map((x) => ({ suggestion: x.uuid, fhirServer, trialId: card.source.topic.code, patientId: audience.patientId, offeredAt: now.toISOString() })),
  );
  await state.patientStates.offerReferrals(offers);
}

/** The states a referral may replace: a coordinator's later or final word (declined, enrolled, ...) stands. */
const BEFORE_REFERRAL = new Set(['new', 'reviewed', 'contacted']);

/**
 * Accepted "Refer to the study team" suggestions (issue #19 item 4) mark their patient "referred" on the
 * trial's worklist, by whoever accepted them. Only items the feedback store kept (their card this service's,
 * the suggestion that card's) count.
 */
export async function recordReferrals(state: SharedState, feedback: readonly CardFeedback[], kept: ReadonlySet<string>, by: { issuer: string; subject: string }, now: Date): Promise<PatientState[]> {
  const ids = feedback.filter((f) => f.outcome === 'accepted' && kept.has(f.card.toLowerCase())).flatMap((f) => (f.acceptedSuggestions ?? []).map((x) => x.id));
  if (ids.length === 0) return [];
  const referred: PatientState[] = [];
  for (const offer of await state.patientStates.referralsOffered(ids)) {
    const current = (await state.patientStates.forTrial(offer.trialId, offer.fhirServer)).find((p) => p.patientId === offer.patientId);
    if (current && !BEFORE_REFERRAL.has(current.state)) continue;
    referred.push(await state.patientStates.set({ fhirServer: offer.fhirServer, trialId: offer.trialId, patientId: offer.patientId, state: 'referred', setBy: by, setAt: now.toISOString() }));
  }
  return referred;
}

/**
 * The draft orders are one suggestion for all cards (render-cards.ts). When a suppression hides trials, their
 * drafts go with them: each draft keeps only the shown trials it settles, a draft for hidden trials only is
 * dropped, and when the card that carried the suggestion is hidden it moves to the first shown card whose trial
 * a draft still settles (remembered there, so its feedback is attributed to the card the EHR showed).
 */
function rehomeOrders(cards: readonly Card[], hiddenTrials: ReadonlySet<string>): Card[] {
  const carrier = cards.find((c) => c.suggestions?.some(isOrders));
  const carried = carrier?.suggestions?.find(isOrders);
  if (hiddenTrials.size === 0 || !carrier || !carried) return [...cards];
  const actions = carried.actions
    .map((a) => ({ ...a, resource: { ...a.resource, reasonCode: (a.resource.reasonCode ?? []).filter((r) => !hiddenTrials.has(r.coding?.[0]?.code ?? '')) } }))
    .filter((a) => a.resource.reasonCode.length > 0);
  const trials = new Set(actions.flatMap((a) => trialsOfAction(a, TRIAL_TOPIC_SYSTEM)));
  const home = cards.find((c) => !hiddenTrials.has(c.source.topic.code) && trials.has(c.source.topic.code));
  // A card's own suggestions (the referral, issue #19 item 4) stay with it; only the draft orders move.
  const own = (c: Card): Suggestion[] => (c.suggestions ?? []).filter((x) => !isOrders(x));
  return cards.map((c) => {
    if (c === home) return withSuggestions(c, [{ ...carried, actions }, ...own(c)]);
    return c === carrier ? withSuggestions(c, own(c)) : c;
  });
}

function isOrders(s: Suggestion): boolean {
  return s.label.startsWith(ORDER_SUGGESTION_LABEL);
}

/** The card with these suggestions: both may be taken (`any`), one alone at most once (CDS Hooks 2.0 §Card Attributes). */
function withSuggestions(card: Card, suggestions: Suggestion[]): Card {
  const { suggestions: _s, selectionBehavior: _b, ...rest } = card;
  return suggestions.length === 0 ? rest : { ...rest, suggestions, selectionBehavior: suggestions.length > 1 ? 'any' : 'at-most-one' };
}

function rememberedCard(card: Card, key: string, audience: CardAudience): RememberedCard {
  return {
    uuid: card.uuid,
    trialId: card.source.topic.code,
    // Issue #20 item 4: only this issuer's feedback on the card is taken; the patient names it in the audit.
    issuer: audience.issuer,
    patientId: audience.patientId,
    overrideReasons: card.overrideReasons.map((r) => r.code),
    suppressionKey: key,
    // One card carries the draft orders for all of them (render-cards.ts; CDS Hooks 2.0 §Suggestion).
    ...(card.suggestions?.length ? { suggestions: card.suggestions.map((s) => s.uuid) } : {}),
  };
}

/**
 * CDS Hooks 2.0 §Feedback: records the items (each card's outcome once), then for every stored override whose
 * reason `suppresses`, hides that trial's card for that patient until now + suppressionDays. When nothing could
 * be recorded, the caller learns why: every item for an unknown card is a 404 (the card was never answered by
 * this service or has been forgotten), every item refused is a 400 naming the reasons.
 */
export async function recordFeedback(
  state: SharedState,
  serviceId: string,
  feedback: readonly CardFeedback[],
  now: Date,
  suppressionDays: number,
  by: { issuer: string; subject: string },
): Promise<{ answer: FeedbackAnswer; about: FeedbackAbout[]; referred: PatientState[] }> {
  // Issue #20 item 4: feedback counts only on cards this issuer was shown.
  const receipt = await state.feedback.record(serviceId, by.issuer, feedback, now);
  if (receipt.stored === 0 && receipt.duplicates === 0) {
    if (receipt.rejected.length > 0) throw badRequest(`no feedback recorded: ${receipt.rejected.map((r) => `card ${r.card}: ${r.why}`).join('; ')}`, ['feedback']);
    throw notFound('no feedback recorded: the cards named are not cards this service answered with (or they have been forgotten)');
  }
  const suppressed: FeedbackAnswer['suppressed'] = [];
  const until = new Date(now.getTime() + suppressionDays * DAY_MS);
  // Stored items, and repeated ones: an EHR retrying after a failed answer (feedback stored, suppression not
  // yet set) still gets its suppression; setting one again only keeps the later end.
  const seen = new Set<string>();
  for (const a of [...receipt.accepted, ...(receipt.repeated ?? [])]) {
    if (a.outcome !== 'overridden' || !a.reason || !a.suppressionKey || seen.has(a.suppressionKey)) continue;
    if (!overrideReason(a.reason)?.suppresses) continue;
    seen.add(a.suppressionKey);
    await state.suppressions.suppress(a.suppressionKey, until, a.reason);
    suppressed.push({ trialId: a.trialId, until: until.toISOString() });
  }
  const referred = await recordReferrals(state, feedback, acceptedCards(receipt), by, now);
  const answer = { stored: receipt.stored, duplicates: receipt.duplicates, unknownCards: receipt.unknownCards, rejected: receipt.rejected, suppressed };
  return { answer, about: feedbackAbout([...receipt.accepted, ...(receipt.repeated ?? [])]), referred };
}

/** The cards and trials feedback was taken on, grouped by their patient (one audit event per patient). */
function feedbackAbout(items: readonly { card: string; trialId: string; patientId?: string }[]): FeedbackAbout[] {
  const byPatient = new Map<string, FeedbackAbout>();
  for (const item of items) {
    const key = item.patientId ?? '';
    let about = byPatient.get(key);
    if (!about) {
      about = { ...(item.patientId ? { patientId: item.patientId } : {}), cards: [], trials: [] };
      byPatient.set(key, about);
    }
    if (!about.cards.includes(item.card)) about.cards.push(item.card);
    if (!about.trials.includes(item.trialId)) about.trials.push(item.trialId);
  }
  return [...byPatient.values()];
}

/** A FeedbackSummary as JSON: the Map's entries copied into an object with no prototype to poison. */
export function summaryJson(s: { trialId: string; accepted: number; overridden: number; overrideReasons: Map<string, number> }): Record<string, unknown> {
  const reasons = Object.create(null) as Record<string, number>;
  for (const [code, n] of s.overrideReasons) reasons[code] = n;
  return { trialId: s.trialId, accepted: s.accepted, overridden: s.overridden, overrideReasons: reasons };
}
