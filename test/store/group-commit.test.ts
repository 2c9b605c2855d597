/**
 * Group commit in the embedded store (issue #21 item 5): the lines of one event-loop turn are one write; an
 * audit event is in the file when record() resolves (a hook is answered only after its audit line); the
 * remembered cards of hooks answered together are one journal write; nothing queued is lost on close.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { resolve } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { LineBatch } from '../../src/store/embedded/line-batch.js';
import { AuditFile } from '../../src/store/embedded/audit-file.js';
import { exampleBundle, testApp } from '../support/app.js';
import { hookRequest, patientIdOf, prefetchFor } from '../support/hook-request.js';

const dirs: string[] = [];
const tempDir = (): string => {
  const d = mkdtempSync(resolve(tmpdir(), 'trialmatch-group-commit-'));
  dirs.push(d);
  return d;
};
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const event = (patientId: string) => ({ at: new Date('2026-11-23T10:00:00Z'), issuer: 'https://ehr.example', subject: 'dr', action: 'patient-view' as const, patientId, trials: [] });

describe('group commit', () => {
  it('writes the lines of one event-loop turn in one write, and each promise resolves after it', async () => {
    const writes: string[] = [];
    const batch = new LineBatch((text) => writes.push(text));
    const done = Promise.all([batch.add('a\n'), batch.add('b\n'), batch.add('c\n')]);
    expect(writes).toEqual([]);
    await done;
    expect(writes).toEqual(['a\nb\nc\n']);
    await batch.add('d\n');
    expect(writes).toEqual(['a\nb\nc\n', 'd\n']);
  });

  it('rejects every waiting line when the write fails', async () => {
    const batch = new LineBatch(() => {
      throw new Error('disk full');
    });
    await expect(Promise.all([batch.add('a\n'), batch.add('b\n')])).rejects.toThrow('disk full');
  });

  it('has an audit event in the file when record() resolves, and flushes what is queued on close', async () => {
    const file = resolve(tempDir(), 'audit.jsonl');
    const audit = await AuditFile.open(file);
    await Promise.all([audit.record(event('p1')), audit.record(event('p2'))]);
    expect(readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l).patientId)).toEqual(['p1', 'p2']);
    void audit.record(event('p3'));
    await audit.close();
    expect(readFileSync(file, 'utf8').trim().split('\n')).toHaveLength(3);
  });

  it('keeps every audit event and remembered card of hooks answered together, and their feedback finds the cards', async () => {
    const dir = tempDir();
    const app = testApp({}, { FEEDBACK_FILE: resolve(dir, 'feedback.jsonl'), AUDIT_FILE: resolve(dir, 'audit.jsonl') });
    await app.ready();
    const bundle = exampleBundle('sle-child-likely');
    const payload = hookRequest(patientIdOf(bundle), { prefetch: prefetchFor(bundle) });
    const answers = await Promise.all(Array.from({ length: 4 }, () => app.inject({ method: 'POST', url: '/cds-services/trialmatch-sle', payload })));
    const cards = answers.flatMap((a) => a.json().cards as { uuid: string }[]);
    expect(cards.length).toBeGreaterThan(0);
    expect(readFileSync(resolve(dir, 'audit.jsonl'), 'utf8').trim().split('\n')).toHaveLength(4);
    const feedback = await app.inject({
      method: 'POST',
      url: '/cds-services/trialmatch-sle/feedback',
      payload: { feedback: cards.map((c) => ({ card: c.uuid, outcome: 'accepted', outcomeTimestamp: '2026-11-23T10:00:00Z' })) },
    });
    expect(feedback.json()).toMatchObject({ stored: cards.length, unknownCards: 0 });
    await app.close();
    const journal = readFileSync(resolve(dir, 'feedback.jsonl'), 'utf8');
    for (const c of cards) expect(journal).toContain(c.uuid);
  });
});
