import { describe, expect, it } from 'vitest';
import { rankWorklist } from '../../src/coordinator/worklist.js';
import type { ScreeningEntry } from '../../src/population/screening-entry.js';
import { exampleEntries, SERVER } from '../support/screening-store-contract.js';

const TRIAL = 'nct06934447-bcma-cd70-car-t';
const { lastDataSeen: _seen, ...undated } = exampleEntries('sle-teen-missing-tests', 'job-1').find((e) => e.trialId === TRIAL)!;
const base: ScreeningEntry = { ...undated, isNew: false };

function candidate(patientId: string, over: Partial<ScreeningEntry>): ScreeningEntry {
  return { ...base, patientId, ...over };
}

describe('the worklist ranking (issue #19 item 2)', () => {
  it('puts likely before possibly, then fewest open items, then the most recent data, then patient id; never the ineligible', () => {
    const entries = [
      candidate('p-many-open', { openItems: ['a', 'b', 'c'], lastDataSeen: '2026-11-01' }),
      candidate('p-likely-many', { status: 'likely-eligible', openItems: ['a', 'b', 'c', 'd'], lastDataSeen: '2020-01-01' }),
      candidate('p-one-old', { openItems: ['a'], lastDataSeen: '2019-05' }),
      candidate('p-one-recent', { openItems: ['a'], lastDataSeen: '2026-11-20T10:00:00Z' }),
      candidate('p-one-undated', { openItems: ['a'] }),
      candidate('p-b-tie', { openItems: ['a', 'b'], lastDataSeen: '2026-01-01' }),
      candidate('p-a-tie', { openItems: ['a', 'b'], lastDataSeen: '2026-01-01' }),
      candidate('p-ineligible', { status: 'ineligible', openItems: [] }),
      candidate('p-other-trial', { trialId: 'zju-cd19-car-t-csle', openItems: [] }),
    ];
    const worklist = rankWorklist(TRIAL, entries, [{ fhirServer: SERVER, trialId: TRIAL, patientId: 'p-a-tie', state: 'reviewed', setBy: { issuer: 'i', subject: 's' }, setAt: '2026-11-23T10:00:00Z' }]);
    expect(worklist.candidates.map((c) => c.entry.patientId)).toEqual(['p-likely-many', 'p-one-recent', 'p-one-old', 'p-one-undated', 'p-a-tie', 'p-b-tie', 'p-many-open']);
    expect(worklist.candidates.map((c) => c.rank)).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(worklist.candidates.map((c) => c.state)).toEqual(['new', 'new', 'new', 'new', 'reviewed', 'new', 'new']);
    expect(worklist.candidates[4]!.stateSet).toEqual({ setBy: { issuer: 'i', subject: 's' }, setAt: '2026-11-23T10:00:00Z' });
  });
});
