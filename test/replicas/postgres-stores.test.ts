import { readdirSync } from 'node:fs';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { MIGRATIONS_DIR, migrate } from '../../src/store/postgres/migrate.js';
import { openPostgresState } from '../../src/store/postgres/postgres-state.js';
import type { SharedState } from '../../src/store/shared-state.js';
import { createDatabase } from '../support/replica.js';

/** The issuer the cards were shown to (issue #20 item 4: feedback is taken from that issuer only). */
const ISS = 'https://ehr.example.org';

// The PostgreSQL stores on their own (issue #12 item 3), against a real server.
const unavailable = inject('postgresUnavailable');
const quiet = { warn: () => undefined, info: () => undefined };
const CARD = 'aaaaaaaa-21a5-4e5b-9f8c-6b3f3a2b5c11';

describe.skipIf(unavailable !== '')(`the PostgreSQL stores${unavailable ? ` (skipped: ${unavailable})` : ''}`, () => {
  let url: string;
  let state: SharedState;
  beforeAll(async () => {
    url = await createDatabase(inject('postgresUrl'), `stores_${process.pid}`);
    state = await openPostgresState({ databaseUrl: url, maxCards: 1000, jtiIssuerQuota: 3, log: quiet });
  });
  afterAll(async () => state?.close());

  it('applies the migrations once when several start at the same moment', async () => {
    const pools = Array.from({ length: 4 }, () => new pg.Pool({ connectionString: url }));
    try {
      const results = await Promise.all(pools.map((p) => migrate(p)));
      expect(results.map((r) => r.applied)).toEqual([[], [], [], []]);
      const { rows } = await pools[0]!.query('select count(*)::int as n from schema_migrations');
      expect(rows[0].n).toBe(readdirSync(MIGRATIONS_DIR).filter((f) => f.endsWith('.sql')).length);
    } finally {
      await Promise.all(pools.map((p) => p.end()));
    }
  });

  it('shares terminology server answers until they expire, the newest answer for a key winning', async () => {
    const now = new Date('2026-11-23T10:00:00Z');
    await state.terminology.put([
      { key: 'k1', value: '{"op":"subsumes","outcome":"subsumes"}', expiresAt: new Date('2026-11-24T10:00:00Z') },
      { key: 'k2', value: '{"op":"validate-code","result":false}', expiresAt: new Date('2026-11-23T09:00:00Z') },
    ]);
    await state.terminology.put([
      { key: 'k1', value: '{"op":"subsumes","outcome":"not-subsumed"}', expiresAt: new Date('2026-11-24T10:00:00Z') },
      { key: 'k1', value: '{"op":"subsumes","outcome":"equivalent"}', expiresAt: new Date('2026-11-24T11:00:00Z') },
    ]);
    const got = await state.terminology.get(['k1', 'k2', 'k3'], now);
    expect([...got]).toEqual([['k1', '{"op":"subsumes","outcome":"equivalent"}']]);
    expect((await state.terminology.get(['k1'], new Date('2026-11-24T12:00:00Z'))).size).toBe(0);
  });

  it('takes feedback on a card only from the issuer shown it, counts per issuer, and names the card in the audit (issue #20 items 4 and 5)', async () => {
    const card = 'bbbbbbbb-21a5-4e5b-9f8c-6b3f3a2b5c11';
    const other = 'https://other-ehr.example.org';
    await state.feedback.rememberCards([{ uuid: card, trialId: 'trial-i', issuer: ISS, patientId: 'patient-i', overrideReasons: ['declined'], suppressionKey: 'c'.repeat(64) }]);
    const item = { card, outcome: 'overridden' as const, overrideReason: { reason: { code: 'declined' } }, outcomeTimestamp: '2026-11-23T10:00:00Z' };
    expect(await state.feedback.record('svc', other, [item], new Date())).toMatchObject({ stored: 0, unknownCards: 1, accepted: [] });
    expect(await state.feedback.record('svc', ISS, [item], new Date())).toMatchObject({ stored: 1, accepted: [{ card, trialId: 'trial-i', patientId: 'patient-i', suppressionKey: 'c'.repeat(64) }] });
    expect((await state.feedback.summary('trial-i', ISS)).overridden).toBe(1);
    expect((await state.feedback.summary('trial-i', other)).overridden).toBe(0);
    await state.audit.record({ at: new Date(), issuer: ISS, subject: 'client', action: 'feedback', patientId: 'patient-i', cards: [card], trials: ['trial-i'] });
    const pool = new pg.Pool({ connectionString: url });
    try {
      const { rows } = await pool.query("select patient_id, cards, trials from audit_events where action = 'feedback' order by id desc limit 1");
      expect(rows[0]).toEqual({ patient_id: 'patient-i', cards: [card], trials: ['trial-i'] });
    } finally {
      await pool.end();
    }
  });

  it('deletes feedback rows past FEEDBACK_RETENTION_DAYS and keeps their counts (issue #20 item 4)', async () => {
    const retained = await openPostgresState({ databaseUrl: url, maxCards: 1000, feedbackRetentionDays: 30, jtiIssuerQuota: 3, log: quiet });
    const pool = new pg.Pool({ connectionString: url });
    try {
      const card = 'cccccccc-21a5-4e5b-9f8c-6b3f3a2b5c11';
      await pool.query('insert into cards (uuid, trial_id, issuer) values ($1, $2, $3)', [card, 'trial-r', ISS]);
      const longAgo = new Date(Date.now() - 60 * 86_400_000);
      expect(await retained.feedback.record('svc', ISS, [{ card, outcome: 'accepted', outcomeTimestamp: longAgo.toISOString() }], longAgo)).toMatchObject({ stored: 1 });
      // Pruning runs off the request path after cards are remembered.
      await retained.feedback.rememberCards([{ uuid: 'dddddddd-21a5-4e5b-9f8c-6b3f3a2b5c11', trialId: 'trial-r', issuer: ISS, overrideReasons: [] }]);
      let left = 1;
      for (let i = 0; i < 50 && left > 0; i++) {
        await new Promise((r) => setTimeout(r, 100));
        left = (await pool.query<{ n: number }>('select count(*)::int as n from feedback where card = $1', [card])).rows[0]!.n;
      }
      expect(left).toBe(0);
      expect((await retained.feedback.summary('trial-r', ISS)).accepted).toBe(1);
    } finally {
      await pool.end();
      await retained.close();
    }
  });

  it('gives each issuer its own quota of live jtis, and overwrites an expired jti', async () => {
    const now = new Date('2026-11-23T10:00:00Z');
    const exp = new Date('2026-11-23T10:05:00Z');
    for (let i = 0; i < 3; i++) expect(await state.replay.check('https://noisy.example', `j${i}`, exp, now)).toBe('fresh');
    expect(await state.replay.check('https://noisy.example', 'j3', exp, now)).toBe('full');
    expect(await state.replay.check('https://noisy.example', 'j0', exp, now)).toBe('replayed');
    expect(await state.replay.check('https://quiet.example', 'j0', exp, now)).toBe('fresh');
    const later = new Date('2026-11-23T10:06:00Z');
    expect(await state.replay.check('https://noisy.example', 'j0', new Date('2026-11-23T10:11:00Z'), later)).toBe('fresh');
    expect(await state.replay.check('https://noisy.example', 'j9', new Date('2026-11-23T10:11:00Z'), later)).toBe('fresh');
  });

  it('counts poisoned reason codes as plain keys, a card\'s acceptance once, and refuses reasons the card did not offer', async () => {
    const reasons = ['__proto__', 'constructor', 'toString'];
    const cards = reasons.map((_, i) => `${i}b4bfa52-21a5-4e5b-9f8c-6b3f3a2b5c11`);
    await state.feedback.rememberCards(cards.map((uuid) => ({ uuid, trialId: 'trial-p', issuer: ISS, overrideReasons: reasons })));
    const receipt = await state.feedback.record('svc', ISS, cards.map((card, i) => ({ card, outcome: 'overridden' as const, overrideReason: { reason: { code: reasons[i]! } }, outcomeTimestamp: '2026-11-23T10:00:00Z' })), new Date());
    expect(receipt).toMatchObject({ stored: 3, rejected: [] });
    expect([...(await state.feedback.summary('trial-p', ISS)).overrideReasons].sort()).toEqual([['__proto__', 1], ['constructor', 1], ['toString', 1]]);
    const bad = await state.feedback.record('svc', ISS, [{ card: cards[0]!, outcome: 'overridden', overrideReason: { reason: { code: 'made-up' } }, outcomeTimestamp: '2026-11-23T10:01:00Z' }], new Date());
    expect(bad.rejected).toHaveLength(1);
    await state.feedback.rememberCards([{ uuid: CARD, trialId: 'trial-q', issuer: ISS, overrideReasons: [] }]);
    const pumped = await state.feedback.record('svc', ISS, Array.from({ length: 5 }, (_, i) => ({ card: CARD, outcome: 'accepted' as const, outcomeTimestamp: `2026-11-23T10:0${i}:00Z` })), new Date());
    expect(pumped).toMatchObject({ stored: 1, duplicates: 4 });
    expect((await state.feedback.summary('trial-q', ISS)).accepted).toBe(1);
    expect(await state.feedback.record('svc', ISS, [{ card: 'ffffffff-21a5-4e5b-9f8c-6b3f3a2b5c11', outcome: 'accepted', outcomeTimestamp: '2026-11-23T10:00:00Z' }], new Date())).toMatchObject({ unknownCards: 1 });
  });

  it('keeps the longer of two suppressions for one key', async () => {
    const key = 'c'.repeat(64);
    await state.suppressions.suppress(key, new Date('2027-03-01T00:00:00Z'), 'declined');
    await state.suppressions.suppress(key, new Date('2027-01-01T00:00:00Z'), 'already-screened');
    expect(await state.suppressions.active([key], new Date('2027-02-01T00:00:00Z'))).toEqual(new Set([key]));
    await state.check();
  });

  it('answers a database that refuses connections with a transient OperationOutcome (503), not a driver error', async () => {
    const admin = new pg.Client({ connectionString: inject('postgresUrl') });
    await admin.connect();
    const role = `tm_limited_${process.pid}`;
    const db = `limited_${process.pid}`;
    let limited: SharedState | undefined;
    try {
      await admin.query(`drop database if exists ${db}`);
      await admin.query(`drop role if exists ${role}`);
      await admin.query(`create role ${role} login`);
      await admin.query(`create database ${db} owner ${role}`);
      const url = new URL(inject('postgresUrl'));
      url.username = role;
      url.password = '';
      url.pathname = `/${db}`;
      limited = await openPostgresState({ databaseUrl: url.toString(), maxCards: 10, jtiIssuerQuota: 10, log: quiet });
      // No more connections for that role, and the ones it has are cut: the database is "down" for it.
      await admin.query(`alter role ${role} connection limit 0`);
      await admin.query('select pg_terminate_backend(pid) from pg_stat_activity where usename = $1', [role]);
      const failure = await limited.replay.check('https://ehr.example', 'j', new Date(Date.now() + 60_000), new Date()).catch((err: unknown) => err);
      expect(failure).toMatchObject({ outcome: { issue: [{ code: 'transient', diagnostics: expect.stringMatching(/database cannot be reached/) }] } });
    } finally {
      await limited?.close().catch(() => undefined);
      await admin.query(`drop database if exists ${db} with (force)`);
      await admin.query(`drop role if exists ${role}`);
      await admin.end();
    }
  });
});
