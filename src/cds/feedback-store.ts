import type { FeedbackRequest } from './hook-request.js';

export interface FeedbackSummary {
  trialId: string;
  accepted: number;
  overridden: number;
  overrideReasons: Record<string, number>;
}

/** Feedback on cards, counted per trial. */
export interface FeedbackStore {
  /** Remembers which trial a card was for, so feedback (which names only the card) can be counted. */
  rememberCard(cardUuid: string, trialId: string): void;
  record(serviceId: string, feedback: FeedbackRequest['feedback']): { stored: number; unknownCards: number };
  summary(trialId: string): FeedbackSummary;
}

/**
 * In-memory store, bounded: the oldest remembered cards are forgotten first. Feedback does not survive a
 * restart here; a durable store is its own piece of work (issue #6).
 */
export class MemoryFeedbackStore implements FeedbackStore {
  private readonly cards = new Map<string, string>();
  private readonly counts = new Map<string, FeedbackSummary>();

  constructor(private readonly maxCards = 50_000) {}

  rememberCard(cardUuid: string, trialId: string): void {
    this.cards.set(cardUuid, trialId);
    if (this.cards.size > this.maxCards) {
      const oldest = this.cards.keys().next().value;
      if (oldest !== undefined) this.cards.delete(oldest);
    }
  }

  record(_serviceId: string, feedback: FeedbackRequest['feedback']): { stored: number; unknownCards: number } {
    let stored = 0;
    let unknownCards = 0;
    for (const f of feedback) {
      const trialId = this.cards.get(f.card);
      if (!trialId) {
        unknownCards++;
        continue;
      }
      const s = this.summary(trialId);
      if (f.outcome === 'accepted') s.accepted++;
      else {
        s.overridden++;
        const reason = f.overrideReason?.reason?.code ?? 'unspecified';
        s.overrideReasons[reason] = (s.overrideReasons[reason] ?? 0) + 1;
      }
      this.counts.set(trialId, s);
      stored++;
    }
    return { stored, unknownCards };
  }

  summary(trialId: string): FeedbackSummary {
    return this.counts.get(trialId) ?? { trialId, accepted: 0, overridden: 0, overrideReasons: {} };
  }
}
