import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Bundle } from '@medplum/fhirtypes';
import { PatientBuilder, daysAgo, yearsAgo } from '../../scripts/fhir-builders.js';
import { ROOT } from '../support/app.js';

interface Code {
  system: string;
  code: string;
  display: string;
}

/** The first code of a shared code list, so these patients are coded exactly as the mappings expect. */
function first(valueSet: string, system?: string): Code {
  const vs = JSON.parse(readFileSync(resolve(ROOT, 'fhir-mappings', 'valuesets', `${valueSet}.json`), 'utf8')) as { codes: (Code & { exclude?: boolean })[] };
  const c = vs.codes.find((x) => !x.exclude && (!system || x.system === system));
  if (!c) throw new Error(`${valueSet} has no ${system ?? ''} code`);
  return c;
}

function condition(b: PatientBuilder, valueSet: string, onsetDaysAgo: number, system?: string): PatientBuilder {
  const c = first(valueSet, system);
  return b.condition(c.system, c.code, c.display, { onset: daysAgo(onsetDaysAgo) });
}

/** Test lists that were empty until issue #10 filled them from sources. */
const FILLED_TESTS = ['hbv-dna', 'cmv-dna', 'ebv-dna', 'tb-igra', 'tuberculin-skin-test'];

/**
 * Patients made to reach the outcomes the example patients do not: every exclusion present and every
 * inclusion failed ("worst"), and the edge cases between.
 */
