import type { SuppressionStore } from '../shared-state.js';
import type { SuppressionEntry } from './journal-entries.js';
import type { Journal } from './journal.js';

/**
 * Suppressions in memory, journaled (fsynced before the feedback that set them is acknowledged), so they
 * survive a restart. Expired ones are dropped at compaction.
 */
export class EmbeddedSuppressionStore implements SuppressionStore {
  private readonly until = new Map<string, { until: number; reason: string }>();

  private journal: Journal | undefined;

  /** Writes to the journal from now on (after start-up has replayed it into this store). */
  attach(journal: Journal): void {
    this.journal = journal;
  }

  replay(e: SuppressionEntry): void {
    this.set(e.key, Date.parse(e.until), e.reason);
  }

  async suppress(key: string, until: Date, reason: string): Promise<void> {
    if (this.journal) {
      const entry: SuppressionEntry = { t: 'suppression', key, until: until.toISOString(), reason };
      this.journal.append([entry]);
      await this.journal.sync();
    }
    this.set(key, until.getTime(), reason);
  }

  async active(keys: readonly string[], now: Date): Promise<Set<string>> {
    const t = now.getTime();
    return new Set(keys.filter((k) => (this.until.get(k)?.until ?? 0) > t));
  }

  *snapshot(now: Date): Generator<SuppressionEntry> {
    for (const [key, s] of this.until) {
      if (s.until > now.getTime()) yield { t: 'suppression', key, until: new Date(s.until).toISOString(), reason: s.reason };
    }
  }

  /** A later suppression for the same key never shortens an earlier, longer one. */
  private set(key: string, until: number, reason: string): void {
    const current = this.until.get(key);
    if (!current || current.until < until) this.until.set(key, { until, reason });
  }
}
