import { appendFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { openEmbeddedState } from '../../src/store/embedded/embedded-state.js';
import { exampleBundle, testApp } from '../support/app.js';
import { hookRequest, patientIdOf, prefetchFor } from '../support/hook-request.js';

/** The issuer the cards were shown to (issue #20 item 4: feedback is taken from that issuer only). */
const ISS = 'https://ehr.example.org';

const SERVICE = '/cds-services/trialmatch-sle';
const dir = mkdtempSync(resolve(tmpdir(), 'trialmatch-feedback-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const quiet = { warn: () => undefined, info: () => undefined };
const openStore = (file: string, maxCards = 100_000) =>
  openEmbeddedState({ feedbackFile: file, auditFile: `${file}.audit`, maxCards, jtiCacheSize: 1000, jtiIssuerQuota: 1000, log: quiet });

async function cardsFor(app: FastifyInstance): Promise<any[]> {
  const bundle = exampleBundle('sle-child-likely');
  return (await app.inject({ method: 'POST', url: SERVICE, payload: hookRequest(patientIdOf(bundle), { prefetch: prefetchFor(bundle) }) })).json().cards;
}

const feedbackOn = (card: any, outcome: 'accepted' | 'overridden', at: string, reason?: string) => ({
  card: card.uuid,
  outcome,
  outcomeTimestamp: at,
  ...(reason ? { overrideReason: { reason: { system: 'https://trialmatch-cds.example/override-reason', code: reason }, userComment: 'the family declined' } } : {}),
});

describe('feedback is not lost', () => {
  it('survives closing the service and starting a new one on the same journal, cards included', async () => {
    const file = resolve(dir, 'restart.jsonl');
    const first = testApp({}, { FEEDBACK_FILE: file });
    await first.ready();
    const cards = await cardsFor(first);
    const zju = cards.find((c) => c.source.topic.code === 'zju-cd19-car-t-csle');
    const blina = cards.find((c) => c.source.topic.code === 'nct06789107-blinatumomab');
    const res = await first.inject({
      method: 'POST',
      url: `${SERVICE}/feedback`,
      payload: { feedback: [feedbackOn(zju, 'overridden', '2026-11-23T10:00:00Z', 'already-screened'), feedbackOn(blina, 'accepted', '2026-11-23T10:01:00Z')] },
    });
    expect(res.statusCode).toBe(200);
    await first.close();

    const second = testApp({}, { FEEDBACK_FILE: file });
    await second.ready();
    try {
      expect((await second.inject({ method: 'GET', url: '/trials/zju-cd19-car-t-csle/feedback' })).json()).toEqual({ trialId: 'zju-cd19-car-t-csle', accepted: 0, overridden: 1, overrideReasons: { 'already-screened': 1 } });
      expect((await second.inject({ method: 'GET', url: '/trials/nct06789107-blinatumomab/feedback' })).json()).toMatchObject({ accepted: 1, overridden: 0 });
      // A card issued before the restart can still be given feedback after it.
      const later = await second.inject({ method: 'POST', url: `${SERVICE}/feedback`, payload: { feedback: [feedbackOn(zju, 'accepted', '2026-11-24T09:00:00Z')] } });
      expect(later.statusCode).toBe(200);
      expect((await second.inject({ method: 'GET', url: '/trials/zju-cd19-car-t-csle/feedback' })).json()).toMatchObject({ accepted: 1, overridden: 1 });
    } finally {
      await second.close();
    }
    // The clinician's free text is not kept: it can carry patient data.
    expect(readFileSync(file, 'utf8')).not.toContain('the family declined');
  });

  it('counts an EHR retrying the same feedback once', async () => {
    const app = testApp({}, { FEEDBACK_FILE: resolve(dir, 'retry.jsonl') });
    await app.ready();
    try {
      const [card] = await cardsFor(app);
      const payload = { feedback: [feedbackOn(card, 'accepted', '2026-11-23T10:00:00Z')] };
      for (let i = 0; i < 3; i++) expect((await app.inject({ method: 'POST', url: `${SERVICE}/feedback`, payload })).statusCode).toBe(200);
      expect((await app.inject({ method: 'GET', url: `/trials/${card.source.topic.code}/feedback` })).json().accepted).toBe(1);
    } finally {
      await app.close();
    }
  });

  it('skips a line cut short by a crash, keeps the rest, and goes on appending', async () => {
    const file = resolve(dir, 'crash.jsonl');
    const store = await openStore(file);
    await store.feedback.rememberCards([{ uuid: '0b4bfa52-21a5-4e5b-9f8c-6b3f3a2b5c11', trialId: 'trial-a', issuer: ISS, overrideReasons: [] }]);
    await store.feedback.record('svc', ISS, [{ card: '0b4bfa52-21a5-4e5b-9f8c-6b3f3a2b5c11', outcome: 'accepted', outcomeTimestamp: '2026-11-23T10:00:00Z' }], new Date());
    await store.close();
    appendFileSync(file, '{"t":"feedback","service":"svc","card":"0b4bfa52-21a5');
    const reopened = await openStore(file);
    expect(reopened.stats).toMatchObject({ cards: 1, feedback: 1, skippedLines: 1 });
    await reopened.feedback.record('svc', ISS, [{ card: '0b4bfa52-21a5-4e5b-9f8c-6b3f3a2b5c11', outcome: 'overridden', outcomeTimestamp: '2026-11-23T11:00:00Z' }], new Date());
    await reopened.close();
    const again = await openStore(file);
    expect(await again.feedback.summary('trial-a', ISS)).toMatchObject({ accepted: 1, overridden: 1 });
    expect(again.stats.skippedLines).toBe(1);
    await again.close();
  });

  it('compacts the journal atomically, keeping every feedback entry and the newest cards', async () => {
    const file = resolve(dir, 'compact.jsonl');
    const store = await openStore(file, 10);
    const uuid = (i: number) => `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`;
    await store.feedback.rememberCards([{ uuid: uuid(0), trialId: 'trial-a', issuer: ISS, overrideReasons: [] }]);
    await store.feedback.record('svc', ISS, [{ card: uuid(0), outcome: 'accepted', outcomeTimestamp: '2026-11-23T10:00:00Z' }], new Date());
    for (let i = 1; i <= 100; i++) await store.feedback.rememberCards([{ uuid: uuid(i), trialId: 'trial-b', issuer: ISS, overrideReasons: [] }]);
    await store.close();
    const lines = readFileSync(file, 'utf8').trim().split('\n');
    expect(lines.length).toBeLessThanOrEqual(1 + 2 * 10 + 1);
    const reopened = await openStore(file, 10);
    expect((await reopened.feedback.summary('trial-a', ISS)).accepted).toBe(1);
    expect(await reopened.feedback.record('svc', ISS, [{ card: uuid(100), outcome: 'accepted', outcomeTimestamp: '2026-11-23T10:00:00Z' }], new Date())).toMatchObject({ stored: 1 });
    expect(await reopened.feedback.record('svc', ISS, [{ card: uuid(1), outcome: 'accepted', outcomeTimestamp: '2026-11-23T10:00:00Z' }], new Date())).toMatchObject({ stored: 0, unknownCards: 1 });
    await reopened.close();
  });
});
