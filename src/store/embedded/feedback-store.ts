import type { CardFeedback, FeedbackReceipt, FeedbackStore, FeedbackSummary, RememberedCard } from '../shared-state.js';
import { admitFeedback, receiptItem } from '../judge-feedback.js';
import type { CardEntry, FeedbackEntry } from './journal-entries.js';
import type { Journal } from './journal.js';

interface Counts {
  accepted: number;
  overridden: number;
  /** A Map: a reason code such as `__proto__` or `constructor` is a key like any other. */
  reasons: Map<string, number>;
}

/**
 * Feedback counted per trial in Maps, with the card -> trial map bounded (the oldest cards are forgotten
 * first). With a journal, every card and feedback line is written there: feedback is fsynced before it is
 * counted and acknowledged; card lines are not fsynced (a power cut may lose the last few, which only makes
 * later feedback on them an unknown card). Without one (tests), nothing survives the process.
 *
 * Each card's outcome is counted once (issue #12 item 3: an `accepted` repeated with new timestamps pumped
 * the count): a second `accepted` (or `overridden`) for the same card is a duplicate, whatever its timestamp.
 */
export class EmbeddedFeedbackStore implements FeedbackStore {
  private readonly cards = new Map<string, RememberedCard>();
  private readonly counts = new Map<string, Counts>();
  /** card + outcome: counted already. */
  private readonly counted = new Set<string>();
  private readonly allFeedback: FeedbackEntry[] = [];
  private cardLines = 0;

  private journal: Journal | undefined;
  /** Called when the journal has grown enough to be compacted: the owner compacts with every store's lines. */
  private onCompactionDue: (() => void) | undefined;

  constructor(private readonly maxCards: number) {}

  /** Writes to the journal from now on (after start-up has replayed it into this store). */
  attach(journal: Journal, onCompactionDue: () => void): void {
    this.journal = journal;
    this.onCompactionDue = onCompactionDue;
  }

  /** Replays one journal line (start-up). */
  replayCard(e: CardEntry): void {
    this.rememberCard({ uuid: e.card, trialId: e.trialId, overrideReasons: e.reasons ?? [], ...(e.key ? { suppressionKey: e.key } : {}), ...(e.suggestions ? { suggestions: e.suggestions } : {}) });
    this.cardLines++;
  }

  replayFeedback(e: FeedbackEntry): void {
    this.allFeedback.push(e);
    this.count(e);
  }

  async rememberCards(cards: readonly RememberedCard[]): Promise<void> {
    if (cards.length === 0) return;
    for (const c of cards) this.rememberCard(c);
    if (!this.journal) return;
    // One write for the cards of every hook answered in this event-loop turn (group commit, issue #21 item 5).
    this.journal.appendInTurn(cards.map(cardLine));
    this.cardLines += cards.length;
    if (this.cardLines > 2 * this.maxCards) this.onCompactionDue?.();
  }

  async record(serviceId: string, feedback: readonly CardFeedback[], receivedAt: Date): Promise<FeedbackReceipt> {
    const receipt: FeedbackReceipt = { stored: 0, duplicates: 0, unknownCards: 0, rejected: [], accepted: [], repeated: [] };
    const entries: FeedbackEntry[] = [];
    for (const f of feedback) {
      const item = admitFeedback(receipt, f, this.cards.get(f.card));
      if (!item) continue;
      const key = countedKey(item.card, item.outcome);
      if (this.counted.has(key)) {
        receipt.duplicates++;
        receipt.repeated?.push(receiptItem(item));
        continue;
      }
      // Marked at once, so a retry arriving while this one is being written is a duplicate too.
      this.counted.add(key);
      const entry: FeedbackEntry = { t: 'feedback', service: serviceId, card: item.card, trialId: item.trialId, outcome: item.outcome, outcomeTimestamp: f.outcomeTimestamp, receivedAt: receivedAt.toISOString() };
      if (item.reason) entry.reason = item.reason;
      if (item.suggestions.length > 0) entry.suggestions = item.suggestions;
      entries.push(entry);
      receipt.accepted.push(receiptItem(item));
    }
    if (entries.length > 0 && this.journal) {
      try {
        this.journal.append(entries);
        await this.journal.sync();
      } catch (err) {
        for (const e of entries) this.counted.delete(countedKey(e.card, e.outcome));
        throw err;
      }
    }
    for (const e of entries) {
      if (this.journal) this.allFeedback.push(e);
      this.addToCounts(e);
    }
    receipt.stored = entries.length;
    return receipt;
  }

  async summary(trialId: string): Promise<FeedbackSummary> {
    const c = this.counts.get(trialId);
    return { trialId, accepted: c?.accepted ?? 0, overridden: c?.overridden ?? 0, overrideReasons: new Map(c?.reasons ?? []) };
  }

  /** What compaction keeps: every feedback line and the cards still remembered. */
  *snapshot(): Generator<object> {
    yield* this.allFeedback;
    for (const c of this.cards.values()) yield cardLine(c);
  }

  compacted(): void {
    this.cardLines = this.cards.size;
  }

  private rememberCard(c: RememberedCard): void {
    this.cards.delete(c.uuid);
    this.cards.set(c.uuid, c);
    if (this.cards.size > this.maxCards) {
      const oldest = this.cards.keys().next().value;
      if (oldest !== undefined) this.cards.delete(oldest);
    }
  }

  private count(e: FeedbackEntry): void {
    const key = countedKey(e.card, e.outcome);
    if (this.counted.has(key)) return;
    this.counted.add(key);
    this.addToCounts(e);
  }

  private addToCounts(e: FeedbackEntry): void {
    let c = this.counts.get(e.trialId);
    if (!c) {
      c = { accepted: 0, overridden: 0, reasons: new Map() };
      this.counts.set(e.trialId, c);
    }
    if (e.outcome === 'accepted') c.accepted++;
    else {
      c.overridden++;
      const reason = e.reason ?? 'unspecified';
      c.reasons.set(reason, (c.reasons.get(reason) ?? 0) + 1);
    }
  }
}

function countedKey(card: string, outcome: string): string {
  return `${card}|${outcome}`;
}

function cardLine(c: RememberedCard): CardEntry {
  const line: CardEntry = { t: 'card', card: c.uuid, trialId: c.trialId, reasons: [...c.overrideReasons] };
  if (c.suppressionKey) line.key = c.suppressionKey;
  if (c.suggestions && c.suggestions.length > 0) line.suggestions = [...c.suggestions];
  return line;
}
