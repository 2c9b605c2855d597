import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { summaryJson } from '../../src/cds/feedback.js';
import { embeddedSecret } from '../../src/store/create-shared-state.js';
import { openEmbeddedState } from '../../src/store/embedded/embedded-state.js';
import { EmbeddedReplayStore } from '../../src/store/embedded/replay-store.js';
import { ROOT } from '../support/app.js';

/** The issuer the cards were shown to (issue #20 item 4: feedback is taken from that issuer only). */
const ISS = 'https://ehr.example.org';

const dir = mkdtempSync(resolve(tmpdir(), 'trialmatch-embedded-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const CARD = '0b4bfa52-21a5-4e5b-9f8c-6b3f3a2b5c11';
const KEY = 'a'.repeat(64);
const at = (minute: number) => `2026-11-23T10:${String(minute).padStart(2, '0')}:00Z`;

function open(name: string, log = { warn: (_o: object, _m: string) => undefined, info: () => undefined }) {
  const file = resolve(dir, `${name}.jsonl`);
  return openEmbeddedState({ feedbackFile: file, auditFile: resolve(dir, `${name}.audit.jsonl`), maxCards: 1000, jtiCacheSize: 100, jtiIssuerQuota: 100, log });
}

describe('embedded feedback counts', () => {
  it('counts reason codes such as __proto__, constructor and toString as plain keys', async () => {
    const state = await open('poison');
    try {
      await state.feedback.rememberCards([{ uuid: CARD, trialId: 'trial-a', issuer: ISS, overrideReasons: ['__proto__', 'constructor', 'toString'] }]);
      const other = '1b4bfa52-21a5-4e5b-9f8c-6b3f3a2b5c11';
      const third = '2b4bfa52-21a5-4e5b-9f8c-6b3f3a2b5c11';
      await state.feedback.rememberCards([other, third].map((uuid) => ({ uuid, trialId: 'trial-a', issuer: ISS, overrideReasons: ['__proto__', 'constructor', 'toString'] })));
      const reasons = ['__proto__', 'constructor', 'toString'];
      const receipt = await state.feedback.record('svc', ISS, [CARD, other, third].map((card, i) => ({ card, outcome: 'overridden' as const, overrideReason: { reason: { code: reasons[i]! } }, outcomeTimestamp: at(i) })), new Date());
      expect(receipt).toMatchObject({ stored: 3, rejected: [] });
      const summary = await state.feedback.summary('trial-a', ISS);
      expect([...summary.overrideReasons]).toEqual([['__proto__', 1], ['constructor', 1], ['toString', 1]]);
      // The JSON the route answers: own keys, nothing inherited, nothing thrown.
      expect(JSON.parse(JSON.stringify(summaryJson(summary)))).toEqual({ trialId: 'trial-a', accepted: 0, overridden: 3, overrideReasons: JSON.parse('{"__proto__":1,"constructor":1,"toString":1}') });
      expect(({} as any).constructor).toBe(Object);
    } finally {
      await state.close();
    }
  });

  it('rejects an override whose reason is not one of the card\'s overrideReasons, saying why', async () => {
    const state = await open('reason');
    try {
      await state.feedback.rememberCards([{ uuid: CARD, trialId: 'trial-a', issuer: ISS, overrideReasons: ['declined', 'not-relevant'] }]);
      const receipt = await state.feedback.record('svc', ISS, [{ card: CARD, outcome: 'overridden', overrideReason: { reason: { code: 'made-up' } }, outcomeTimestamp: at(0) }], new Date());
      expect(receipt).toMatchObject({ stored: 0, rejected: [{ card: CARD, why: expect.stringMatching(/"made-up" is not one of this card's overrideReasons/) }] });
      expect((await state.feedback.summary('trial-a', ISS)).overridden).toBe(0);
    } finally {
      await state.close();
    }
  });

  it('counts a card\'s acceptance once, whatever timestamps it is sent again with', async () => {
    const state = await open('pump');
    try {
      await state.feedback.rememberCards([{ uuid: CARD, trialId: 'trial-a', issuer: ISS, overrideReasons: [] }]);
      const first = await state.feedback.record('svc', ISS, [{ card: CARD, outcome: 'accepted', outcomeTimestamp: at(0) }], new Date());
      const pumped = await state.feedback.record('svc', ISS, Array.from({ length: 20 }, (_, i) => ({ card: CARD, outcome: 'accepted' as const, outcomeTimestamp: at(i + 1) })), new Date());
      expect(first.stored).toBe(1);
      expect(pumped).toMatchObject({ stored: 0, duplicates: 20 });
      expect((await state.feedback.summary('trial-a', ISS)).accepted).toBe(1);
    } finally {
      await state.close();
    }
  });

  it('counts feedback on a card it never answered with as an unknown card, not as stored', async () => {
    const state = await open('unknown');
    try {
      expect(await state.feedback.record('svc', ISS, [{ card: CARD, outcome: 'accepted', outcomeTimestamp: at(0) }], new Date())).toMatchObject({ stored: 0, unknownCards: 1 });
    } finally {
      await state.close();
    }
  });

  it('records accepted suggestions the card offered and refuses ones it did not', async () => {
    const state = await open('suggestions');
    try {
      await state.feedback.rememberCards([{ uuid: CARD, trialId: 'trial-a', issuer: ISS, overrideReasons: [], suggestions: ['s-1'] }]);
      const bad = await state.feedback.record('svc', ISS, [{ card: CARD, outcome: 'accepted', acceptedSuggestions: [{ id: 's-2' }], outcomeTimestamp: at(0) }], new Date());
      expect(bad.rejected).toHaveLength(1);
      expect(await state.feedback.record('svc', ISS, [{ card: CARD, outcome: 'accepted', acceptedSuggestions: [{ id: 's-1' }], outcomeTimestamp: at(1) }], new Date())).toMatchObject({ stored: 1 });
    } finally {
      await state.close();
    }
    expect(readFileSync(resolve(dir, 'suggestions.jsonl'), 'utf8')).toContain('"suggestions":["s-1"]');
  });
});

describe('the embedded journal', () => {
  it('reads a journal of 200,000 lines line by line at start and keeps every count', async () => {
    const file = resolve(dir, 'big.jsonl');
    const lines: string[] = [];
    for (let i = 0; i < 100_000; i++) {
      const card = `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`;
      lines.push(JSON.stringify({ t: 'card', card, trialId: 'trial-a', reasons: [], iss: ISS }));
      lines.push(JSON.stringify({ t: 'feedback', service: 'svc', card, trialId: 'trial-a', outcome: 'accepted', outcomeTimestamp: at(0), receivedAt: at(0), iss: ISS }));
    }
    writeFileSync(file, `${lines.join('\n')}\n`);
    const state = await openEmbeddedState({ feedbackFile: file, auditFile: `${file}.audit`, maxCards: 200_000, jtiCacheSize: 10, jtiIssuerQuota: 10, log: { warn: () => undefined, info: () => undefined } });
    try {
      expect(state.stats).toMatchObject({ cards: 100_000, feedback: 100_000, skippedLines: 0 });
      expect((await state.feedback.summary('trial-a', ISS)).accepted).toBe(100_000);
    } finally {
      await state.close();
    }
  });

  it('logs a warning with the count of corrupt lines, never their content', async () => {
    const file = resolve(dir, 'corrupt.jsonl');
    writeFileSync(file, `${JSON.stringify({ t: 'card', card: CARD, trialId: 'trial-a', reasons: [] })}\nPATIENT-MARKER not json\n{"t":"feedback","card":"PATIENT-MARKER"}\n`);
    const warnings: { obj: object; msg: string }[] = [];
    const state = await openEmbeddedState({ feedbackFile: file, auditFile: `${file}.audit`, maxCards: 10, jtiCacheSize: 10, jtiIssuerQuota: 10, log: { warn: (obj, msg) => warnings.push({ obj, msg }), info: () => undefined } });
    await state.close();
    expect(warnings).toHaveLength(1);
    expect(warnings[0]!.obj).toMatchObject({ skippedLines: 2 });
    expect(JSON.stringify(warnings)).not.toContain('PATIENT-MARKER');
  });

  it('refuses a second open of a journal this process holds, and frees it on close', async () => {
    const first = await open('locked');
    await expect(open('locked')).rejects.toThrow(/already held by this process/);
    await first.close();
    const again = await open('locked');
    await again.close();
  });

  it('stops a second service process on the same journal with a clear error', async () => {
    const state = await open('two-processes');
    try {
      const child = spawnSync(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
        cwd: ROOT,
        encoding: 'utf8',
        timeout: 60_000,
        env: { ...process.env, PORT: '39917', HOST: '127.0.0.1', LOG_LEVEL: 'info', FEEDBACK_FILE: resolve(dir, 'two-processes.jsonl'), AUDIT_FILE: resolve(dir, 'two-processes.child-audit.jsonl') },
      });
      expect(child.status).toBe(1);
      expect(`${child.stdout}${child.stderr}`).toContain(`held by process ${process.pid}: another TrialMatch process uses this journal`);
    } finally {
      await state.close();
    }
  });

  it('takes over a lock left by a process that is gone (kill -9), or by this pid in an earlier life', async () => {
    for (const pid of [999_999_999, process.pid]) {
      writeFileSync(resolve(dir, 'stale.jsonl.lock'), JSON.stringify({ pid, host: hostname(), token: 'an-earlier-process' }));
      const state = await open('stale');
      await state.close();
    }
  });

  it('respects a lock from another host or container while it is touched, and takes it over once it is not', async () => {
    const lock = resolve(dir, 'remote.jsonl.lock');
    writeFileSync(lock, JSON.stringify({ pid: 1, host: 'another-container', token: 'theirs' }));
    await expect(open('remote')).rejects.toThrow(/held by process 1 on another-container/);
    const old = new Date(Date.now() - 60_000);
    utimesSync(lock, old, old);
    const state = await open('remote');
    await state.close();
  });

  it('keeps a suppression across a restart, and drops it once expired', async () => {
    const now = new Date('2026-11-23T10:00:00Z');
    const first = await open('suppressions');
    await first.suppressions.suppress(KEY, new Date('2027-02-21T10:00:00Z'), 'declined');
    await first.close();
    const second = await open('suppressions');
    try {
      expect(await second.suppressions.active([KEY, 'b'.repeat(64)], now)).toEqual(new Set([KEY]));
      expect(await second.suppressions.active([KEY], new Date('2027-02-22T00:00:00Z'))).toEqual(new Set());
    } finally {
      await second.close();
    }
  });

  it('keeps the generated suppression secret in a 0600 file beside the journal, the same across restarts', () => {
    const file = resolve(dir, 'secret', 'feedback.jsonl');
    const secret = embeddedSecret(file);
    expect(secret).toMatch(/^[0-9a-f]{64}$/);
    expect(statSync(resolve(dir, 'secret', 'suppression-secret')).mode & 0o777).toBe(0o600);
    expect(embeddedSecret(file)).toBe(secret);
  });

  it('writes the audit trail to its own file, one JSON line per event', async () => {
    const state = await open('audit');
    await state.audit.record({ at: new Date('2026-11-23T10:00:00Z'), issuer: 'https://ehr.example.org', subject: 'dr-x', action: 'patient-view', patientId: 'p-1', trials: ['trial-a'] });
    await state.close();
    const lines = readFileSync(resolve(dir, 'audit.audit.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(lines).toEqual([{ at: '2026-11-23T10:00:00.000Z', issuer: 'https://ehr.example.org', subject: 'dr-x', action: 'patient-view', patientId: 'p-1', trials: ['trial-a'] }]);
    expect(statSync(resolve(dir, 'audit.audit.jsonl')).mode & 0o777).toBe(0o600);
  });

  it('bounds every text field of an audit line and writes U+2028 escaped, so one event is one line (issue #20 item 5)', async () => {
    const state = await open('audit-bounded');
    const sub = `dr-\u2028x-${'s'.repeat(7000)}`;
    await state.audit.record({ at: new Date('2026-11-23T10:00:00Z'), issuer: 'https://ehr.example.org', subject: sub, action: 'patient-view', patientId: 'p-\u2029-1' });
    await state.close();
    const text = readFileSync(resolve(dir, 'audit-bounded.audit.jsonl'), 'utf8');
    expect(text).not.toMatch(/[\u2028\u2029]/);
    const lines = text.trim().split(/\r?\n|\u2028|\u2029/);
    expect(lines).toHaveLength(1);
    const line = JSON.parse(lines[0]!) as { subject: string; patientId: string };
    expect(line.subject.length).toBeLessThanOrEqual(256);
    expect(line.subject.startsWith('dr-\u2028x-sss')).toBe(true);
    expect(line.subject.endsWith('…')).toBe(true);
    expect(line.patientId).toBe('p-\u2029-1');
  });
});

describe('the embedded replay store', () => {
  it('gives each issuer its own quota: one issuer filling its share does not lock the others out', async () => {
    const store = new EmbeddedReplayStore(10, 4);
    const now = new Date('2026-11-23T10:00:00Z');
    const exp = new Date('2026-11-23T10:05:00Z');
    for (let i = 0; i < 4; i++) expect(await store.check('https://noisy.example', `j${i}`, exp, now)).toBe('fresh');
    expect(await store.check('https://noisy.example', 'j4', exp, now)).toBe('full');
    expect(await store.check('https://quiet.example', 'j0', exp, now)).toBe('fresh');
    expect(await store.check('https://quiet.example', 'j0', exp, now)).toBe('replayed');
    // Once the noisy issuer's tokens expire, it has room again.
    expect(await store.check('https://noisy.example', 'j5', new Date('2026-11-23T10:20:00Z'), new Date('2026-11-23T10:10:00Z'))).toBe('fresh');
  });
});
