import type pg from 'pg';
import type { AuditEvent, RememberedCard } from '../shared-state.js';
import { boundedAuditEvent } from '../embedded/audit-file.js';

/** The most rows (audit events plus cards) one flush writes; what is queued beyond waits for the next flush. */
export const MAX_BATCH_ROWS = 500;

interface PendingWrite {
  audit?: AuditRow;
  cards?: readonly CardRow[];
  rows: number;
  resolve: () => void;
  reject: (err: unknown) => void;
}

/** The columns of audit_events (migrations 001, 003, 005), as json_to_recordset reads them. */
interface AuditRow {
  at: string;
  issuer: string;
  subject: string;
  action: string;
  patient_id: string | null;
  fhir_server: string | null;
  trials: readonly string[] | null;
  state: string | null;
  cards: readonly string[] | null;
}

/** The columns of cards (migrations 001, 003). */
interface CardRow {
  uuid: string;
  trial_id: string;
  override_reasons: readonly string[];
  suppression_key: string | null;
  suggestions: readonly string[];
  issuer: string | null;
  patient_id: string | null;
}

/**
 * One statement for both tables: two data-modifying CTEs commit together, so a flush is one round trip and one
 * transaction whatever it holds. The rows travel as two JSON arrays (json_to_recordset turns a JSON array into a
 * text[] column, PostgreSQL 10 and later), so no separator character is assumed absent from a value.
 */
const INSERT_BATCH = `with a as (
  insert into audit_events (at, issuer, subject, action, patient_id, fhir_server, trials, state, cards)
  select at, issuer, subject, action, patient_id, fhir_server, trials, state, cards
  from json_to_recordset($1::json) as x(at timestamptz, issuer text, subject text, action text, patient_id text, fhir_server text, trials text[], state text, cards text[])
), c as (
  insert into cards (uuid, trial_id, override_reasons, suppression_key, suggestions, issuer, patient_id)
  select uuid, trial_id, override_reasons, suppression_key, suggestions, issuer, patient_id
  from json_to_recordset($2::json) as y(uuid uuid, trial_id text, override_reasons text[], suppression_key text, suggestions text[], issuer text, patient_id text)
  on conflict (uuid) do nothing
) select 1`;

/** SQLSTATE classes and codes that mean "the database cannot be used now", not "this row is wrong". */
export const UNAVAILABLE_SQLSTATE = /^(08|53|57P0[123])/;
export const UNAVAILABLE_ERRNO = new Set(['ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'ETIMEDOUT', 'EHOSTUNREACH', 'EPIPE']);

/** True when the error says the database is down, full or unreachable (the same answer for every write). */
export function isUnavailable(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  const message = err instanceof Error ? err.message : '';
  return (typeof code === 'string' && (UNAVAILABLE_SQLSTATE.test(code) || UNAVAILABLE_ERRNO.has(code))) || /timeout exceeded when trying to connect|Connection terminated/i.test(message);
}

/**
 * Group commit for the per-hook writes on PostgreSQL (issue #21 item 5): the audit events and remembered cards
 * of concurrent hooks go in one INSERT per flush instead of one per hook and table. A flush starts at the end of
 * the event-loop turn in which the first write arrived when none is running (no timer), and the next one as soon
 * as the running one commits, taking what queued meanwhile (natural batching: the busier the service, the bigger
 * the batch), at most MAX_BATCH_ROWS rows. Each caller's promise resolves only after the statement holding its
 * rows committed, so a hook is still answered only after its audit event and cards are in the database
 * (docs/deployment.md). A failed flush rejects its writes with the error, as the one-statement-per-write code did;
 * when the error is about the data and not the database being unavailable, each write is tried again alone so
 * that one bad row fails its own caller only. close() writes what is queued.
 */
export class PostgresWriteBatch {
  private queue: PendingWrite[] = [];
  private running: Promise<void> | undefined;
  private scheduled = false;

  constructor(
    private readonly pool: pg.Pool,
    private readonly afterCards: () => void,
    private readonly maxRows = MAX_BATCH_ROWS,
  ) {}

  /** Resolves once the event is committed. */
  audit(event: AuditEvent): Promise<void> {
    // The same bounded fields as the embedded file (issue #20 item 5).
    const e = boundedAuditEvent(event);
    return this.add({
      audit: {
        at: e.at.toISOString(),
        issuer: e.issuer,
        subject: e.subject,
        action: e.action,
        patient_id: e.patientId ?? null,
        fhir_server: e.fhirServer ?? null,
        trials: e.trials ?? null,
        state: e.state ?? null,
        cards: e.cards ?? null,
      },
      rows: 1,
    });
  }

  /** Resolves once a response's cards are committed (a card already remembered is left as it is). */
  cards(cards: readonly RememberedCard[]): Promise<void> {
    if (cards.length === 0) return Promise.resolve();
    return this.add({
      cards: cards.map((c) => ({
        uuid: c.uuid,
        trial_id: c.trialId,
        override_reasons: c.overrideReasons,
        suppression_key: c.suppressionKey ?? null,
        suggestions: c.suggestions ?? [],
        issuer: c.issuer || null,
        patient_id: c.patientId ?? null,
      })),
      rows: cards.length,
    });
  }

  /** Writes everything queued, waiting for a flush under way (at shutdown, before the pool ends). */
  async drain(): Promise<void> {
    while (this.running || this.queue.length > 0) {
      if (!this.running) this.start();
      await this.running;
    }
  }

  private add(write: Omit<PendingWrite, 'resolve' | 'reject'>): Promise<void> {
    return new Promise((resolve, reject) => {
      this.queue.push({ ...write, resolve, reject });
      if (this.running || this.scheduled) return;
      // Writes made in this turn of the event loop (hooks answered together) join the first flush.
      this.scheduled = true;
      setImmediate(() => {
        this.scheduled = false;
        if (!this.running) this.start();
      });
    });
  }

  private start(): void {
    this.running = this.flushAll().finally(() => {
      this.running = undefined;
      // A write made after the loop saw the queue empty, but before this ran, found a flush "under way" and
      // scheduled none: it is flushed now rather than left waiting forever.
      if (this.queue.length > 0) this.start();
    });
  }

  private async flushAll(): Promise<void> {
    while (this.queue.length > 0) {
      let rows = 0;
      let n = 0;
      // At least one write, however many rows it holds (a response's cards are not split).
      while (n < this.queue.length && (n === 0 || rows + this.queue[n]!.rows <= this.maxRows)) rows += this.queue[n++]!.rows;
      const batch = this.queue.splice(0, n);
      await this.flush(batch);
    }
  }

  private async flush(batch: readonly PendingWrite[]): Promise<void> {
    try {
      await this.insert(batch);
    } catch (err) {
      if (batch.length === 1 || isUnavailable(err)) {
        for (const w of batch) w.reject(err);
        return;
      }
      // A row the database refuses must not fail the hooks that shared its statement: each alone.
      for (const w of batch) await this.flush([w]);
      return;
    }
    for (const w of batch) w.resolve();
  }

  private async insert(batch: readonly PendingWrite[]): Promise<void> {
    const audit = batch.flatMap((w) => (w.audit ? [w.audit] : []));
    const cards = batch.flatMap((w) => w.cards ?? []);
    await this.pool.query(INSERT_BATCH, [JSON.stringify(audit), JSON.stringify(cards)]);
    if (cards.length > 0) this.afterCards();
  }
}
