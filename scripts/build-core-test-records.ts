import { writeFileSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Bundle, Resource } from '@medplum/fhirtypes';
import { PatientBuilder, daysAgo, yearsAgo } from './fhir-builders.js';

/**
 * Writes the issue #10 test records test/clinical/records/core-*.json: the likely-eligible example child
 * (cds-hooks/examples/sle-child-likely.json) with one thing changed each, as an EHR would record it.
 * Run with `npx tsx scripts/build-core-test-records.ts` after changing the example; the records are
 * committed, so a test reads exactly the FHIR it names.
 */

const ROOT = resolve(import.meta.dirname, '..');
const exampleBundle = (id: string): Bundle => JSON.parse(readFileSync(resolve(ROOT, 'cds-hooks', 'examples', `${id}.json`), 'utf8')) as Bundle;
const valueSet = (vs: string): { codes: { system: string; code: string; display: string; exclude?: boolean }[] } =>
  JSON.parse(readFileSync(resolve(ROOT, 'fhir-mappings', 'valuesets', `${vs}.json`), 'utf8'));

const codesOf = (vs: string): Set<string> => new Set(valueSet(vs).codes.map((c) => c.code));
function first(vs: string): { system: string; code: string; display: string } {
  const c = valueSet(vs).codes.find((x) => !x.exclude);
  if (!c) throw new Error(`${vs} has no code`);
  return c;
}

function derive(id: string, edit: (resources: Resource[], b: PatientBuilder) => Resource[]): void {
  const base = exampleBundle('sle-child-likely');
  const text = JSON.stringify(base).replaceAll('sle-child-likely', id);
  const bundle = JSON.parse(text) as Bundle;
  const resources = (bundle.entry ?? []).flatMap((e) => (e.resource ? [e.resource] : []));
  // New resources are built for a stand-in patient, then pointed at the record's own patient.
  const b = new PatientBuilder(`${id}-x`, {});
  const out = edit(resources, b);
  for (const e of b.bundle().entry ?? []) {
    if (!e.resource || e.resource.resourceType === 'Patient') continue;
    out.push(JSON.parse(JSON.stringify(e.resource).replaceAll(`Patient/${id}-x`, `Patient/${id}`)) as Resource);
  }
  const result: Bundle = { resourceType: 'Bundle', type: 'collection', entry: out.map((resource) => ({ fullUrl: `urn:uuid:${resource.resourceType}-${resource.id}`, resource })) };
  writeFileSync(resolve(ROOT, 'test', 'clinical', 'records', `${id}.json`), JSON.stringify(result, null, 1) + '\n');
}

const sero = new Set([...codesOf('ana-titer'), ...codesOf('anti-dsdna'), ...codesOf('anti-smith')]);
derive('core-dsdna-positive-last-year', (rs, b) => {
  const kept = rs.filter((r) => !(r.resourceType === 'Observation' && (r).code.coding?.some((c) => sero.has(c.code!))));
  b.qualitative('5048-4', 'ANA titre (IFA)', '1:40', daysAgo(5))
    .qualitative('31348-6', 'Anti-dsDNA', 'pos', daysAgo(180))
    .qualitative('31348-6', 'Anti-dsDNA', 'neg', daysAgo(5))
    .qualitative('31627-3', 'Anti-Sm', 'neg', daysAgo(5));
  return kept;
});
derive('core-old-problem-list-entries', (rs, b) => {
  const np = first('neuropsychiatric-lupus');
  const mas = first('macrophage-activation-syndrome');
  b.condition(np.system, np.code, np.display, { onset: yearsAgo(3) });
  b.condition(mas.system, mas.code, mas.display, { onset: yearsAgo(2) });
  return rs;
});
derive('core-rpr-reactive-treponemal-negative', (rs, b) => {
  const kept = rs.filter((r) => !(r.resourceType === 'Observation' && (r).code.coding?.some((c) => c.code === '20507-0')));
  b.qualitative('20507-0', 'RPR', 'Reactive', daysAgo(5)).qualitative('24110-9', 'Treponema pallidum Ab (EIA)', 'neg', daysAgo(12));
  return kept;
});
derive('core-igra-positive-no-tb', (rs, b) => {
  const igra = first('tb-igra');
  b.qualitative(igra.code, igra.display, 'pos', daysAgo(30));
  return rs;
});
derive('core-deceased', (rs) => rs.map((r): Resource => (r.resourceType === 'Patient' ? { ...r, deceasedDateTime: daysAgo(20) } : r)));
