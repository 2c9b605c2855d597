import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { resolve } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { openEmbeddedState, type EmbeddedState } from '../../src/store/embedded/embedded-state.js';
import { describeScreeningStore, exampleEntries } from '../support/screening-store-contract.js';

const dir = mkdtempSync(resolve(tmpdir(), 'trialmatch-screening-'));
const opened: EmbeddedState[] = [];
afterEach(async () => {
  await Promise.all(opened.splice(0).map((s) => s.close().catch(() => undefined)));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const quiet = { warn: (_o: object, _m: string): void => undefined, info: (): void => undefined };
let n = 0;

async function openAt(name: string, log = quiet): Promise<EmbeddedState> {
  const state = await openEmbeddedState({ feedbackFile: resolve(dir, name, 'feedback.jsonl'), auditFile: resolve(dir, name, 'audit.jsonl'), maxCards: 100, jtiCacheSize: 100, jtiIssuerQuota: 100, log });
  opened.push(state);
  return state;
}

describeScreeningStore('embedded journal', async () => {
  const name = `contract-${n++}`;
  let state = await openAt(name);
  return {
    state,
    reopen: async () => {
      await state.close();
      state = await openAt(name);
      return state;
    },
  };
});

describe('the embedded screening journal', () => {
  it('is a file of its own beside the feedback journal, writing shared outcomes once', async () => {
    const state = await openAt('own-file');
    const entries = ['sle-child-likely', 'sle-teen-missing-tests'].flatMap((p) => exampleEntries(p, 'job-1'));
    await state.screening.put(entries);
    await state.screening.put(exampleEntries('sle-child-likely', 'job-2'));
    const lines = readFileSync(resolve(dir, 'own-file', 'screening.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { t: string });
    expect(lines.filter((l) => l.t === 'screening')).toHaveLength(entries.length + entries.length / 2);
    // The second job's outcomes are the first's: no new outcome lines.
    expect(lines.filter((l) => l.t === 'outcomes').length).toBeLessThanOrEqual(entries.length);
    expect(readFileSync(resolve(dir, 'own-file', 'feedback.jsonl'), { encoding: 'utf8', flag: 'a+' })).toBe('');
  });

  it('gives entries with the same outcomes but other words or other criteria their own outcomes line', async () => {
    const state = await openAt('same-outcomes');
    const e = exampleEntries('sle-teen-missing-tests', 'job-1').find((x) => x.openItems.length > 0)!;
    const words = { ...e, patientId: 'other-words', openItemText: e.openItemText.map((t) => `${t} (the site's words)`) };
    const ids = { ...e, patientId: 'other-ids', criteria: e.criteria.map((c, i) => (i === 0 ? { ...c, id: `${c.id}-b` } : c)) };
    await state.screening.put([e, words, ids]);
    await state.screening.put([{ ...words, patientId: 'other-words-2' }]);
    const held = await state.screening.forTrial(e.trialId);
    const of = (id: string): (typeof held)[number] | undefined => held.find((h) => h.patientId === id);
    expect(of(e.patientId)?.openItemText).toEqual(e.openItemText);
    expect(of('other-words')?.openItemText).toEqual(words.openItemText);
    expect(of('other-words-2')?.openItemText).toEqual(words.openItemText);
    expect(of('other-ids')?.criteria).toEqual(ids.criteria);
    expect(of(e.patientId)?.criteria).toEqual(e.criteria);
  });

  it('refuses a batch it could not read back at start, and keeps none of it', async () => {
    const state = await openAt('refuse');
    const good = exampleEntries('sle-child-likely', 'job-1');
    const bad = { ...good[1]!, patientId: 'x'.repeat(200) };
    await expect(state.screening.put([good[0]!, bad])).rejects.toThrow();
    expect(await state.screening.forTrial(good[0]!.trialId)).toEqual([]);
  });

  it('compacts to the latest entry per key and reads it back the same', async () => {
    const name = 'compact';
    let state = await openAt(name);
    const base = exampleEntries('sle-teen-missing-tests', 'job-0')[0]!;
    // 4,000 patients screened three times: 12,000 lines, 4,000 live, so the journal is compacted.
    for (let job = 0; job < 3; job++) {
      await state.screening.put(Array.from({ length: 4000 }, (_, i) => ({ ...base, patientId: `p-${i}`, jobId: `job-${job}`, dataDigest: `d-${job}-${i}` })));
    }
    await state.close();
    const lines = readFileSync(resolve(dir, name, 'screening.jsonl'), 'utf8').trim().split('\n');
    expect(lines.length).toBeLessThan(6000);
    state = await openAt(name);
    const held = await state.screening.forTrial(base.trialId);
    expect(held).toHaveLength(4000);
    expect(held.every((e) => e.jobId === 'job-2' && !e.isNew)).toBe(true);
    expect(await state.screening.digests(base.fhirServer, ['p-17'])).toEqual(new Map([['p-17', 'd-2-17']]));
  });

  it('skips a corrupt line with a warning that gives the count and its line number only', async () => {
    const name = 'corrupt';
    let state = await openAt(name);
    await state.screening.put(exampleEntries('sle-child-likely', 'job-1'));
    await state.close();
    const { appendFileSync } = await import('node:fs');
    appendFileSync(resolve(dir, name, 'screening.jsonl'), '{"t":"screening","patientId":"secret-patient"}\n');
    const warnings: object[] = [];
    state = await openAt(name, { warn: (o: object): void => void warnings.push(o), info: (): void => undefined });
    // Named by its line number, which is where an operator opens the file.
    const lineNumber = readFileSync(resolve(dir, name, 'screening.jsonl'), 'utf8').trim().split('\n').length;
    expect(warnings).toEqual([{ journal: resolve(dir, name, 'screening.jsonl'), skippedLines: 1, lineNumbers: [lineNumber] }]);
    expect(JSON.stringify(warnings)).not.toContain('secret-patient');
    expect(await state.screening.digests('https://ehr.example/fhir', ['sle-child-likely'])).toHaveProperty('size', 1);
  });

  it('gives the same worklist after a restart and after a compaction, for candidates whole and ineligible entries with their blocking criterion', async () => {
    const name = 'same-worklist';
    let state = await openAt(name);
    const examplesIds = ['sle-child-likely', 'sle-teen-missing-tests', 'sle-adult-refractory', 'sle-adult-belimumab'];
    // As population screening writes them (detail 'decision'): an ineligible entry holds its blocking criterion only.
    const templates = examplesIds.flatMap((p) => exampleEntries(p, 'job-0')).map((e) =>
      e.status === 'ineligible' ? { ...e, criteria: [e.criteria.find((c) => c.outcome === 'not-met') ?? e.criteria[0]!] } : e,
    );
    expect(templates.some((e) => e.status === 'ineligible' && e.criteria.length === 1)).toBe(true);
    expect(templates.some((e) => e.status !== 'ineligible' && e.criteria.length > 1)).toBe(true);
    // 3,000 patients of two servers, each trial's entry copied from an example, screened by two jobs (the second
    // changing a third of them and one trial's reason): enough lines that the journal is compacted.
    const entriesOf = (job: number): typeof templates =>
      Array.from({ length: 3000 }, (_, i) => templates.filter((t) => t.patientId === examplesIds[i % examplesIds.length]).map((t) => ({
        ...t,
        patientId: `p-${i}`,
        fhirServer: i % 7 === 0 ? 'https://other.example/fhir' : t.fhirServer,
        jobId: `job-${job}`,
        dataDigest: job === 1 && i % 3 === 0 ? `changed-${i}` : `d-${i}`,
        ...(i % 11 === 0 ? { lastDataSeen: undefined } : {}),
        screenedAt: `2026-11-2${3 + job}T09:00:00.000Z`,
      }))).flat().map(({ lastDataSeen, ...e }) => (lastDataSeen === undefined ? e : { ...e, lastDataSeen }));
    await state.screening.put(entriesOf(0));
    await state.screening.put(entriesOf(1).filter((e) => e.dataDigest.startsWith('changed-')));
    const trials = [...new Set(templates.map((t) => t.trialId))];
    const worklists = async (s: EmbeddedState): Promise<unknown[]> => Promise.all(trials.flatMap((t) => [s.screening.forTrial(t), s.screening.forTrial(t, 'https://other.example/fhir')]));
    const before = await worklists(state);
    expect((before[0] as unknown[]).length).toBe(3000);
    await state.close();
    state = await openAt(name);
    expect(await worklists(state)).toEqual(before);
    // A third job over every patient: 3x the live lines, so the journal is compacted; then read back.
    await state.screening.put(entriesOf(2));
    const third = await worklists(state);
    await state.close();
    const lines = readFileSync(resolve(dir, name, 'screening.jsonl'), 'utf8').trim().split('\n');
    expect(lines.length).toBeLessThan(3000 * trials.length + 1000);
    state = await openAt(name);
    expect(await worklists(state)).toEqual(third);
    const digests = await state.screening.digests('https://other.example/fhir', ['p-0', 'p-1', 'p-7']);
    expect(digests).toEqual(new Map([['p-0', 'd-0'], ['p-7', 'd-7']]));
  });
});
