import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { exampleBundle, testApp } from '../support/app.js';
import { hookRequest, patientIdOf, prefetchFor } from '../support/hook-request.js';
import { ANCHOR } from '../../scripts/fhir-builders.js';

/** AUTH_MODE=off: every caller is 'anonymous', the issuer the cards are remembered with (issue #20 item 4). */
const ISS = 'anonymous';

const SERVICE = '/cds-services/trialmatch-sle';
const ZJU = 'zju-cd19-car-t-csle';

// Issue #12 item 3: feedback is checked against the card it names, bounded, answered with what was recorded,
// and an honoured override reason hides that trial's card for that patient.
describe('the feedback route', () => {
  let app: FastifyInstance;
  const dir = mkdtempSync(resolve(tmpdir(), 'trialmatch-feedback-route-'));
  beforeAll(async () => {
    app = testApp({}, { FEEDBACK_FILE: resolve(dir, 'feedback.jsonl') });
    await app.ready();
  });
  afterAll(async () => {
    await app.close();
    rmSync(dir, { recursive: true, force: true });
  });

  async function cardsFor(id: string): Promise<any[]> {
    const bundle = exampleBundle(id);
    const res = await app.inject({ method: 'POST', url: SERVICE, payload: hookRequest(patientIdOf(bundle), { prefetch: prefetchFor(bundle) }) });
    expect(res.statusCode).toBe(200);
    return res.json().cards;
  }
  const post = (feedback: unknown[]) => app.inject({ method: 'POST', url: `${SERVICE}/feedback`, payload: { feedback } });
  const override = (card: any, code: string, at = '2026-11-23T10:00:00Z') => ({ card: card.uuid, outcome: 'overridden', overrideReason: { reason: { system: 'urn:trialmatch-cds:override-reason', code } }, outcomeTimestamp: at });

  it('answers 404 when every item names a card the service never answered with', async () => {
    const res = await post([{ card: '0b4bfa52-21a5-4e5b-9f8c-6b3f3a2b5c11', outcome: 'accepted', outcomeTimestamp: '2026-11-23T10:00:00Z' }]);
    expect(res.statusCode).toBe(404);
    expect(res.json()).toMatchObject({ resourceType: 'OperationOutcome', issue: [{ diagnostics: expect.stringMatching(/not cards this service answered with/) }] });
  });

  it('refuses a reason code longer than 64 characters before it reaches the store', async () => {
    const [card] = await cardsFor('sle-child-likely');
    const res = await post([override(card, 'x'.repeat(65))]);
    expect(res.statusCode).toBe(400);
    expect(res.json().issue[0].expression[0]).toBe('feedback.0.overrideReason.reason.code');
  });

  it('refuses, with why, an override whose reason the card did not offer; stores the good items beside it', async () => {
    const cards = await cardsFor('sle-child-likely');
    const alone = await post([override(cards[0], 'constructor')]);
    expect(alone.statusCode).toBe(400);
    expect(alone.json().issue[0].diagnostics).toMatch(/"constructor" is not one of this card's overrideReasons/);
    const mixed = await post([override(cards[0], 'constructor'), { card: cards[1].uuid, outcome: 'accepted', outcomeTimestamp: '2026-11-23T10:00:00Z' }]);
    expect(mixed.statusCode).toBe(200);
    expect(mixed.json()).toMatchObject({ stored: 1, duplicates: 0, unknownCards: 0, rejected: [{ card: cards[0].uuid }], suppressed: [] });
  });

  it('hides a trial\'s card for the patient after an override reason that suppresses, for SUPPRESSION_DAYS', async () => {
    const cards = await cardsFor('sle-child-likely');
    const zju = cards.find((c) => c.source.topic.code === ZJU);
    const res = await post([override(zju, 'already-screened')]);
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ stored: 1, duplicates: 0, unknownCards: 0, rejected: [], suppressed: [{ trialId: ZJU, until: new Date(ANCHOR.getTime() + 90 * 86_400_000).toISOString() }] });
    const after = await cardsFor('sle-child-likely');
    expect(after.map((c) => c.source.topic.code)).not.toContain(ZJU);
    expect(after).toHaveLength(cards.length - 1);
    // Another patient still sees the trial.
    expect((await cardsFor('sle-teen-missing-tests')).map((c) => c.source.topic.code)).toContain(ZJU);
  });

  it('still sets the suppression when the EHR retries an override whose first answer it never got', async () => {
    const cards = await cardsFor('sle-child-on-blinatumomab');
    const card = cards.find((c) => c.overrideReasons.some((r: any) => r.code === 'already-screened'));
    const item = override(card, 'already-screened');
    // The first call: the feedback is stored, then the process fails before the suppression is set.
    expect(await app.state.feedback.record('trialmatch-sle', ISS, [item as any], new Date())).toMatchObject({ stored: 1 });
    const retry = await post([item]);
    expect(retry.json()).toMatchObject({ stored: 0, duplicates: 1, suppressed: [{ trialId: card.source.topic.code }] });
    expect((await cardsFor('sle-child-on-blinatumomab')).map((c) => c.source.topic.code)).not.toContain(card.source.topic.code);
  });

  it('does not hide the card after an override reason that does not suppress', async () => {
    const cards = await cardsFor('sle-adult-refractory');
    const res = await post([override(cards[0], 'not-relevant')]);
    expect(res.json()).toMatchObject({ stored: 1, suppressed: [] });
    expect((await cardsFor('sle-adult-refractory')).map((c) => c.source.topic.code)).toContain(cards[0].source.topic.code);
  });

  it('writes who evaluated which patient to the audit file, not to the operational log', async () => {
    await cardsFor('sle-child-likely');
    await app.inject({ method: 'POST', url: '/trials/$evaluate', payload: exampleBundle('sle-adult-belimumab') });
    const events = readFileSync(resolve(dir, 'audit.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(events).toContainEqual(expect.objectContaining({ issuer: 'anonymous', subject: 'anonymous', action: 'patient-view', patientId: patientIdOf(exampleBundle('sle-child-likely')) }));
    expect(events).toContainEqual(expect.objectContaining({ action: 'evaluate', patientId: patientIdOf(exampleBundle('sle-adult-belimumab')) }));
  });
});
