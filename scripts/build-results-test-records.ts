import type { Observation, Resource } from '@medplum/fhirtypes';
import { LOINC, UCUM, daysAgo } from './fhir-builders.js';
import { derive } from './test-records.js';

/**
 * Writes the issue 18 item 4 test records test/clinical/records/results-*.json ("Results": confirmation and
 * older positives): the likely-eligible example child with one result history changed each, as a
 * laboratory reports it. Run with `npx tsx scripts/build-results-test-records.ts`; the records are
 * committed, so a test reads exactly the FHIR it names.
 */

/** The record's own results of these LOINC codes are removed (the history below replaces them). */
function without(rs: Resource[], ...codes: string[]): Resource[] {
  return rs.filter((r) => !(r.resourceType === 'Observation' && r.code.coding?.some((c) => codes.includes(c.code ?? ''))));
}

/** A quantitative result as a laboratory sends it: UCUM code, printed unit, reference range upper limit. */
function quantity(id: string, loinc: string, display: string, value: number, unit: { code: string; shown: string }, high: number, date: string): Observation {
  const q = (v: number): { value: number; unit: string; system: string; code: string } => ({ value: v, unit: unit.shown, system: UCUM, code: unit.code });
  return {
    resourceType: 'Observation',
    id,
    status: 'final',
    category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'laboratory' }] }],
    code: { coding: [{ system: LOINC, code: loinc, display }], text: display },
    subject: { reference: `Patient/${id.replace(/-obs-.*$/, '')}` },
    effectiveDateTime: `${date}T08:00:00Z`,
    valueQuantity: q(value),
    referenceRange: [{ high: q(high) }],
  };
}

// ---- Confirmation: a confirmatory test decides its screen ------------------------------------------------

derive('results-hbsag-neutralisation-negative', (rs, b) => {
  b.qualitative('5196-1', 'HBsAg', 'pos', daysAgo(10))
    .qualitative('7905-3', 'HBsAg neutralisation', 'neg', daysAgo(8))
    .qualitative('29610-3', 'HBV DNA', 'Not detected', daysAgo(8));
  return without(rs, '5196-1');
});
derive('results-hbsag-reactive-unconfirmed', (rs, b) => {
  b.qualitative('5196-1', 'HBsAg', 'pos', daysAgo(10));
  return without(rs, '5196-1');
});
derive('results-hiv-reactive-rna-not-detected', (rs, b) => {
  b.qualitative('56888-1', 'HIV 1+2 Ab+Ag', 'Reactive', daysAgo(10)).qualitative('25835-0', 'HIV-1 RNA', 'Not detected', daysAgo(8));
  return without(rs, '56888-1');
});
derive('results-hiv-reactive-confirmed-negative', (rs, b) => {
  b.qualitative('56888-1', 'HIV 1+2 Ab+Ag', 'Reactive', daysAgo(10))
    .qualitative('44873-8', 'HIV 1+2 Ab immunoblot', 'neg', daysAgo(8))
    .qualitative('25835-0', 'HIV-1 RNA', 'Not detected', daysAgo(8));
  return without(rs, '56888-1');
});
derive('results-hcv-ab-reactive-immunoblot-negative', (rs, b) => {
  b.qualitative('16128-1', 'HCV Ab', 'pos', daysAgo(10)).qualitative('5199-5', 'HCV Ab immunoblot', 'neg', daysAgo(8));
  return without(rs, '16128-1');
});
derive('results-hcv-ab-reactive-rna-not-detected', (rs, b) => {
  b.qualitative('16128-1', 'HCV Ab', 'pos', daysAgo(10)).qualitative('11259-9', 'HCV RNA', 'Not detected', daysAgo(8));
  return without(rs, '16128-1');
});
derive('results-rpr-reactive-treponemal-negative-after', (rs, b) => {
  b.qualitative('20507-0', 'RPR', 'Reactive', daysAgo(10)).qualitative('24110-9', 'Treponema pallidum Ab (EIA)', 'neg', daysAgo(8));
  return without(rs, '20507-0');
});

// ---- Older positives: a positive outside the window is a fact, never "checked at screening" --------------

derive('results-hcg-15200-20-days-ago', (rs) => {
  const id = 'results-hcg-15200-20-days-ago';
  const hcg = quantity(`${id}-obs-90`, '21198-7', 'Serum beta-hCG', 15200, { code: 'm[IU]/mL', shown: 'mIU/mL' }, 5, daysAgo(20));
  return [...without(rs, '2118-8', '2106-3'), hcg];
});
derive('results-hbsag-positive-hbv-dna-4-months', (rs, b) => {
  const id = 'results-hbsag-positive-hbv-dna-4-months';
  b.qualitative('5196-1', 'HBsAg', 'pos', daysAgo(122));
  const dna = quantity(`${id}-obs-90`, '29615-2', 'HBV DNA', 2400, { code: '[IU]/mL', shown: 'IU/mL' }, 20, daysAgo(122));
  return [...without(rs, '5196-1'), dna];
});
// Serology for "positive in the last 12 months": ANA 1:40 and anti-Sm negative now, anti-dsDNA positive only two years ago.
derive('results-dsdna-positive-2-years-ago', (rs, b) => {
  b.qualitative('5048-4', 'ANA titre (IFA)', '1:40', daysAgo(5)).qualitative('31627-3', 'Anti-Sm', 'neg', daysAgo(5)).qualitative('31348-6', 'Anti-dsDNA', 'pos', daysAgo(730));
  return without(rs, '5048-4', '5130-0', '31348-6', '31627-3');
});
