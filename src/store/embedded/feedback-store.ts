import type { CardFeedback, FeedbackReceipt, FeedbackStore, FeedbackSummary, RememberedCard } from '../shared-state.js';
import { admitFeedback, receiptItem } from '../judge-feedback.js';
import type { CardEntry, CountsEntry, FeedbackEntry } from './journal-entries.js';
import type { Journal } from './journal.js';

interface Counts {
  accepted: number;
  overridden: number;
  /** A Map: a reason code such as `__proto__` or `constructor` is a key like any other. */
  reasons: Map<string, number>;
}

const DAY_MS = 24 * 60 * 60 * 1000;

/**
 * Feedback counted per issuer and trial in Maps, with the card -> trial map bounded (the oldest cards are
 * forgotten first). With a journal, every card and feedback line is written there: feedback is fsynced before
 * it is counted and acknowledged; card lines are not fsynced (a power cut may lose the last few, which only
 * makes later feedback on them an unknown card). Without one (tests), nothing survives the process.
 *
 * Each card's outcome is counted once (issue #12 item 3: an `accepted` repeated with new timestamps pumped
 * the count): a second `accepted` (or `overridden`) for the same card is a duplicate, whatever its timestamp.
 *
 * Issue #20 item 4: a card is remembered with the issuer shown it, and only that issuer's feedback on it is
 * taken; counts are per issuer, and an issuer reads its own. The journal stays small: compaction keeps a
 * feedback line only while its card is remembered (a repeat must still be found a duplicate) and for at most
 * `retentionDays`; older lines are folded into one counts line per issuer and trial, and a card whose feedback
 * has been folded is forgotten (later feedback on it is an unknown card). A journal that grew with history (250
 * MiB failed start-up) is folded at the next start, and the service's memory no longer grows with feedback.
 */
export class EmbeddedFeedbackStore implements FeedbackStore {
  private readonly cards = new Map<string, RememberedCard>();
  /** Live counts, by issuer + trial: folded counts plus every kept line. */
  private readonly counts = new Map<string, Counts>();
  /** Counts of lines no longer kept (the journal's counts lines), by issuer + trial. */
  private readonly folded = new Map<string, Counts>();
  /** card + outcome: counted already. */
  private readonly counted = new Set<string>();
  private kept: FeedbackEntry[] = [];
  private cardLines = 0;
  private feedbackLines = 0;
  /** The earliest receivedAt among the kept lines (ms), so a line past the retention triggers compaction. */
  private oldestKept = Number.POSITIVE_INFINITY;

  private journal: Journal | undefined;
  /** Called when the journal has grown enough to be compacted: the owner compacts with every store's lines. */
  private onCompactionDue: (() => void) | undefined;

  constructor(
    private readonly maxCards: number,
    private readonly retentionDays: number = Number.POSITIVE_INFINITY,
  ) {}

  /** Writes to the journal from now on (after start-up has replayed it into this store). */
  attach(journal: Journal, onCompactionDue: () => void): void {
    this.journal = journal;
    this.onCompactionDue = onCompactionDue;
  }

  /** Replays one journal line (start-up). */
  replayCard(e: CardEntry): void {
    this.rememberCard({
      uuid: e.card,
      trialId: e.trialId,
      issuer: e.iss ?? '',
      overrideReasons: e.reasons ?? [],
      ...(e.patient ? { patientId: e.patient } : {}),
      ...(e.key ? { suppressionKey: e.key } : {}),
      ...(e.suggestions ? { suggestions: e.suggestions } : {}),
    });
    this.cardLines++;
  }

  replayFeedback(e: FeedbackEntry): void {
    const key = countedKey(e.card, e.outcome);
    if (this.counted.has(key)) return;
    this.counted.add(key);
    this.keep(e);
    this.addToCounts(this.counts, e.iss ?? '', e.trialId, e.outcome, e.reason);
  }

  replayCounts(e: CountsEntry): void {
    for (const into of [this.folded, this.counts]) addCounts(countsOf(into, e.iss ?? '', e.trialId), e);
  }

