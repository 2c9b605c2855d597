import pg from 'pg';
import type { CardFeedback, FeedbackReceipt, FeedbackStore, FeedbackSummary, RememberedCard, ReplayStore, SharedState, SuppressionStore, TerminologyCache } from '../shared-state.js';
import { admitFeedback, receiptItem } from '../judge-feedback.js';
import { inTransaction } from './transaction.js';
import type { StateLog } from '../embedded/embedded-state.js';
import { serviceUnavailable } from '../../fhir/outcomes.js';
import { migrate } from './migrate.js';
import { PostgresWriteBatch, isUnavailable } from './write-batch.js';
import { PostgresSiteStatusStore } from './site-status-store.js';
import { PostgresPatientStateStore, PostgresScreeningStore } from './screening-store.js';

export interface PostgresOptions {
  databaseUrl: string;
  /** Cards remembered (the newest); older ones, and any older than CARD_RETENTION_DAYS, are pruned. */
  maxCards: number;
  /** Feedback rows older than this are deleted; the counts keep them (FEEDBACK_RETENTION_DAYS, issue #20 item 4). */
  feedbackRetentionDays?: number;
  jtiIssuerQuota: number;
  /** Called with the operation name for every failed database call (the /metrics counter). */
  onDatabaseError?: (operation: string) => void;
  log: StateLog;
  /** Pool size per replica. */
  maxConnections?: number;
}

/** Feedback on a card older than this is an unknown card (it was rendered weeks ago). */
const CARD_RETENTION_DAYS = 30;
/** Pruning (old cards, expired jtis) runs at most this often per replica, off the request path. */
const PRUNE_EVERY_MS = 10 * 60_000;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * The shared state on PostgreSQL (DATABASE_URL), for several replicas: migrations applied at start, feedback
 * and its counts written in one transaction, retries and repeats deduplicated by unique keys, replay checks
 * as one INSERT … ON CONFLICT, suppressions keyed by their HMAC key, the audit trail in its own table.
 */
export async function openPostgresState(options: PostgresOptions): Promise<SharedState> {
  const pool = new pg.Pool({ connectionString: options.databaseUrl, max: options.maxConnections ?? 10, connectionTimeoutMillis: 10_000 });
  // An idle client losing its connection must not crash the process; the next query reports the error.
  pool.on('error', (err) => options.log.warn({ err: { message: err.message } }, 'PostgreSQL: an idle connection failed'));
  try {
    const { applied } = await migrate(pool);
    options.log.info({ applied }, 'PostgreSQL shared state ready (migrations applied)');
  } catch (err) {
    await pool.end();
    throw err;
  }
  let lastPrune = 0;
  const prune = (): void => {
    const t = Date.now();
    if (t - lastPrune < PRUNE_EVERY_MS) return;
    lastPrune = t;
    void pruneState(pool, options.maxCards, options.feedbackRetentionDays).catch((err: Error) => options.log.warn({ err: { message: err.message } }, 'PostgreSQL: pruning old cards and expired jtis failed'));
  };
  // Counted (issue #12 item 6: database errors on /metrics), then answered as the guard says.
  const onError = options.onDatabaseError ?? ((): void => {});
  // Issue #21 item 5: the audit events and remembered cards of concurrent hooks share one INSERT.
  const writes = new PostgresWriteBatch(pool, prune);
  const feedback = new PostgresFeedbackStore(pool, writes);
  const suppressions = new PostgresSuppressionStore(pool);
  const replay = new PostgresReplayStore(pool, options.jtiIssuerQuota);
  const terminology = new PostgresTerminologyCache(pool);
  const siteStatus = new PostgresSiteStatusStore(pool);
  const screening = new PostgresScreeningStore(pool);
  const patientStates = new PostgresPatientStateStore(pool);
  return {
    kind: 'postgres',
    feedback: {
      rememberCards: (cards) => guard(feedback.rememberCards(cards), 'remember-cards', onError),
      record: (serviceId, issuer, items, receivedAt) => guard(feedback.record(serviceId, issuer, items, receivedAt), 'record-feedback', onError),
      summary: (trialId, issuer) => guard(feedback.summary(trialId, issuer), 'feedback-summary', onError),
    },
    suppressions: {
      suppress: (key, until, reason) => guard(suppressions.suppress(key, until, reason), 'suppress', onError),
      active: (keys, now) => guard(suppressions.active(keys, now), 'suppressions', onError),
    },
    replay: {
      check: (issuer, jti, expiresAt, now) => guard(replay.check(issuer, jti, expiresAt, now), 'replay-check', onError),
      size: () => guard(replay.size(), 'replay-size', onError),
    },
    audit: { record: (event) => guard(writes.audit(event), 'audit', onError) },
    terminology: {
      get: (keys, now) => guard(terminology.get(keys, now), 'terminology-cache-get', onError),
      put: (entries) => guard(terminology.put(entries), 'terminology-cache-put', onError),
    },
    siteStatus: {
      current: () => guard(siteStatus.current(), 'site-status-get', onError),
      set: (setting) => guard(siteStatus.set(setting), 'site-status-set', onError),
    },
    screening: {
      put: (entries) => guard(screening.put(entries), 'screening-put', onError),
      forTrial: (trialId, fhirServer) => guard(screening.forTrial(trialId, fhirServer), 'screening-for-trial', onError),
      digests: (fhirServer, patientIds) => guard(screening.digests(fhirServer, patientIds), 'screening-digests', onError),
    },
    patientStates: {
      set: (state) => guard(patientStates.set(state), 'patient-state-set', onError),
      forTrial: (trialId, fhirServer) => guard(patientStates.forTrial(trialId, fhirServer), 'patient-states', onError),
      offerReferrals: (offers) => guard(patientStates.offerReferrals(offers), 'referral-offers', onError),
      referralsOffered: (suggestions) => guard(patientStates.referralsOffered(suggestions), 'referrals-offered', onError),
    },
    async check() {
      await pool.query('select 1').catch((err: unknown) => {
        onError('check');
        throw err;
      });
    },
    async close() {
      // Shutdown writes what hooks queued before the pool goes.
      await writes.drain();
      await pool.end();
    },
  };
}

