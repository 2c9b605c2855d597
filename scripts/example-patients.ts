import type { Bundle } from '@medplum/fhirtypes';
import { ICD10, PatientBuilder, SNOMED, daysAgo, yearsAgo } from './fhir-builders.js';

/**
 * The example patients shipped with the service (cds-hooks/examples/), written against ANCHOR. Each is a
 * realistic, synthetic record; the summary is what the demo page and README show.
 */
export interface ExamplePatient {
  id: string;
  name: string;
  summary: string;
  bundle: Bundle;
}

const MED = {
  prednisone5: { rxnorm: '312617', display: 'predniSONE 5 MG Oral Tablet' },
  prednisone20: { rxnorm: '312615', display: 'predniSONE 20 MG Oral Tablet' },
  hcq200: { rxnorm: '979092', display: 'Hydroxychloroquine Sulfate 200 MG Oral Tablet' },
  mmf: { display: 'Mycophenolate mofetil 500 MG Oral Tablet' },
  azathioprine50: { rxnorm: '197388', display: 'Azathioprine 50 MG Oral Tablet' },
  rituximab: { rxnorm: '121191', display: 'rituximab' },
  belimumab: { display: 'Belimumab 120 MG/ML Injectable Solution (Benlysta)' },
  blinatumomab: { display: 'Blinatumomab 35 MCG Injection (Blincyto)' },
  methotrexate: { rxnorm: '105586', display: 'Methotrexate 10 MG Oral Tablet' },
  cyclosporine: { rxnorm: '241834', display: 'cycloSPORINE 100 MG Oral Capsule' },
};

function sle(b: PatientBuilder, onsetDaysAgo: number): PatientBuilder {
  return b.condition(SNOMED, '55464009', 'Systemic lupus erythematosus', { onset: daysAgo(onsetDaysAgo) });
}

/** A full recent screening panel with values inside every trial's limits. */
function screeningLabs(b: PatientBuilder, daysBack: number, weightKg: number, opts: { female: boolean; cd19?: number } = { female: true }): PatientBuilder {
  const d = daysAgo(daysBack);
  b.quantity('718-7', 'Hemoglobin', 11.2, 'g/dL', d, { low: 11.5, high: 15.5 })
    .quantity('777-3', 'Platelets', 182, '10*3/uL', d, { low: 150, high: 400 })
    .quantity('731-0', 'Lymphocytes', 1.1, '10*3/uL', d)
    .quantity('751-8', 'Neutrophils', 3.4, '10*3/uL', d)
    .quantity('8116-6', 'CD19 cells', opts.cd19 ?? 140, '/uL', d)
    .quantity('33914-3', 'eGFR', 96, 'mL/min/{1.73_m2}', d)
    .quantity('1920-8', 'AST', 28, 'U/L', d, { high: 40 })
    .quantity('1742-6', 'ALT', 22, 'U/L', d, { high: 35 })
    .quantity('1975-2', 'Bilirubin total', 0.5, 'mg/dL', d, { high: 1.2 })
    .quantity('59408-5', 'SpO2 by pulse oximetry', 98, '%', d)
    .quantity('10230-1', 'Left ventricular ejection fraction', 63, '%', daysAgo(daysBack + 20))
    .quantity('2465-3', 'IgG', 980, 'mg/dL', d, { low: 700, high: 1600 })
    .quantity('2458-8', 'IgA', 160, 'mg/dL', d)
    .quantity('29463-7', 'Body weight', weightKg, 'kg', d)
    .qualitative('5196-1', 'HBsAg', 'neg', d)
    .qualitative('13952-7', 'HBcAb', 'neg', d)
    .qualitative('16128-1', 'HCV Ab', 'neg', d)
    .qualitative('56888-1', 'HIV 1+2 Ab+Ag', 'neg', d)
    .qualitative('20507-0', 'RPR', 'neg', d);
  if (opts.female) {
    b.qualitative('2106-3', 'Urine hCG', 'neg', daysAgo(3)).qualitative('2118-8', 'Serum hCG', 'neg', daysAgo(3));
  }
  return b;
}

function activeSerology(b: PatientBuilder, daysBack: number): PatientBuilder {
  return b
    .qualitative('5048-4', 'ANA titre (IFA)', '1:640', daysAgo(daysBack))
    .quantity('5130-0', 'Anti-dsDNA', 210, '[IU]/mL', daysAgo(daysBack), { high: 30 })
    .score('SLEDAI-2K total score', 12, daysAgo(daysBack));
}

/** Refractory course: high-dose prednisone for 4 months, hydroxychloroquine, MMF, azathioprine, rituximab. */
function refractoryCourse(b: PatientBuilder, weightKg: number): PatientBuilder {
  // About 1.2 mg/kg/day, written as 20 mg tablets, so the dose is read through the product strength.
  const tablets = Math.round((weightKg * 1.2) / 20);
  return b
    .medication(MED.prednisone20, daysAgo(400), { end: daysAgo(270), tablets, perDay: 1 })
    .medication(MED.prednisone5, daysAgo(90), { tablets: 2, perDay: 1 })
    .medication(MED.hcq200, daysAgo(700), { tablets: 1, perDay: 1 })
    .medication(MED.azathioprine50, daysAgo(650), { end: daysAgo(420), tablets: 2, perDay: 1 })
    .medication(MED.mmf, daysAgo(380), { doseMg: 750, perDay: 2 })
    .medication(MED.rituximab, daysAgo(240), { end: daysAgo(225) });
}

