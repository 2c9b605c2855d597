import type { CardFeedback, FeedbackReceipt, RememberedCard } from './shared-state.js';

/** Longest override reason code kept (issue #12 item 3: unbounded codes filled the journal and memory). */
export const MAX_REASON_CODE_LENGTH = 64;

/** A feedback item the store will keep: what it says, and what the store knew of its card. */
export interface JudgedFeedback {
  card: string;
  trialId: string;
  outcome: 'accepted' | 'overridden';
  /** The override reason code; absent for an acceptance or an override without a reason. */
  reason?: string;
  /** Accepted suggestions (their uuids), each one the card offered. */
  suggestions: string[];
  suppressionKey?: string;
  /** The issuer the card was shown to (the caller of record()), and the card's patient. */
  issuer: string;
  patientId?: string;
}

export type Judgement = { kind: 'unknown-card' } | { kind: 'rejected'; why: string } | { kind: 'ok'; item: JudgedFeedback };

/**
 * The same rules for every store (CDS Hooks 2.0 §Feedback): the card must be one this service answered with;
 * an override's reason must be one of the reasons that card offered; accepted suggestions must be the card's.
 * A card remembered before the reasons were (an old journal line, `overrideReasons` empty) accepts any code
 * within the length bound.
 *
 * Issue #20 item 4: feedback is bound to the issuer that was shown the card. Another issuer naming the card's
 * uuid learns nothing and changes nothing (an unknown card: no count, no suppression); so does any issuer on a
 * card remembered before issuers were ('' never matches a caller).
 */
export function judgeFeedback(f: CardFeedback, card: RememberedCard | undefined, issuer: string): Judgement {
  if (!card || card.issuer === '' || card.issuer !== issuer) return { kind: 'unknown-card' };
  const item: JudgedFeedback = { card: card.uuid, trialId: card.trialId, outcome: f.outcome, suggestions: [], issuer };
  if (card.suppressionKey) item.suppressionKey = card.suppressionKey;
  if (card.patientId) item.patientId = card.patientId;
  if (f.outcome === 'overridden') {
    const reason = f.overrideReason?.reason?.code;
    if (reason !== undefined) {
      if (reason.length === 0 || reason.length > MAX_REASON_CODE_LENGTH) return { kind: 'rejected', why: `the override reason code must be 1 to ${MAX_REASON_CODE_LENGTH} characters` };
      if (card.overrideReasons.length > 0 && !card.overrideReasons.includes(reason)) {
        return { kind: 'rejected', why: `"${reason}" is not one of this card's overrideReasons (${card.overrideReasons.join(', ')})` };
      }
      item.reason = reason;
    }
  }
  for (const s of f.acceptedSuggestions ?? []) {
    if (!(card.suggestions ?? []).includes(s.id)) return { kind: 'rejected', why: 'an accepted suggestion is not one this card offered' };
    if (!item.suggestions.includes(s.id)) item.suggestions.push(s.id);
  }
  return { kind: 'ok', item };
}

/**
 * judgeFeedback for a store's record(): an unknown card or a refused item is noted on the receipt (and
 * undefined returned); an item to keep is returned for the store to count.
 */
export function admitFeedback(receipt: FeedbackReceipt, f: CardFeedback, card: RememberedCard | undefined, issuer: string): JudgedFeedback | undefined {
  const judged = judgeFeedback(f, card, issuer);
  if (judged.kind === 'unknown-card') receipt.unknownCards++;
  else if (judged.kind === 'rejected') receipt.rejected.push({ card: f.card, why: judged.why });
  else return judged.item;
  return undefined;
}

/** A kept item as the receipt reports it (the caller sets suppressions from it). */
export function receiptItem(item: JudgedFeedback): FeedbackReceipt['accepted'][number] {
  return { card: item.card, trialId: item.trialId, outcome: item.outcome, ...(item.reason ? { reason: item.reason } : {}), ...(item.suppressionKey ? { suppressionKey: item.suppressionKey } : {}), ...(item.patientId ? { patientId: item.patientId } : {}) };
}
