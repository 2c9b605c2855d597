import { dirname, resolve } from 'node:path';
import type { SharedState } from '../shared-state.js';
import { AuditFile } from './audit-file.js';
import { EmbeddedFeedbackStore } from './feedback-store.js';
import { journalEntry } from './journal-entries.js';
import { Journal } from './journal.js';
import { EmbeddedReplayStore } from './replay-store.js';
import { EmbeddedScreeningStore } from './screening-store.js';
import { EmbeddedSuppressionStore } from './suppression-store.js';
import { EmbeddedTerminologyCache } from './terminology-cache.js';
import { EmbeddedSiteStatusStore } from './site-status-store.js';

export interface StateLog {
  warn(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
}

export interface EmbeddedOptions {
  feedbackFile: string;
  auditFile: string;
  /** Population screening results and patient states (SCREENING_FILE); default `screening.jsonl` beside the journal. */
  screeningFile?: string;
  maxCards: number;
  /** Feedback kept item by item for at most this many days, then only in the counts (FEEDBACK_RETENTION_DAYS). */
  feedbackRetentionDays?: number;
  jtiCacheSize: number;
  jtiIssuerQuota: number;
  /** Terminology server answers kept in memory (TERMINOLOGY_CACHE_SIZE). */
  terminologyCacheSize?: number;
  log: StateLog;
  now?: () => Date;
}

export interface EmbeddedState extends SharedState {
  readonly kind: 'embedded';
  /** What start-up read from the journal. */
  readonly stats: { cards: number; feedback: number; counts: number; suppressions: number; skippedLines: number };
}

/**
 * The default shared state (no DATABASE_URL): one journal for cards, feedback and suppressions, owned by this
 * process (lock file), read as a stream at start; the replay store in memory; the audit trail in its own file.
 */
export async function openEmbeddedState(options: EmbeddedOptions): Promise<EmbeddedState> {
  const now = options.now ?? (() => new Date());
  const stats = { cards: 0, feedback: 0, counts: 0, suppressions: 0, skippedLines: 0 };
  // The stores exist before the journal is read, so lines replay into them; they get the journal after.
  const feedback = new EmbeddedFeedbackStore(options.maxCards, options.feedbackRetentionDays);
  const suppressions = new EmbeddedSuppressionStore();
  const siteStatus = new EmbeddedSiteStatusStore();
  const { journal, stats: read } = await Journal.open(options.feedbackFile, (raw) => {
    const parsed = journalEntry.safeParse(raw);
    if (!parsed.success) return false;
    const e = parsed.data;
    switch (e.t) {
      case 'card':
        feedback.replayCard(e);
        stats.cards++;
        break;
      case 'feedback':
        feedback.replayFeedback(e);
        stats.feedback++;
        break;
      case 'suppression':
        suppressions.replay(e);
        stats.suppressions++;
        break;
      case 'counts':
        feedback.replayCounts(e);
        stats.counts++;
        break;
      case 'site-status':
        siteStatus.replay(e);
        break;
    }
    return true;
  });
  stats.skippedLines = read.skippedLines;
  // The count and the first line numbers, never the lines: they may hold what a hand edit put there (house rule 8).
  if (read.skippedLines > 0) options.log.warn({ journal: options.feedbackFile, skippedLines: read.skippedLines, lineNumbers: read.skippedLineNumbers }, 'feedback journal: lines that are not valid entries were skipped');

  // Screening results in a journal of their own (issue #19): a population job's lines never slow this one.
  const screening = new EmbeddedScreeningStore();
  const screeningFile = options.screeningFile ?? resolve(dirname(options.feedbackFile), 'screening.jsonl');
  let screeningJournal: Journal;
  try {
    const opened = await Journal.open(screeningFile, (raw) => screening.replay(raw));
    screeningJournal = opened.journal;
    if (opened.stats.skippedLines > 0) options.log.warn({ journal: screeningFile, skippedLines: opened.stats.skippedLines, lineNumbers: opened.stats.skippedLineNumbers }, 'screening journal: lines that are not valid entries were skipped');
  } catch (err) {
    journal.close();
    throw err;
  }

  let audit: AuditFile;
  try {
    audit = await AuditFile.open(options.auditFile);
  } catch (err) {
    journal.close();
    screeningJournal.close();
    throw err;
  }
  const compact = (): void => {
    journal.compactWhenIdle(() => {
      const at = now();
      return [...feedback.snapshot(at), ...suppressions.snapshot(at), ...siteStatus.snapshot()];
    });
    feedback.compacted();
  };
  feedback.attach(journal, compact);
  suppressions.attach(journal);
  siteStatus.attach(journal);
  screening.attach(screeningJournal);
  // Issue #20 item 4: a journal that grew with history is folded now, so the next start reads a small file.
  if (feedback.compactionDueAt(now())) compact();
  options.log.info({ journal: options.feedbackFile, cards: stats.cards, feedback: stats.feedback, counts: stats.counts, suppressions: stats.suppressions }, 'embedded shared state ready (one process; DATABASE_URL for replicas)');

  return {
    kind: 'embedded',
    stats,
    feedback,
    suppressions,
    replay: new EmbeddedReplayStore(options.jtiCacheSize, options.jtiIssuerQuota),
    audit,
    terminology: new EmbeddedTerminologyCache(options.terminologyCacheSize ?? 100_000),
    siteStatus,
    screening,
    patientStates: screening.patientStates,
    async check() {
      // Nothing remote to reach: the journal is open or the process would not have started.
    },
    async close() {
      journal.close();
      screeningJournal.close();
      await audit.close();
    },
  };
}
