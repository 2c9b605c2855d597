import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadExamples } from '../../src/examples/example-patients.js';
import { screeningEntry, type ScreeningEntry } from '../../src/population/screening-entry.js';
import type { SharedState } from '../../src/store/shared-state.js';
import { ROOT } from './app.js';
import { evaluate } from './evaluate.js';

/**
 * The behaviour every ScreeningResultsStore and PatientStateStore must have (issue #19), run on the embedded
 * journal (test/store) and on PostgreSQL (test/replicas): the same assertions, so the two cannot drift.
 * The entries come from the real engine on the example patients, as a population job makes them.
 */
export interface StoreUnderTest {
  state: SharedState;
  /** Closes and opens the same store again (a restart), when the store can. */
  reopen(): Promise<SharedState>;
}

export const SERVER = 'https://ehr.example/fhir';
const examples = loadExamples(resolve(ROOT, 'cds-hooks', 'examples'));

/** Every trial's entry for one example patient, as a job with this id would write it. */
export function exampleEntries(patientId: string, jobId: string, dataDigest = `digest-${patientId}`, fhirServer = SERVER): Omit<ScreeningEntry, 'isNew'>[] {
  const example = examples.patients.find((p) => p.id === patientId);
  if (!example) throw new Error(`no example ${patientId}`);
  return evaluate(example.bundle, examples.anchorDate).map((e) => screeningEntry(e, { patientId, fhirServer, jobId, dataDigest, lastDataSeen: '2026-11-20' }));
}

export function describeScreeningStore(name: string, open: () => Promise<StoreUnderTest>): void {
  describe(`the screening results store (${name})`, () => {
    it('gives back every field a job wrote, per trial, and marks a first likely or possibly eligible finding new', async () => {
      const store = await open();
      const entries = exampleEntries('sle-teen-missing-tests', 'job-1');
      const stored = await store.state.screening.put(entries);
      expect(stored).toHaveLength(entries.length);
      for (const [i, e] of entries.entries()) expect(stored[i]).toEqual({ ...e, isNew: e.status !== 'ineligible' });
      expect(entries.some((e) => e.status === 'possibly-eligible')).toBe(true);
      const trialId = entries[0]!.trialId;
      expect(await store.state.screening.forTrial(trialId)).toEqual([stored[0]]);
      expect(await store.state.screening.forTrial(trialId, 'https://other.example/fhir')).toEqual([]);
      expect(await store.state.screening.forTrial('no-such-trial')).toEqual([]);
    });

    it('is not new when an earlier job found the patient, new again after a job found them ineligible, and a retried chunk keeps its job\'s answer', async () => {
      const store = await open();
      const first = await store.state.screening.put(exampleEntries('sle-adult-refractory', 'job-a'));
      const eligible = first.filter((e) => e.status !== 'ineligible');
      expect(eligible.length).toBeGreaterThan(0);
      expect(eligible.every((e) => e.isNew)).toBe(true);
      // The same job again (a replica retrying the chunk): still new.
      expect((await store.state.screening.put(exampleEntries('sle-adult-refractory', 'job-a'))).filter((e) => e.isNew)).toHaveLength(eligible.length);
      // The next job: known, not new.
      expect((await store.state.screening.put(exampleEntries('sle-adult-refractory', 'job-b'))).filter((e) => e.isNew)).toHaveLength(0);
      // Found ineligible by one job, then possibly eligible by the next: new again.
      const trialId = eligible[0]!.trialId;
      const gone = { ...exampleEntries('sle-adult-refractory', 'job-c').find((e) => e.trialId === trialId)!, status: 'ineligible' as const, statusReason: 'inclusion-not-met' as const };
      expect((await store.state.screening.put([gone]))[0]!.isNew).toBe(false);
      const back = exampleEntries('sle-adult-refractory', 'job-d').find((e) => e.trialId === trialId)!;
      expect((await store.state.screening.put([back]))[0]!.isNew).toBe(true);
    });

    it('keeps one entry per server, trial and patient, the last given winning, and answers digests for a job to skip unchanged patients', async () => {
      const store = await open();
      const older = exampleEntries('sle-child-likely', 'job-1', 'd-old');
      const newer = exampleEntries('sle-child-likely', 'job-1', 'd-new');
      const stored = await store.state.screening.put([...older, ...newer]);
      expect(stored.map((e) => e.dataDigest)).toEqual(newer.map(() => 'd-new'));
      await store.state.screening.put(exampleEntries('sle-child-likely', 'job-1', 'd-elsewhere', 'https://other.example/fhir'));
      const digests = await store.state.screening.digests(SERVER, ['sle-child-likely', 'never-screened']);
      expect([...digests]).toEqual([['sle-child-likely', 'd-new']]);
      expect((await store.state.screening.forTrial(newer[0]!.trialId)).filter((e) => e.patientId === 'sle-child-likely')).toHaveLength(2);
      expect(await store.state.screening.put([])).toEqual([]);
    });

    it('keeps entries and the coordinator\'s states across a restart', async () => {
      const store = await open();
      const entries = exampleEntries('sle-adult-belimumab', 'job-r');
      const stored = await store.state.screening.put(entries);
      const trialId = entries[0]!.trialId;
      const state = { fhirServer: SERVER, trialId, patientId: 'sle-adult-belimumab', state: 'contacted' as const, setBy: { issuer: 'https://ehr.example', subject: 'coordinator-1' }, setAt: '2026-11-23T10:00:00.000Z' };
      expect(await store.state.patientStates.set(state)).toEqual(state);
      const later = { ...state, state: 'referred' as const, setAt: '2026-11-24T09:30:00.000Z', setBy: { issuer: 'https://ehr.example', subject: 'coordinator-2' } };
      await store.state.patientStates.set(later);
      const again = await store.reopen();
      expect((await again.screening.forTrial(trialId)).find((e) => e.patientId === 'sle-adult-belimumab')).toEqual(stored[0]);
      expect(await again.patientStates.forTrial(trialId, SERVER)).toContainEqual(later);
      expect((await again.patientStates.forTrial(trialId)).filter((s) => s.patientId === 'sle-adult-belimumab')).toEqual([later]);
      expect(await again.patientStates.forTrial('no-such-trial')).toEqual([]);
    });
  });
}
