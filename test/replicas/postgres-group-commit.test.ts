import pg from 'pg';
import type { FastifyInstance } from 'fastify';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { openPostgresState } from '../../src/store/postgres/postgres-state.js';
import type { AuditEvent, SharedState } from '../../src/store/shared-state.js';
import { exampleBundle, testApp } from '../support/app.js';
import { hookRequest, patientIdOf, prefetchFor } from '../support/hook-request.js';
import { freePort } from '../support/loopback.js';
import { createDatabase, startReplica } from '../support/replica.js';

// Issue #21 item 5: the audit events and remembered cards of concurrent hooks are written in one INSERT per flush
// (src/store/postgres/write-batch.ts), and a hook is still answered only after its rows are committed.
const SERVICE = '/cds-services/trialmatch-sle';
const SECRET = 'group-commit-test-secret-0123456789';
const unavailable = inject('postgresUnavailable');
const quiet = { warn: () => undefined, info: () => undefined };

/**
 * Counts the statements that write audit_events or cards, on every pool of this process: the node-postgres
 * driver's Pool.query is wrapped (not the project's code), and restored after each test.
 */
function countWrites(): { readonly count: number; restore(): void } {
  const proto = pg.Pool.prototype as unknown as { query: (...args: unknown[]) => unknown };
  const original = proto.query;
  let count = 0;
  proto.query = function (this: unknown, ...args: unknown[]): unknown {
    const text = typeof args[0] === 'string' ? args[0] : ((args[0] as { text?: string } | undefined)?.text ?? '');
    if (/insert into (audit_events|cards)\b/i.test(text)) count++;
    return original.apply(this, args);
  };
  return {
    get count() {
      return count;
    },
    restore: () => {
      proto.query = original;
    },
  };
}

async function rows<T extends pg.QueryResultRow>(url: string, sql: string, params: unknown[] = []): Promise<T[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<T>(sql, params)).rows;
  } finally {
    await client.end();
  }
}

function hookBody(): Record<string, unknown> {
  const bundle = exampleBundle('sle-child-likely');
  return hookRequest(patientIdOf(bundle), { prefetch: prefetchFor(bundle) });
}

