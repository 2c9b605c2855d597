/**
 * The record's order decides nothing: a FHIR server returns a search's matches in an order of its own (HAPI's
 * search cache, or `_sort=_id` when the service asks a large search again by offset, src/data/
 * fhir-server-source.ts offsetSearches), and an EHR's prefetch in another. Every example patient, the clinical
 * test records and the five Synthea records, reversed and in id order, give the same status, the same result
 * for every criterion and the same evidence as the record as it was written.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Bundle, BundleEntry } from '@medplum/fhirtypes';
import { describe, expect, it } from 'vitest';
import { ROOT, exampleBundle, exampleIds, syntheaBundles } from '../support/app.js';
import { evaluate } from '../support/evaluate.js';

const RECORDS = resolve(ROOT, 'test', 'clinical', 'records');

function records(): [string, Bundle][] {
  const out: [string, Bundle][] = exampleIds().map((id) => [id, exampleBundle(id)]);
  for (const { file, bundle } of syntheaBundles()) out.push([file, bundle]);
  for (const file of readdirSync(RECORDS).filter((f) => f.endsWith('.json'))) out.push([file, JSON.parse(readFileSync(resolve(RECORDS, file), 'utf8')) as Bundle]);
  return out.filter(([, b]) => b.resourceType === 'Bundle' && (b.entry?.length ?? 0) > 1);
}

/** Status, and each criterion's result, open parts and evidence (resource, value and date), per trial. */
function view(bundle: Bundle): unknown {
  return evaluate(bundle).map((e) => ({
    trial: e.trialId,
    status: e.status,
    criteria: e.criteria.map((c) => ({ id: c.id, result: c.result, open: c.open.length, evidence: c.evidence.map((x) => JSON.stringify(x)).sort() })),
  }));
}

const ORDERS: [string, (entries: BundleEntry[]) => BundleEntry[]][] = [
  ['reversed', (entries) => [...entries].reverse()],
  ['in id order', (entries) => [...entries].sort((a, b) => (String(a.resource?.id) < String(b.resource?.id) ? -1 : 1))],
];

describe('the order of a record\'s resources', () => {
  const all = records();

  it('reads more than the examples (the Synthea and clinical records are there)', () => {
    expect(all.length).toBeGreaterThan(exampleIds().length + 5);
  });

  for (const [name, reorder] of ORDERS) {
    it(`decides nothing: every record ${name} gives the same statuses, results and evidence`, () => {
      let changed = 0;
      for (const [label, bundle] of all) {
        const entries = reorder(bundle.entry!);
        if (entries.every((e, i) => e === bundle.entry![i])) continue;
        changed++;
        expect(view({ ...bundle, entry: entries }), label).toEqual(view(bundle));
      }
      expect(changed).toBeGreaterThan(all.length / 2);
    });
  }
});
