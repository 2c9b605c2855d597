import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { exampleBundle, testApp } from '../support/app.js';
import { hookRequest, patientIdOf, prefetchFor } from '../support/hook-request.js';
import { BASE, makeIssuer, writeTrust, type TestIssuer } from './helpers.js';

/**
 * Issue #20 item 4: feedback is bound to the issuer that was shown the card. On main, issuer B posting an
 * override that suppresses on issuer A's card uuid hid A's card for that patient for 90 days, and any issuer
 * read every issuer's pooled counts. Issue #20 item 5: a feedback audit event names the patient, the card and
 * the trial. Two trusted issuers, the real app, its real journal and audit file.
 */
const SERVICE = '/cds-services/trialmatch-sle';
const ZJU = 'zju-cd19-car-t-csle';

interface Card { uuid: string; source: { topic: { code: string } }; overrideReasons: { code: string }[] }

describe('feedback bound to the issuer shown the card (issue #20 items 4 and 5)', () => {
  let app: FastifyInstance;
  let a: TestIssuer;
  let b: TestIssuer;
  const dir = mkdtempSync(resolve(tmpdir(), 'trialmatch-issuers-'));
  const auditFile = resolve(dir, 'audit.jsonl');

  beforeAll(async () => {
    a = await makeIssuer('https://ehr-a.example.org');
    b = await makeIssuer('https://ehr-b.example.org');
    const trust = writeTrust({ issuers: [a, b].map((i) => ({ issuer: i.issuer, jwks: { keys: [i.publicJwk] } })) });
    app = testApp({}, { AUTH_MODE: 'on', TRUST_CONFIG: trust, PUBLIC_BASE_URL: BASE, FEEDBACK_FILE: resolve(dir, 'feedback.jsonl'), AUDIT_FILE: auditFile });
    await app.ready();
  });
  afterAll(async () => {
    await app.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const auth = async (issuer: TestIssuer, path: string): Promise<{ authorization: string }> => ({ authorization: `Bearer ${await issuer.sign({ aud: `${BASE}${path}` })}` });

  async function cardsFor(issuer: TestIssuer, example: string): Promise<Card[]> {
    const bundle = exampleBundle(example);
    const res = await app.inject({ method: 'POST', url: SERVICE, headers: await auth(issuer, SERVICE), payload: hookRequest(patientIdOf(bundle), { prefetch: prefetchFor(bundle) }) });
    expect(res.statusCode, res.body.slice(0, 300)).toBe(200);
    return res.json<{ cards: Card[] }>().cards;
  }

  const feedback = async (issuer: TestIssuer, card: Card, reason: string): Promise<{ statusCode: number; body: string; json: <T>() => T }> =>
    app.inject({
      method: 'POST',
      url: `${SERVICE}/feedback`,
      headers: await auth(issuer, `${SERVICE}/feedback`),
      payload: { feedback: [{ card: card.uuid, outcome: 'overridden', overrideReason: { reason: { code: reason, system: 'https://trialmatch.example.org/override-reason' } }, outcomeTimestamp: '2026-11-23T10:00:00Z' }] },
    });

  const summary = async (issuer: TestIssuer): Promise<{ overridden: number; overrideReasons: Record<string, number> }> => {
    const path = `/trials/${ZJU}/feedback`;
    const res = await app.inject({ method: 'GET', url: path, headers: await auth(issuer, path) });
    expect(res.statusCode).toBe(200);
    return res.json();
  };

  it('refuses another issuer\'s feedback on a card as an unknown card: no count, no suppression; each issuer reads its own counts', async () => {
    const shownToA = (await cardsFor(a, 'sle-child-likely')).find((c) => c.source.topic.code === ZJU);
    expect(shownToA).toBeDefined();
    const reason = 'already-screened';
    expect(shownToA!.overrideReasons.map((r) => r.code)).toContain(reason);

    // B names A's card: as if it did not exist.
    const fromB = await feedback(b, shownToA!, reason);
    expect(fromB.statusCode, fromB.body).toBe(404);
    expect((await cardsFor(a, 'sle-child-likely')).map((c) => c.source.topic.code)).toContain(ZJU);
    expect((await summary(b)).overridden).toBe(0);
    expect((await summary(a)).overridden).toBe(0);

    // A's own feedback on the card it was shown: stored, suppresses, counted under A only.
    const again = (await cardsFor(a, 'sle-child-likely')).find((c) => c.source.topic.code === ZJU)!;
    const fromA = await feedback(a, again, reason);
    expect(fromA.statusCode, fromA.body).toBe(200);
    expect(fromA.json<{ stored: number; suppressed: unknown[] }>()).toMatchObject({ stored: 1, suppressed: [{ trialId: ZJU }] });
    expect((await summary(a)).overrideReasons).toEqual({ [reason]: 1 });
    expect((await summary(b)).overridden).toBe(0);
  });

  it('writes a feedback audit event naming the patient, the card and the trial', async () => {
    const bundle = exampleBundle('sle-teen-missing-tests');
    const card = (await cardsFor(a, 'sle-teen-missing-tests'))[0]!;
    const res = await feedback(a, card, card.overrideReasons[0]!.code);
    expect(res.statusCode, res.body).toBe(200);
    const events = readFileSync(auditFile, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(events.filter((e) => e.action === 'feedback').at(-1)).toMatchObject({ issuer: a.issuer, action: 'feedback', patientId: patientIdOf(bundle), cards: [card.uuid], trials: [card.source.topic.code] });
  });
});