/**
 * A database that is down or full is the service's transient problem: an OperationOutcome the error handler
 * answers with 503 (and the client retries), never a 500 with the driver's message. Other errors pass as they are.
 */
async function guard<T>(work: Promise<T>, operation: string, onError: (operation: string) => void): Promise<T> {
  try {
    return await work;
  } catch (err) {
    onError(operation);
    if (isUnavailable(err)) {
      throw serviceUnavailable('the service\'s database cannot be reached; try again shortly');
    }
    throw err;
  }
}

async function pruneState(pool: pg.Pool, maxCards: number, feedbackRetentionDays: number | undefined): Promise<void> {
  await pool.query(`delete from cards where created_at < now() - make_interval(days => $1)`, [CARD_RETENTION_DAYS]);
  await pool.query('delete from cards where created_at < (select created_at from cards order by created_at desc offset $1 limit 1)', [maxCards]);
  // Issue #20 item 4: the same retention as the embedded journal. The counts were updated with each row, so
  // deleting rows keeps them; a card's counted outcomes go with the card (feedback on it is then an unknown card).
  if (feedbackRetentionDays !== undefined) await pool.query('delete from feedback where received_at < now() - make_interval(days => $1)', [feedbackRetentionDays]);
  await pool.query('delete from feedback_counted c where not exists (select 1 from cards where cards.uuid = c.card)');
  await pool.query('delete from replay where expires_at <= now()');
  await pool.query('delete from terminology_cache where expires_at <= now()');
}

class PostgresFeedbackStore implements FeedbackStore {
  constructor(
    private readonly pool: pg.Pool,
    private readonly writes: PostgresWriteBatch,
  ) {}

  /** A response's cards, in the next group commit (write-batch.ts); resolves once they are committed. */
  rememberCards(cards: readonly RememberedCard[]): Promise<void> {
    return this.writes.cards(cards);
  }

  async record(serviceId: string, issuer: string, feedback: readonly CardFeedback[], receivedAt: Date): Promise<FeedbackReceipt> {
    const receipt: FeedbackReceipt = { stored: 0, duplicates: 0, unknownCards: 0, rejected: [], accepted: [], repeated: [] };
    const uuids = [...new Set(feedback.map((f) => f.card).filter((c) => UUID.test(c)))];
    await inTransaction(this.pool, async (client) => {
      const rows = (
        await client.query<{ uuid: string; trial_id: string; override_reasons: string[]; suppression_key: string | null; suggestions: string[]; issuer: string | null; patient_id: string | null }>(
          'select uuid, trial_id, override_reasons, suppression_key, suggestions, issuer, patient_id from cards where uuid = any($1::uuid[])',
          [uuids],
        )
      ).rows;
      const cards = new Map<string, RememberedCard>(
        rows.map((r) => [
          r.uuid,
          {
            uuid: r.uuid,
            trialId: r.trial_id,
            issuer: r.issuer ?? '',
            overrideReasons: r.override_reasons.filter(Boolean),
            ...(r.suppression_key ? { suppressionKey: r.suppression_key } : {}),
            suggestions: r.suggestions.filter(Boolean),
            ...(r.patient_id ? { patientId: r.patient_id } : {}),
          },
        ]),
      );
      for (const f of feedback) {
        const item = admitFeedback(receipt, f, cards.get(f.card.toLowerCase()), issuer);
        if (!item) continue;
        // A card's outcome counts once: a retry, or the same outcome with a new timestamp, is a duplicate.
        const counted = await client.query('insert into feedback_counted (card, outcome) values ($1, $2) on conflict do nothing returning 1', [item.card, item.outcome]);
        if (counted.rowCount === 0) {
          receipt.duplicates++;
          receipt.repeated?.push(receiptItem(item));
          continue;
        }
        await client.query(
          `insert into feedback (service, card, trial_id, outcome, reason, accepted_suggestions, outcome_timestamp, received_at, issuer)
           values ($1, $2, $3, $4, $5, $6, $7, $8, $9) on conflict (card, outcome, outcome_timestamp) do nothing`,
          [serviceId, item.card, item.trialId, item.outcome, item.reason ?? null, item.suggestions, f.outcomeTimestamp, receivedAt, issuer],
        );
        await client.query(
          `insert into feedback_counts (issuer, trial_id, outcome, reason, count) values ($1, $2, $3, $4, 1)
           on conflict (issuer, trial_id, outcome, reason) do update set count = feedback_counts.count + 1`,
          [issuer, item.trialId, item.outcome, item.outcome === 'overridden' ? (item.reason ?? 'unspecified') : ''],
        );
        receipt.stored++;
        receipt.accepted.push(receiptItem(item));
      }
    });
    return receipt;
  }