export function coveragePatients(): Bundle[] {
  const worst = new PatientBuilder('worst', { gender: 'female', birthDate: yearsAgo(6) });
  worst.condition('http://snomed.info/sct', '55464009', 'Systemic lupus erythematosus', { onset: daysAgo(400) });
  for (const [vs, onset] of [
    ['neuropsychiatric-lupus', 20],
    ['renal-replacement-therapy', 30],
    ['congenital-heart-disease', 3000],
    ['acute-myocardial-infarction', 30],
    ['severe-arrhythmia', 30],
    ['pericardial-effusion', 30],
    ['myocarditis', 30],
    ['graft-versus-host-disease', 5],
    ['hepatitis-b', 700],
    ['hiv', 700],
    ['hepatitis-c', 300],
    ['cmv-infection', 20],
    ['ebv-infection', 20],
    ['tuberculosis', 900],
    ['tb-test-reaction', 300],
    ['macrophage-activation-syndrome', 10],
    ['malignancy', 365],
    ['depression', 200],
    ['suicidal-ideation-behaviour', 30],
    ['primary-immunodeficiency', 2000],
    ['substance-use-disorder', 100],
    ['pregnancy', 60],
    ['syphilis', 40],
  ] as const) {
    condition(worst, vs, onset);
  }
  // Transplant status Conditions are ICD-10-CM Z94 codes; the procedures are SNOMED.
  condition(worst, 'solid-organ-transplant', 60, 'http://hl7.org/fhir/sid/icd-10-cm');
  condition(worst, 'hematopoietic-stem-cell-transplant', 60, 'http://hl7.org/fhir/sid/icd-10-cm');
  const aps = first('antiphospholipid-syndrome');
  worst.condition(aps.system, aps.code, aps.display, { onset: daysAgo(90), severity: { code: '24484000', display: 'Severe' } });
  for (const vs of ['renal-replacement-therapy', 'solid-organ-transplant', 'hematopoietic-stem-cell-transplant']) {
    const p = first(vs, 'http://snomed.info/sct');
    worst.procedure(p.system, p.code, p.display, daysAgo(20));
  }
  const mmr = first('live-vaccines');
  worst.immunization(mmr.code, mmr.display, daysAgo(10));
  worst
    .medication({ rxnorm: first('vasopressors').code, display: first('vasopressors').display }, daysAgo(2))
    .medication({ display: 'Tofacitinib 5 MG Oral Tablet' }, daysAgo(30))
    .medication({ rxnorm: '3002', display: 'cyclophosphamide' }, daysAgo(10))
    .medication({ rxnorm: '121191', display: 'rituximab' }, daysAgo(20))
    .medication({ display: 'tisagenlecleucel suspension for IV infusion' }, daysAgo(400), { end: daysAgo(400) });
  const d = daysAgo(3);
  worst
    .quantity('731-0', 'Lymphocytes', 0.3, '10*3/uL', d)
    .quantity('8116-6', 'CD19 cells', 10, '/uL', d)
    .quantity('751-8', 'Neutrophils', 0.3, '10*3/uL', d)
    .quantity('718-7', 'Hemoglobin', 7.0, 'g/dL', d)
    .quantity('777-3', 'Platelets', 50, '10*3/uL', d)
    .quantity('10230-1', 'LVEF', 45, '%', d)
    .quantity('33914-3', 'eGFR', 20, 'mL/min/{1.73_m2}', d)
    .quantity('1920-8', 'AST', 200, 'U/L', d, { high: 40 })
    .quantity('1742-6', 'ALT', 200, 'U/L', d, { high: 40 })
    .quantity('1975-2', 'Bilirubin', 3, 'mg/dL', d, { high: 1.2 })
    .quantity('59408-5', 'SpO2', 88, '%', d)
    .quantity('2465-3', 'IgG', 300, 'mg/dL', d)
    .quantity('2458-8', 'IgA', 5, 'mg/dL', d)
    .score('SLEDAI-2K', 4, d)
    .qualitative('5048-4', 'ANA', '1:40', d)
    .qualitative('31348-6', 'Anti-dsDNA', 'neg', d)
    .qualitative('31627-3', 'Anti-Sm', 'neg', d);
  for (const vs of ['hbsag', 'hbcab', 'hcv-antibody', 'hcv-rna', 'hiv-antibody', 'syphilis-treponemal', 'syphilis-nontreponemal', 'pregnancy-test-urine', 'pregnancy-test-blood', ...FILLED_TESTS]) {
    const c = first(vs);
    worst.qualitative(c.code, c.display, 'pos', d);
  }
  const protein = first('urine-protein-24h');
  worst.quantity(protein.code, protein.display, 2.4, 'g/(24.h)', d);
  // A qualitative ANA without a titre and a spot protein/creatinine ratio: each only sends its part to review.
  worst.qualitative(first('ana-presence').code, 'ANA presence', 'pos', d).quantity(first('urine-protein-creatinine-ratio').code, 'Protein/creatinine ratio', 2.1, 'mg/mg', d);
  // A syphilis diagnosis of the past (resolved): a treponemal test usually stays positive, so it goes to review.
  const syphilis = first('syphilis');
  worst.condition(syphilis.system, syphilis.code, syphilis.display, { onset: daysAgo(2000), abatement: daysAgo(1900) });

  // An older child: positive anti-Sm, an inactive SLEDAI of 0, an IgG normal for 9 and over but low for 5-8.
  const edge = new PatientBuilder('edge', { gender: 'male', birthDate: yearsAgo(9, 10) });
  edge.qualitative('31627-3', 'Anti-Sm', 'pos', daysAgo(40)).score('SLEDAI-2K', 0, daysAgo(5)).quantity('2465-3', 'IgG', 650, 'mg/dL', daysAgo(5));
  edge.qualitative(first('hcv-rna').code, 'HCV RNA', 'Not detected', daysAgo(5));
  // A medication history with none of the listed drugs: treatment-history parts are then not met. (With no
  // medication data at all, as for the toddler, they stay unknown: issue #10 item 11.)
  edge.medication({ rxnorm: '849574', display: 'Naproxen sodium 220 MG Oral Tablet' }, daysAgo(100));
  for (const vs of FILLED_TESTS) edge.qualitative(first(vs).code, first(vs).display, 'neg', daysAgo(5));
  edge.quantity(first('urine-protein-24h').code, '24-h urine protein', 0.4, 'g/(24.h)', daysAgo(5));
  edge.qualitative(first('ana-presence').code, 'ANA presence', 'neg', daysAgo(5)).quantity(first('urine-protein-creatinine-ratio').code, 'Protein/creatinine ratio', 0.3, 'mg/mg', daysAgo(5));

  const toddler = new PatientBuilder('toddler', { gender: 'male', birthDate: yearsAgo(3) });
  return [worst.bundle(), edge.bundle(), toddler.bundle()];
}
