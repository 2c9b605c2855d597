import { closeSync, existsSync, fsync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { promisify } from 'node:util';
import { dirname } from 'node:path';
import { z } from 'zod';

export interface FeedbackSummary {
  trialId: string;
  accepted: number;
  overridden: number;
  overrideReasons: Record<string, number>;
}

/**
 * One feedback item as the store reads it (CDS Hooks 2.0 §Feedback; validated by cds/hook-request.ts's
 * feedbackSchema before it gets here). Only the reason's code is read, never the clinician's comment.
 */
export interface CardFeedback {
  card: string;
  outcome: 'accepted' | 'overridden';
  overrideReason?: { reason?: { code: string } };
  outcomeTimestamp: string;
}

export interface RememberedCard {
  uuid: string;
  trialId: string;
}

/** Feedback on cards, counted per trial. */
export interface FeedbackStore {
  /** Remembers which trial each card was for, so feedback (which names only the card) can be counted. */
  rememberCards(cards: readonly RememberedCard[]): void;
  /** Resolves once the feedback is stored (for the durable store: on disk); only then is it acknowledged. */
  record(serviceId: string, feedback: readonly CardFeedback[]): Promise<{ stored: number; unknownCards: number; duplicates?: number }>;
  summary(trialId: string): FeedbackSummary;
  /** Flushes and releases whatever the store holds open. */
  close?(): void;
}

/** One feedback item as kept: the reason code, never the clinician's free-text comment (it can hold patient data). */
const feedbackEntry = z.strictObject({
  t: z.literal('feedback'),
  service: z.string().min(1),
  card: z.uuid(),
  trialId: z.string().min(1),
  outcome: z.enum(['accepted', 'overridden']),
  reason: z.string().min(1).optional(),
  outcomeTimestamp: z.string().min(1),
  receivedAt: z.string().min(1),
});
const cardEntry = z.strictObject({ t: z.literal('card'), card: z.uuid(), trialId: z.string().min(1) });
const journalEntry = z.discriminatedUnion('t', [feedbackEntry, cardEntry]);
type FeedbackEntry = z.infer<typeof feedbackEntry>;

/**
 * In-memory counts and card -> trial map, bounded: the oldest remembered cards are forgotten first. The base
 * of the durable store; on its own it keeps nothing across a restart.
 */
export class MemoryFeedbackStore implements FeedbackStore {
  protected readonly cards = new Map<string, string>();
  private readonly counts = new Map<string, FeedbackSummary>();
  /** card + outcome + timestamp: an EHR retrying the same feedback is counted once. */
  private readonly seen = new Set<string>();

  constructor(protected readonly maxCards = 50_000) {}

  rememberCards(cards: readonly RememberedCard[]): void {
    for (const c of cards) this.rememberCard(c.uuid, c.trialId);
  }

  protected rememberCard(cardUuid: string, trialId: string): void {
    this.cards.delete(cardUuid);
    this.cards.set(cardUuid, trialId);
    if (this.cards.size > this.maxCards) {
      const oldest = this.cards.keys().next().value;
      if (oldest !== undefined) this.cards.delete(oldest);
    }
  }

  async record(serviceId: string, feedback: readonly CardFeedback[]): Promise<{ stored: number; unknownCards: number; duplicates: number }> {
    let stored = 0;
    let unknownCards = 0;
    let duplicates = 0;
    const accepted: FeedbackEntry[] = [];
    const receivedAt = new Date().toISOString();
    for (const f of feedback) {
      const trialId = this.cards.get(f.card);
      if (!trialId) {
        unknownCards++;
        continue;
      }
      const entry: FeedbackEntry = { t: 'feedback', service: serviceId, card: f.card, trialId, outcome: f.outcome, outcomeTimestamp: f.outcomeTimestamp, receivedAt };
      const reason = f.overrideReason?.reason?.code;
      if (f.outcome === 'overridden' && reason) entry.reason = reason;
      if (this.seen.has(dedupeKey(entry))) {
        duplicates++;
        continue;
      }
      // Marked at once, so a retry arriving while this one is being written is a duplicate too.
      this.seen.add(dedupeKey(entry));
      accepted.push(entry);
    }
    try {
      await this.persistFeedback(accepted);
    } catch (err) {
      for (const entry of accepted) this.seen.delete(dedupeKey(entry));
      throw err;
    }
    for (const entry of accepted) {
      this.count(entry);
      stored++;
    }
    return { stored, unknownCards, duplicates };
  }

  summary(trialId: string): FeedbackSummary {
    const s = this.counts.get(trialId);
    return s ? { ...s, overrideReasons: { ...s.overrideReasons } } : { trialId, accepted: 0, overridden: 0, overrideReasons: {} };
  }

  /** Durable stores write the entries before they are counted and acknowledged. */
  protected async persistFeedback(_entries: readonly FeedbackEntry[]): Promise<void> {}

  protected count(entry: FeedbackEntry): void {
    this.seen.add(dedupeKey(entry));
    const s = this.counts.get(entry.trialId) ?? { trialId: entry.trialId, accepted: 0, overridden: 0, overrideReasons: {} };
    if (entry.outcome === 'accepted') s.accepted++;
    else {
      s.overridden++;
      const reason = entry.reason ?? 'unspecified';
      s.overrideReasons[reason] = (s.overrideReasons[reason] ?? 0) + 1;
    }
    this.counts.set(entry.trialId, s);
  }
}

function dedupeKey(e: FeedbackEntry): string {
  return `${e.card}|${e.outcome}|${e.outcomeTimestamp}`;
}

export interface JournalStats {
  replayedCards: number;
  replayedFeedback: number;
  /** Lines that were not valid entries (e.g. a line cut short by a crash): skipped. */
  skippedLines: number;
}

/**
 * The durable default: an append-only JSON-lines journal. Feedback lines are written and fsynced before the
 * feedback is acknowledged (so a 200 means it is on disk); card -> trial lines are written without fsync (a
 * process crash keeps them, a power cut may lose the last few, which only makes later feedback on those cards
 * "unknown card"). The journal is replayed at start, and compacted atomically (write a temporary file, fsync,
 * rename, fsync the directory) when it holds many more card lines than are kept. One process per file.
 */
export class JournalFeedbackStore extends MemoryFeedbackStore {
  private fd: number;
  private cardLines = 0;
  private readonly allFeedback: FeedbackEntry[] = [];
  private endsMidLine = false;
  /** fsyncs in flight: compaction waits for them (it replaces the file descriptor). */
  private pendingSyncs = 0;
  private compactionDue = false;
  readonly stats: JournalStats = { replayedCards: 0, replayedFeedback: 0, skippedLines: 0 };

  constructor(
    private readonly file: string,
    maxCards = 100_000,
  ) {
    super(maxCards);
    mkdirSync(dirname(file), { recursive: true });
    this.replay();
    this.fd = openSync(file, 'a', 0o600);
    // A crash mid-write leaves a partial last line: end it, so the next entry starts on a line of its own.
    if (this.endsMidLine) writeSync(this.fd, '\n');
    if (this.cardLines > 2 * this.maxCards) this.compact();
  }

  /** One write for a response's cards, not one per card. */
  override rememberCards(cards: readonly RememberedCard[]): void {
    if (cards.length === 0) return;
    super.rememberCards(cards);
    this.append(cards.map((c) => ({ t: 'card', card: c.uuid, trialId: c.trialId })));
    this.cardLines += cards.length;
    if (this.cardLines > 2 * this.maxCards) this.compactWhenIdle();
  }

  /** Written, then fsynced without blocking the event loop; counted only once it is on disk. */
  protected override async persistFeedback(entries: readonly FeedbackEntry[]): Promise<void> {
    if (entries.length === 0) return;
    this.append(entries);
    this.allFeedback.push(...entries);
    this.pendingSyncs++;
    try {
      await fsyncAsync(this.fd);
    } finally {
      this.pendingSyncs--;
      if (this.pendingSyncs === 0 && this.compactionDue) this.compact();
    }
  }

  private compactWhenIdle(): void {
    if (this.pendingSyncs > 0) this.compactionDue = true;
    else this.compact();
  }

  close(): void {
    if (this.fd < 0) return;
    fsyncSync(this.fd);
    closeSync(this.fd);
    this.fd = -1;
  }

  /** Writes entries to the journal; callers that need them on disk fsync afterwards. */
  private append(entries: readonly object[]): void {
    if (this.fd < 0) throw new Error('the feedback store is closed');
    writeSync(this.fd, entries.map((e) => `${JSON.stringify(e)}\n`).join(''));
  }

  private replay(): void {
    if (!existsSync(this.file)) return;
    const text = readFileSync(this.file, 'utf8');
    this.endsMidLine = text.length > 0 && !text.endsWith('\n');
    for (const line of text.split('\n')) {
      if (line.trim() === '') continue;
      let parsed: z.infer<typeof journalEntry>;
      try {
        parsed = journalEntry.parse(JSON.parse(line));
      } catch {
        this.stats.skippedLines++;
        continue;
      }
      if (parsed.t === 'card') {
        super.rememberCard(parsed.card, parsed.trialId);
        this.cardLines++;
        this.stats.replayedCards++;
      } else {
        this.allFeedback.push(parsed);
        this.count(parsed);
        this.stats.replayedFeedback++;
      }
    }
  }

  /** Rewrites the journal with every feedback entry and the cards still remembered, atomically. */
  private compact(): void {
    const tmp = `${this.file}.compact-${process.pid}`;
    const lines = [...this.allFeedback, ...[...this.cards].map(([card, trialId]) => ({ t: 'card', card, trialId }))].map((e) => `${JSON.stringify(e)}\n`);
    const fd = openSync(tmp, 'w', 0o600);
    try {
      writeSync(fd, lines.join(''));
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    if (this.fd >= 0) closeSync(this.fd);
    renameSync(tmp, this.file);
    syncDirectory(dirname(this.file));
    this.fd = openSync(this.file, 'a', 0o600);
    this.cardLines = this.cards.size;
    this.compactionDue = false;
  }
}

const fsyncAsync = promisify(fsync);

function syncDirectory(dir: string): void {
  let fd = -1;
  try {
    fd = openSync(dir, 'r');
    fsyncSync(fd);
  } catch {
    // Some platforms cannot fsync a directory; the rename itself is still atomic.
  } finally {
    if (fd >= 0) closeSync(fd);
  }
}