export function examplePatients(): ExamplePatient[] {
  const out: ExamplePatient[] = [];

  const girl = new PatientBuilder('sle-child-likely', { gender: 'female', birthDate: yearsAgo(12, 40), name: [{ family: 'Example', given: ['Mei'] }] });
  sle(girl, 900);
  activeSerology(girl, 10);
  screeningLabs(girl, 7, 38, { female: true });
  refractoryCourse(girl, 38);
  out.push({ id: girl.id, name: 'Mei Example', summary: '12-year-old girl with refractory SLE, active (SLEDAI-2K 12), full recent screening labs', bundle: girl.bundle() });

  const woman = new PatientBuilder('sle-adult-belimumab', { gender: 'female', birthDate: yearsAgo(34, 100), name: [{ family: 'Example', given: ['Ana'] }] });
  woman.condition(ICD10, 'M32.14', 'Glomerular disease in systemic lupus erythematosus', { onset: daysAgo(2200) });
  activeSerology(woman, 20);
  screeningLabs(woman, 14, 64, { female: true, cd19: 210 });
  woman
    .medication(MED.prednisone5, daysAgo(500), { tablets: 2, perDay: 1 })
    .medication(MED.hcq200, daysAgo(1800), { tablets: 2, perDay: 1 })
    .medication(MED.mmf, daysAgo(1500), { doseMg: 1000, perDay: 2 })
    .medication(MED.methotrexate, daysAgo(2100), { end: daysAgo(1600), tablets: 1, perDay: 1 });
  out.push({ id: woman.id, name: 'Ana Example', summary: '34-year-old woman with lupus nephritis, active on steroid, hydroxychloroquine and MMF', bundle: woman.bundle() });

  // The belimumab trial's renal route needs a 24-hour urine protein, which has no confirmed code yet, so a
  // nephritis patient stays "possibly"; this adult is refractory by treatment (steroid, antimalarial, two
  // immunosuppressants, no rituximab or cyclophosphamide), the route the record can show.
  const adult = new PatientBuilder('sle-adult-refractory', { gender: 'female', birthDate: yearsAgo(28, 150), name: [{ family: 'Example', given: ['Clara'] }] });
  sle(adult, 2600);
  activeSerology(adult, 15);
  screeningLabs(adult, 10, 61, { female: true, cd19: 180 });
  adult
    .medication(MED.prednisone20, daysAgo(420), { end: daysAgo(300), tablets: 2, perDay: 1 })
    .medication(MED.prednisone5, daysAgo(300), { tablets: 3, perDay: 1 })
    .medication(MED.hcq200, daysAgo(2400), { tablets: 2, perDay: 1 })
    .medication(MED.azathioprine50, daysAgo(1900), { end: daysAgo(1100), tablets: 3, perDay: 1 })
    .medication(MED.mmf, daysAgo(1050), { doseMg: 1500, perDay: 2 });
  out.push({
    id: adult.id,
    name: 'Clara Example',
    summary: '28-year-old woman with SLE still active (SLEDAI-2K 12) despite steroid, hydroxychloroquine, azathioprine and MMF',
    bundle: adult.bundle(),
  });

  const boy = new PatientBuilder('sle-teen-missing-tests', { gender: 'male', birthDate: yearsAgo(15, 200), name: [{ family: 'Example', given: ['Tom'] }] });
  sle(boy, 1200);
  boy.qualitative('5048-4', 'ANA titre (IFA)', '1:320', daysAgo(150));
  boy.quantity('718-7', 'Hemoglobin', 12.9, 'g/dL', daysAgo(130)).quantity('777-3', 'Platelets', 240, '10*3/uL', daysAgo(130));
  refractoryCourse(boy, 55);
  out.push({ id: boy.id, name: 'Tom Example', summary: '15-year-old boy with refractory SLE; no labs or activity score in the last months', bundle: boy.bundle() });

  const hiv = new PatientBuilder('sle-child-hiv-positive', { gender: 'male', birthDate: yearsAgo(10, 15), name: [{ family: 'Example', given: ['Ravi'] }] });
  sle(hiv, 600);
  activeSerology(hiv, 12);
  screeningLabs(hiv, 9, 31, { female: false });
  hiv.qualitative('56888-1', 'HIV 1+2 Ab+Ag', 'pos', daysAgo(8));
  refractoryCourse(hiv, 31);
  out.push({ id: hiv.id, name: 'Ravi Example', summary: '10-year-old boy with refractory SLE and a positive HIV antibody/antigen test last week', bundle: hiv.bundle() });

  const bite = new PatientBuilder('sle-child-on-blinatumomab', { gender: 'female', birthDate: yearsAgo(9, 80), name: [{ family: 'Example', given: ['Lina'] }] });
  sle(bite, 800);
  activeSerology(bite, 30);
  refractoryCourse(bite, 27);
  bite.medication(MED.blinatumomab, daysAgo(21), { end: daysAgo(17) });
  out.push({ id: bite.id, name: 'Lina Example', summary: '9-year-old girl with refractory SLE who received blinatumomab 3 weeks ago', bundle: bite.bundle() });

  const man = new PatientBuilder('adult-no-sle', { gender: 'male', birthDate: yearsAgo(47, 10), name: [{ family: 'Example', given: ['Sam'] }] });
  man.condition(SNOMED, '69896004', 'Rheumatoid arthritis', { onset: daysAgo(3000) });
  man.medication(MED.methotrexate, daysAgo(2000), { tablets: 2, perDay: 1 }).medication(MED.cyclosporine, daysAgo(900), { tablets: 1, perDay: 2 });
  man.quantity('718-7', 'Hemoglobin', 14.1, 'g/dL', daysAgo(30));
  out.push({ id: man.id, name: 'Sam Example', summary: '47-year-old man with rheumatoid arthritis, no lupus', bundle: man.bundle() });

  return out;
}