describe.skipIf(unavailable !== '')(`group commit on PostgreSQL${unavailable ? ` (skipped: ${unavailable})` : ''}`, () => {
  let url: string;
  let counter: ReturnType<typeof countWrites> | undefined;
  beforeAll(async () => {
    url = await createDatabase(inject('postgresUrl'), `group_commit_${process.pid}`);
  });
  afterEach(() => {
    counter?.restore();
    counter = undefined;
  });

  describe('through the app', () => {
    let app: FastifyInstance;
    beforeAll(async () => {
      app = testApp({}, { DATABASE_URL: url, SUPPRESSION_SECRET: SECRET });
      await app.ready();
    });
    afterAll(async () => app?.close());

    it('writes the audit events and cards of 24 concurrent hooks in fewer statements than hooks, losing none', async () => {
      const n = 24;
      const [before] = await rows<{ n: number }>(url, "select count(*)::int as n from audit_events where action = 'patient-view'");
      counter = countWrites();
      const responses = await Promise.all(Array.from({ length: n }, () => app.inject({ method: 'POST', url: SERVICE, payload: hookBody() })));
      const writes = counter.count;
      expect(responses.map((r) => r.statusCode)).toEqual(Array(n).fill(200));
      const uuids = responses.flatMap((r) => r.json<{ cards: { uuid: string }[] }>().cards.map((c) => c.uuid));
      expect(uuids.length).toBeGreaterThanOrEqual(n);
      // Answered means committed: every audit event and every card is in the database when the answers are in.
      const [after] = await rows<{ n: number }>(url, "select count(*)::int as n from audit_events where action = 'patient-view'");
      expect(after!.n - before!.n).toBe(n);
      const [stored] = await rows<{ n: number }>(url, 'select count(*)::int as n from cards where uuid = any($1::uuid[])', [uuids]);
      expect(stored!.n).toBe(uuids.length);
      // One INSERT per hook and table was 2n (48) statements.
      expect(writes).toBeLessThan(n);
    });

    it('finds the cards of batched hooks when feedback comes', async () => {
      const responses = await Promise.all(Array.from({ length: 8 }, () => app.inject({ method: 'POST', url: SERVICE, payload: hookBody() })));
      const feedback = responses.map((r) => ({ card: r.json<{ cards: { uuid: string }[] }>().cards[0]!.uuid, outcome: 'accepted', outcomeTimestamp: new Date().toISOString() }));
      const res = await app.inject({ method: 'POST', url: `${SERVICE}/feedback`, payload: { feedback } });
      expect(res.json()).toMatchObject({ stored: 8, unknownCards: 0, duplicates: 0 });
    });
  });

  describe('the store', () => {
    let state: SharedState;
    beforeAll(async () => {
      state = await openPostgresState({ databaseUrl: url, maxCards: 100_000, jtiIssuerQuota: 3, log: quiet });
    });
    afterAll(async () => state?.close());

    const event = (subject: string): AuditEvent => ({ at: new Date(), issuer: 'https://ehr.example.org', subject, action: 'evaluate', patientId: 'p1' });

    it('bounds a flush at 500 rows and writes the rest in the next ones', async () => {
      counter = countWrites();
      await Promise.all(Array.from({ length: 1200 }, (_, i) => state.audit.record(event(`bounded-${i}`))));
      expect(counter.count).toBe(3);
      const [got] = await rows<{ n: number }>(url, "select count(*)::int as n from audit_events where subject like 'bounded-%'");
      expect(got!.n).toBe(1200);
    });

    it('fails only the write the database refuses, not the hooks that shared its statement', async () => {
      const good = 'dddddddd-21a5-4e5b-9f8c-6b3f3a2b5c11';
      const results = await Promise.allSettled([
        state.audit.record(event('shared-1')),
        state.feedback.rememberCards([{ uuid: 'not-a-uuid', trialId: 'trial-x', issuer: 'https://ehr.example.org', overrideReasons: [] }]),
        state.feedback.rememberCards([{ uuid: good, trialId: 'trial-x', issuer: 'https://ehr.example.org', overrideReasons: ['declined'], suggestions: ['s1'] }]),
        state.audit.record(event('shared-2')),
      ]);
      expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled', 'fulfilled']);
      expect(await rows(url, "select subject from audit_events where subject like 'shared-%' order by subject")).toEqual([{ subject: 'shared-1' }, { subject: 'shared-2' }]);
      expect(await rows(url, 'select trial_id, override_reasons, suggestions from cards where uuid = $1', [good])).toEqual([{ trial_id: 'trial-x', override_reasons: ['declined'], suggestions: ['s1'] }]);
    });

    it('takes a write made as the previous flush ends (one caller writing after another, as a hook does)', async () => {
      // Each write comes a few microtasks after the one before committed: between the end of the flush loop and
      // the flush being marked done, a write that found a flush "under way" was left queued forever.
      for (const i of Array.from({ length: 30 }, (_, k) => k)) {
        await state.feedback.rememberCards([{ uuid: `eeeeeeee-21a5-4e5b-9f8c-${String(i).padStart(12, '0')}`, trialId: 'trial-s', issuer: 'https://ehr.example.org', overrideReasons: [] }]);
        await state.audit.record(event(`sequential-${i}`));
      }
      const [got] = await rows<{ n: number }>(url, "select count(*)::int as n from audit_events where subject like 'sequential-%'");
      expect(got!.n).toBe(30);
    }, 20_000);

    it('writes what is queued before it closes', async () => {
      const closing = await openPostgresState({ databaseUrl: url, maxCards: 100_000, jtiIssuerQuota: 3, log: quiet });
      const pending = Array.from({ length: 50 }, (_, i) => closing.audit.record(event(`closing-${i}`)));
      await closing.close();
      await Promise.all(pending);
      const [got] = await rows<{ n: number }>(url, "select count(*)::int as n from audit_events where subject like 'closing-%'");
      expect(got!.n).toBe(50);
    });
  });

  it('loses no audit event or card of an answered hook when the process is killed mid-load', async () => {
    const env = { DATABASE_URL: url, SUPPRESSION_SECRET: SECRET, AUTH_MODE: 'off', DEV_TRUST: '1' };
    const replica = await startReplica('killed', await freePort(), env);
    const [before] = await rows<{ n: number }>(url, "select count(*)::int as n from audit_events where action = 'patient-view'");
    const answered: string[][] = [];
    let killed = false;
    const calls = Array.from({ length: 40 }, async () => {
      try {
        const res = await fetch(`${replica.url}${SERVICE}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(hookBody()) });
        const json = (await res.json()) as { cards: { uuid: string }[] };
        if (res.status !== 200) return;
        answered.push(json.cards.map((c) => c.uuid));
        // Killed while the other hooks are still being evaluated and written.
        if (answered.length === 5 && !killed) {
          killed = true;
          replica.process.kill('SIGKILL');
        }
      } catch {
        // cut off by the kill: not answered
      }
    });
    await Promise.all(calls);
    await replica.stop('SIGKILL');
    expect(answered.length).toBeGreaterThanOrEqual(5);
    // The kill cut hooks off: some were never answered.
    expect(answered.length).toBeLessThan(40);
    const [after] = await rows<{ n: number }>(url, "select count(*)::int as n from audit_events where action = 'patient-view'");
    expect(after!.n - before!.n).toBeGreaterThanOrEqual(answered.length);
    const uuids = answered.flat();
    const [stored] = await rows<{ n: number }>(url, 'select count(*)::int as n from cards where uuid = any($1::uuid[])', [uuids]);
    expect(stored!.n).toBe(uuids.length);
    // Another process takes feedback on them.
    const next = testApp({}, { DATABASE_URL: url, SUPPRESSION_SECRET: SECRET });
    try {
      const feedback = answered.map((cards) => ({ card: cards[0]!, outcome: 'accepted', outcomeTimestamp: new Date().toISOString() }));
      const res = await next.inject({ method: 'POST', url: `${SERVICE}/feedback`, payload: { feedback } });
      expect(res.json()).toMatchObject({ stored: answered.length, unknownCards: 0 });
    } finally {
      await next.close();
    }
  });
});