  async summary(trialId: string, issuer: string): Promise<FeedbackSummary> {
    const { rows } = await this.pool.query<{ outcome: string; reason: string; count: string }>('select outcome, reason, count from feedback_counts where issuer = $1 and trial_id = $2', [issuer, trialId]);
    const summary: FeedbackSummary = { trialId, accepted: 0, overridden: 0, overrideReasons: new Map() };
    for (const r of rows) {
      const n = Number(r.count);
      if (r.outcome === 'accepted') summary.accepted += n;
      else {
        summary.overridden += n;
        summary.overrideReasons.set(r.reason, (summary.overrideReasons.get(r.reason) ?? 0) + n);
      }
    }
    return summary;
  }
}

class PostgresSuppressionStore implements SuppressionStore {
  constructor(private readonly pool: pg.Pool) {}

  async suppress(key: string, until: Date, reason: string): Promise<void> {
    // A later suppression never shortens an earlier, longer one.
    await this.pool.query(
      `insert into suppressions (key, until, reason) values ($1, $2, $3)
       on conflict (key) do update set until = excluded.until, reason = excluded.reason, set_at = now()
       where suppressions.until < excluded.until`,
      [key, until, reason],
    );
  }

  async active(keys: readonly string[], now: Date): Promise<Set<string>> {
    if (keys.length === 0) return new Set();
    const { rows } = await this.pool.query<{ key: string }>('select key from suppressions where key = any($1::text[]) and until > $2', [[...keys], now]);
    return new Set(rows.map((r) => r.key));
  }
}

class PostgresReplayStore implements ReplayStore {
  constructor(
    private readonly pool: pg.Pool,
    private readonly issuerQuota: number,
  ) {}

  async check(issuer: string, jti: string, expiresAt: Date, now: Date): Promise<'fresh' | 'replayed' | 'full'> {
    for (let attempt = 0; attempt < 2; attempt++) {
      // New, or overwriting an expired row for the same jti; refused while the issuer's live rows fill its quota.
      const inserted = await this.pool.query(
        `insert into replay (issuer, jti, expires_at)
         select $1, $2, $3 where (select count(*) from replay where issuer = $1 and expires_at > $4) < $5
         on conflict (issuer, jti) do update set expires_at = excluded.expires_at where replay.expires_at <= $4
         returning 1`,
        [issuer, jti, expiresAt, now, this.issuerQuota],
      );
      if (inserted.rowCount === 1) return 'fresh';
      const live = await this.pool.query('select 1 from replay where issuer = $1 and jti = $2 and expires_at > $3', [issuer, jti, now]);
      if (live.rowCount === 1) return 'replayed';
      if (attempt === 0) await this.pool.query('delete from replay where issuer = $1 and expires_at <= $2', [issuer, now]);
    }
    return 'full';
  }

  async size(): Promise<number> {
    const { rows } = await this.pool.query<{ n: string }>('select count(*) as n from replay where expires_at > now()');
    return Number(rows[0]?.n ?? 0);
  }
}

/** Terminology server answers shared by the replicas (migrations/002_terminology_cache.sql). */
class PostgresTerminologyCache implements TerminologyCache {
  constructor(private readonly pool: pg.Pool) {}

  async get(keys: readonly string[], now: Date): Promise<Map<string, string>> {
    if (keys.length === 0) return new Map();
    const { rows } = await this.pool.query<{ key: string; value: string }>('select key, value from terminology_cache where key = any($1::text[]) and expires_at > $2', [[...keys], now]);
    return new Map(rows.map((r) => [r.key, r.value]));
  }

  async put(entries: readonly { key: string; value: string; expiresAt: Date }[]): Promise<void> {
    // One row per key: ON CONFLICT cannot touch the same row twice in one statement.
    const unique = [...new Map(entries.map((e) => [e.key, e])).values()];
    if (unique.length === 0) return;
    await this.pool.query(
      `insert into terminology_cache (key, value, expires_at)
       select k, v, e from unnest($1::text[], $2::text[], $3::timestamptz[]) as x(k, v, e)
       on conflict (key) do update set value = excluded.value, expires_at = excluded.expires_at`,
      [unique.map((e) => e.key), unique.map((e) => e.value), unique.map((e) => e.expiresAt)],
    );
  }
}
