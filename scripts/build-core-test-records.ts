import type { Resource } from '@medplum/fhirtypes';
import { daysAgo, yearsAgo } from './fhir-builders.js';
import { codesOf, derive, first } from './test-records.js';

/**
 * Writes the issue #10 test records test/clinical/records/core-*.json: the likely-eligible example child
 * (cds-hooks/examples/sle-child-likely.json) with one thing changed each, as an EHR would record it.
 * Run with `npx tsx scripts/build-core-test-records.ts` after changing the example; the records are
 * committed, so a test reads exactly the FHIR it names.
 */

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
