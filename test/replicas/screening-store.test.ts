import { afterAll, describe, expect, inject, it } from 'vitest';
import { openPostgresState } from '../../src/store/postgres/postgres-state.js';
import type { SharedState } from '../../src/store/shared-state.js';
import { createDatabase } from '../support/replica.js';
import { describeScreeningStore, exampleEntries } from '../support/screening-store-contract.js';

// The screening results and patient states on PostgreSQL (issue #19, migrations/005), with the same
// assertions as the embedded journal (test/store/screening-store.test.ts).
const unavailable = inject('postgresUnavailable');
const quiet = { warn: () => undefined, info: () => undefined };
const opened: SharedState[] = [];
afterAll(async () => {
  await Promise.all(opened.map((s) => s.close().catch(() => undefined)));
});
let n = 0;

async function openFresh(): Promise<{ url: string; state: SharedState }> {
  const url = await createDatabase(inject('postgresUrl'), `screening_${process.pid}_${n++}`);
  const state = await openPostgresState({ databaseUrl: url, maxCards: 1000, jtiIssuerQuota: 10, log: quiet });
  opened.push(state);
  return { url, state };
}

describe.skipIf(unavailable !== '')(`PostgreSQL screening store${unavailable ? ` (skipped: ${unavailable})` : ''}`, () => {
  describeScreeningStore('PostgreSQL', async () => {
    const { url, state } = await openFresh();
    return {
      state,
      reopen: async () => {
        await state.close();
        const again = await openPostgresState({ databaseUrl: url, maxCards: 1000, jtiIssuerQuota: 10, log: quiet });
        opened.push(again);
        return again;
      },
    };
  });

  it('calls a patient new once when two replicas write the same first finding at the same moment', async () => {
    const { url, state } = await openFresh();
    const other = await openPostgresState({ databaseUrl: url, maxCards: 1000, jtiIssuerQuota: 10, log: quiet });
    opened.push(other);
    const one = exampleEntries('sle-teen-missing-tests', 'job-1');
    const two = exampleEntries('sle-teen-missing-tests', 'job-2');
    const [a, b] = await Promise.all([state.screening.put(one), other.screening.put(two)]);
    const eligible = one.filter((e) => e.status !== 'ineligible').length;
    expect([...a, ...b].filter((e) => e.isNew)).toHaveLength(eligible);
  });

  it('writes a batch larger than one statement in one transaction', async () => {
    const { state } = await openFresh();
    const base = exampleEntries('sle-child-likely', 'job-1')[0]!;
    const stored = await state.screening.put(Array.from({ length: 2500 }, (_, i) => ({ ...base, patientId: `p-${i}`, dataDigest: `d-${i}` })));
    expect(stored.map((e) => e.patientId)).toEqual(Array.from({ length: 2500 }, (_, i) => `p-${i}`));
    expect(await state.screening.forTrial(base.trialId)).toHaveLength(2500);
    expect((await state.screening.digests(base.fhirServer, ['p-2499', 'p-0'])).get('p-2499')).toBe('d-2499');
  });
});