  /**
   * Whether the journal holds enough that is no longer needed to compact it: more lines than the cards kept
   * can need (a card has at most two counted outcomes), or a line a day past the retention (a day's slack, so
   * lines ageing out one by one do not compact the journal on every call).
   */
  compactionDueAt(now: Date): boolean {
    return this.cardLines > 2 * this.maxCards || this.feedbackLines > 3 * this.maxCards || this.oldestKept < this.retentionCutoff(now) - DAY_MS;
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

  async record(serviceId: string, issuer: string, feedback: readonly CardFeedback[], receivedAt: Date): Promise<FeedbackReceipt> {
    const receipt: FeedbackReceipt = { stored: 0, duplicates: 0, unknownCards: 0, rejected: [], accepted: [], repeated: [] };
    const entries: FeedbackEntry[] = [];
    for (const f of feedback) {
      const item = admitFeedback(receipt, f, this.cards.get(f.card), issuer);
      if (!item) continue;
      const key = countedKey(item.card, item.outcome);
      if (this.counted.has(key)) {
        receipt.duplicates++;
        receipt.repeated?.push(receiptItem(item));
        continue;
      }
      // Marked at once, so a retry arriving while this one is being written is a duplicate too.
      this.counted.add(key);
      const entry: FeedbackEntry = { t: 'feedback', service: serviceId, card: item.card, trialId: item.trialId, outcome: item.outcome, outcomeTimestamp: f.outcomeTimestamp, receivedAt: receivedAt.toISOString(), iss: issuer };
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
      if (this.journal) this.keep(e);
      this.addToCounts(this.counts, issuer, e.trialId, e.outcome, e.reason);
    }
    receipt.stored = entries.length;
    if (this.journal && this.compactionDueAt(receivedAt)) this.onCompactionDue?.();
    return receipt;
  }

  async summary(trialId: string, issuer: string): Promise<FeedbackSummary> {
    const c = this.counts.get(countsKey(issuer, trialId));
    return { trialId, accepted: c?.accepted ?? 0, overridden: c?.overridden ?? 0, overrideReasons: new Map(c?.reasons ?? []) };
  }

  /**
   * What compaction keeps: the counts of what it folds, the feedback lines still needed, and the cards still
   * remembered. Folds, at `now`, every line whose card is forgotten or that is older than the retention, and
   * forgets the cards whose feedback it folded (their repeats could no longer be found duplicates).
   */
  *snapshot(now: Date): Generator<object> {
    const cutoff = this.retentionCutoff(now);
    const kept: FeedbackEntry[] = [];
    const forget = new Set<string>();
    for (const e of this.kept) {
      const at = Date.parse(e.receivedAt);
      if (this.cards.has(e.card) && !(at < cutoff)) {
        kept.push(e);
        continue;
      }
      this.addToCounts(this.folded, e.iss ?? '', e.trialId, e.outcome, e.reason);
      forget.add(e.card);
    }
    for (const card of forget) {
      this.cards.delete(card);
      this.counted.delete(countedKey(card, 'accepted'));
      this.counted.delete(countedKey(card, 'overridden'));
    }
    this.kept = [];
    this.feedbackLines = 0;
    this.oldestKept = Number.POSITIVE_INFINITY;
    for (const e of kept) this.keep(e);
    for (const [key, c] of this.folded) yield countsLine(key, c);
    yield* this.kept;
    for (const c of this.cards.values()) yield cardLine(c);
  }

  compacted(): void {
    this.cardLines = this.cards.size;
  }

  private retentionCutoff(now: Date): number {
    return Number.isFinite(this.retentionDays) ? now.getTime() - this.retentionDays * DAY_MS : Number.NEGATIVE_INFINITY;
  }

  private keep(e: FeedbackEntry): void {
    this.kept.push(e);
    this.feedbackLines++;
    const at = Date.parse(e.receivedAt);
    if (at < this.oldestKept) this.oldestKept = at;
  }

  private rememberCard(c: RememberedCard): void {
    this.cards.delete(c.uuid);
    this.cards.set(c.uuid, c);
    if (this.cards.size > this.maxCards) {
      const oldest = this.cards.keys().next().value;
      if (oldest !== undefined) this.cards.delete(oldest);
    }
  }

  private addToCounts(into: Map<string, Counts>, issuer: string, trialId: string, outcome: 'accepted' | 'overridden', reason: string | undefined): void {
    const c = countsOf(into, issuer, trialId);
    if (outcome === 'accepted') c.accepted++;
    else {
      c.overridden++;
      const code = reason ?? 'unspecified';
      c.reasons.set(code, (c.reasons.get(code) ?? 0) + 1);
    }
  }
}

function countedKey(card: string, outcome: string): string {
  return `${card}|${outcome}`;
}

/** Issuer and trial as one Map key; NUL is in neither (an issuer is a URL, a trial id a mapping id). */
function countsKey(issuer: string, trialId: string): string {
  return `${issuer}\u0000${trialId}`;
}

function countsOf(into: Map<string, Counts>, issuer: string, trialId: string): Counts {
  const key = countsKey(issuer, trialId);
  let c = into.get(key);
  if (!c) {
    c = { accepted: 0, overridden: 0, reasons: new Map() };
    into.set(key, c);
  }
  return c;
}

function addCounts(c: Counts, e: CountsEntry): void {
  c.accepted += e.accepted;
  c.overridden += e.overridden;
  for (const [code, n] of e.reasons) c.reasons.set(code, (c.reasons.get(code) ?? 0) + n);
}

function countsLine(key: string, c: Counts): CountsEntry {
  const at = key.indexOf('\u0000');
  const issuer = key.slice(0, at);
  return { t: 'counts', ...(issuer ? { iss: issuer } : {}), trialId: key.slice(at + 1), accepted: c.accepted, overridden: c.overridden, reasons: [...c.reasons] };
}

function cardLine(c: RememberedCard): CardEntry {
  const line: CardEntry = { t: 'card', card: c.uuid, trialId: c.trialId, reasons: [...c.overrideReasons] };
  if (c.issuer) line.iss = c.issuer;
  if (c.patientId) line.patient = c.patientId;
  if (c.suppressionKey) line.key = c.suppressionKey;
  if (c.suggestions && c.suggestions.length > 0) line.suggestions = [...c.suggestions];
  return line;
}
