import { readdirSync } from 'node:fs';
import { resolve } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createDevTokenSigner, devTokenIssuer, type DevTokenSigner } from '../../src/security/dev-token.js';
import { loadTrustConfig } from '../../src/security/trust-config.js';
import { ROOT, exampleBundle } from '../support/app.js';
import { hookRequest, patientIdOf, prefetchFor } from '../support/hook-request.js';
import { freePort } from '../support/loopback.js';
import { createDatabase, startReplica, type Replica } from '../support/replica.js';

// Issue #12 item 4: two service processes on one PostgreSQL behave as one service.
const SERVICE = '/cds-services/trialmatch-sle';
const ZJU = 'zju-cd19-car-t-csle';
/** Both replicas are reached through one name, as behind a load balancer: a token's aud is that URL. */
const PUBLIC = 'http://cds.replicas.test';
const TRUST = resolve(ROOT, 'config', 'trust.example.json');
const unavailable = inject('postgresUnavailable');

describe.skipIf(unavailable !== '')(`two replicas on one PostgreSQL${unavailable ? ` (skipped: ${unavailable})` : ''}`, () => {
  let databaseUrl: string;
  let env: NodeJS.ProcessEnv;
  let a: Replica;
  let b: Replica;
  let signer: DevTokenSigner;

  beforeAll(async () => {
    databaseUrl = await createDatabase(inject('postgresUrl'), `replicas_${process.pid}`);
    env = { DATABASE_URL: databaseUrl, TRUST_CONFIG: TRUST, DEV_TRUST: '1', PUBLIC_BASE_URL: PUBLIC, SUPPRESSION_SECRET: 'replica-test-secret-0123456789abcdef', AUTH_MODE: 'on' };
    const issuer = devTokenIssuer(loadTrustConfig(TRUST).issuers);
    if (!issuer) throw new Error(`${TRUST} has no development issuer`);
    signer = createDevTokenSigner(issuer);
    // Started together: both run the migrations; the advisory lock lets one apply them.
    [a, b] = await Promise.all([startReplica('a', await freePort(), env), startReplica('b', await freePort(), env)]);
  });
  afterAll(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
  });

  const call = async (replica: Replica, method: 'GET' | 'POST', path: string, body?: unknown, token?: string) => {
    const res = await fetch(`${replica.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${token ?? (await signer.sign(`${PUBLIC}${path}`))}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      ...(body ? { body: JSON.stringify(body) } : {}),
    });
    const text = await res.text();
    return { status: res.status, json: text ? JSON.parse(text) : undefined };
  };
  const hook = (replica: Replica, id = 'sle-child-likely') => {
    const bundle = exampleBundle(id);
    return call(replica, 'POST', SERVICE, hookRequest(patientIdOf(bundle), { prefetch: prefetchFor(bundle) }));
  };
  const summary = async (replica: Replica, trialId: string) => (await call(replica, 'GET', `/trials/${trialId}/feedback`)).json;

  it('applied each migration once although both replicas started together', async () => {
    const client = new pg.Client({ connectionString: databaseUrl });
    await client.connect();
    try {
      const { rows } = await client.query('select version, count(*)::int as n from schema_migrations group by version order by version');
      // Every migration file (migrations/NNN_*.sql), each applied once.
      const versions = readdirSync(resolve(ROOT, 'migrations')).filter((f) => /^\d+_.*\.sql$/.test(f)).map((f) => Number(f.split('_')[0])).sort((a, b) => a - b);
      expect(versions.length).toBeGreaterThan(1);
      expect(rows).toEqual(versions.map((version) => ({ version, n: 1 })));
    } finally {
      await client.end();
    }
  });

  it('refuses on one replica a token already used on the other (401)', async () => {
    const token = await signer.sign(`${PUBLIC}/cds-services`);
    expect((await call(a, 'GET', '/cds-services', undefined, token)).status).toBe(200);
    const replayed = await call(b, 'GET', '/cds-services', undefined, token);
    expect(replayed.status).toBe(401);
    expect(replayed.json.issue[0].diagnostics).toMatch(/used before/);
  });

  it('counts feedback on a card rendered by one replica once, whichever replica it is posted to', async () => {
    const { json } = await hook(a);
    const card = json.cards.find((c: any) => c.source.topic.code === 'nct06789107-blinatumomab');
    const before = (await summary(a, card.source.topic.code)).accepted;
    const feedback = { feedback: [{ card: card.uuid, outcome: 'accepted', outcomeTimestamp: new Date().toISOString() }] };
    const first = await call(b, 'POST', `${SERVICE}/feedback`, feedback);
    expect(first).toMatchObject({ status: 200, json: { stored: 1, duplicates: 0, unknownCards: 0 } });
    const again = await call(a, 'POST', `${SERVICE}/feedback`, feedback);
    expect(again).toMatchObject({ status: 200, json: { stored: 0, duplicates: 1 } });
    expect((await summary(a, card.source.topic.code)).accepted).toBe(before + 1);
    expect((await summary(b, card.source.topic.code)).accepted).toBe(before + 1);
  });

  it('holds a suppression set through one replica on the other replica\'s next hook call', async () => {
    const { json } = await hook(b);
    const zju = json.cards.find((c: any) => c.source.topic.code === ZJU);
    expect(zju).toBeDefined();
    const res = await call(a, 'POST', `${SERVICE}/feedback`, {
      feedback: [{ card: zju.uuid, outcome: 'overridden', overrideReason: { reason: { system: 'urn:trialmatch-cds:override-reason', code: 'already-screened' } }, outcomeTimestamp: new Date().toISOString() }],
    });
    expect(res.json.suppressed).toEqual([{ trialId: ZJU, until: expect.any(String) }]);
    const next = await hook(b);
    expect(next.status).toBe(200);
    expect(next.json.cards.map((c: any) => c.source.topic.code)).not.toContain(ZJU);
    expect(next.json.cards.length).toBe(json.cards.length - 1);
  });

  it('loses nothing when a replica is killed and started again', async () => {
    const { json } = await hook(a, 'sle-adult-refractory');
    const card = json.cards[0];
    const token = await signer.sign(`${PUBLIC}/cds-services`);
    expect((await call(a, 'GET', '/cds-services', undefined, token)).status).toBe(200);
    const countsBefore = await summary(a, ZJU);
    await a.stop('SIGKILL');
    a = await startReplica('a', a.port, env);
    // The jti, the counts, the card rendered before the restart and the suppression are all still there.
    expect((await call(a, 'GET', '/cds-services', undefined, token)).status).toBe(401);
    expect(await summary(a, ZJU)).toEqual(countsBefore);
    const late = await call(a, 'POST', `${SERVICE}/feedback`, { feedback: [{ card: card.uuid, outcome: 'accepted', outcomeTimestamp: new Date().toISOString() }] });
    expect(late).toMatchObject({ status: 200, json: { stored: 1 } });
    expect((await hook(a)).json.cards.map((c: any) => c.source.topic.code)).not.toContain(ZJU);
  });

  it('keeps an audit trail of who evaluated which patient, in the database', async () => {
    const client = new pg.Client({ connectionString: databaseUrl });
    await client.connect();
    try {
      const { rows } = await client.query("select issuer, subject, patient_id from audit_events where action = 'patient-view' limit 1");
      expect(rows[0]).toEqual({ issuer: 'urn:trialmatch-cds:development-ehr', subject: 'trialmatch-development-client', patient_id: patientIdOf(exampleBundle('sle-child-likely')) });
    } finally {
      await client.end();
    }
  });
});
