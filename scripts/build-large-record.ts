/**
 * The largest lupus-like record (issue #21 item 4): the likely-eligible example child
 * (cds-hooks/examples/sle-child-likely.json) under another id, with what Synthea writes for a chronic patient
 * over a decade, none of which a criterion reads, so its cards must be the example's:
 * - 2,900 Procedures (the largest Synthea lupus record held 2,900): "Documentation of current
 *   medications" (SNOMED 428191000124101) and "Medication reconciliation" (SNOMED 430193006), Synthea's
 *   commonest, at every encounter;
 * - 24,000 vital-sign Observations (LOINC 8302-2 body height, 8867-4 heart rate, 9279-1 respiratory rate,
 *   8310-5 body temperature: https://loinc.org/8302-2/ and so on), which no criterion reads;
 * - 3,000 MedicationRequests for acetaminophen (RxNorm 313782) and loratadine (RxNorm 665078);
 * - 200 influenza Immunizations (CVX 140, inactivated, which the live-vaccine exclusion does not read).
 * About 30,100 resources. Used by bench/large-record.ts; `npx tsx scripts/build-large-record.ts out.json`
 * writes it as a collection Bundle.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Bundle, BundleEntry, Immunization, MedicationRequest, Observation, Procedure } from '@medplum/fhirtypes';
import { CVX, LOINC, RXNORM, SNOMED } from './fhir-builders.js';

const ROOT = resolve(import.meta.dirname, '..');
export const LARGE_RECORD_ID = 'large-lupus-record';
export interface LargeRecordCounts {
  procedures: number;
  observations: number;
  medicationRequests: number;
  immunizations: number;
}
export const LARGE_RECORD_COUNTS: Readonly<LargeRecordCounts> = { procedures: 2_900, observations: 24_000, medicationRequests: 3_000, immunizations: 200 };

/** `i` units of `hours` back from 2026-11-01 (the example's anchor is 2026-11-23), as a FHIR dateTime. */
const back = (i: number, hours: number): string => new Date(Date.UTC(2026, 10, 1) - i * hours * 3_600_000).toISOString();

const VITALS = [
  ['8302-2', 'Body height', 'cm', 150],
  ['8867-4', 'Heart rate', '/min', 88],
  ['9279-1', 'Respiratory rate', '/min', 18],
  ['8310-5', 'Body temperature', 'Cel', 36.8],
] as const;

/**
 * The record under `id`; `counts` scales what is added (test/integration/large-record-hook.test.ts keeps the
 * Procedures and MedicationRequests, which the searches page or filter, and fewer vital signs, which the
 * Observation code filter leaves on the server whatever their number, so it loads in a minute).
 */
export function largeLupusRecord(id: string = LARGE_RECORD_ID, counts: Readonly<LargeRecordCounts> = LARGE_RECORD_COUNTS): Bundle {
  const base = JSON.parse(readFileSync(resolve(ROOT, 'cds-hooks', 'examples', 'sle-child-likely.json'), 'utf8').replaceAll('sle-child-likely', id)) as Bundle;
  const subject = { reference: `Patient/${id}` };
  const extra: BundleEntry[] = [];
  for (let i = 0; i < counts.procedures; i++) {
    const [code, display] = i % 3 === 0 ? ['430193006', 'Medication reconciliation (procedure)'] : ['428191000124101', 'Documentation of current medications'];
    const start = back(i, 30);
    const p: Procedure = { resourceType: 'Procedure', id: `${id}-proc-${i}`, status: 'completed', code: { coding: [{ system: SNOMED, code, display }], text: display }, subject, performedPeriod: { start, end: start } };
    extra.push({ resource: p });
  }
  for (let i = 0; i < counts.observations; i++) {
    const [code, display, unit, value] = VITALS[i % VITALS.length]!;
    const o: Observation = {
      resourceType: 'Observation',
      id: `${id}-vital-${i}`,
      status: 'final',
      category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'vital-signs' }] }],
      code: { coding: [{ system: LOINC, code, display }], text: display },
      subject,
      effectiveDateTime: back(Math.floor(i / VITALS.length), 15),
      valueQuantity: { value, unit, system: 'http://unitsofmeasure.org', code: unit },
    };
    extra.push({ resource: o });
  }
  for (let i = 0; i < counts.medicationRequests; i++) {
    const [code, display] = i % 2 === 0 ? ['313782', 'Acetaminophen 325 MG Oral Tablet'] : ['665078', 'Loratadine 5 MG Chewable Tablet'];
    const r: MedicationRequest = { resourceType: 'MedicationRequest', id: `${id}-rx-${i}`, status: 'completed', intent: 'order', medicationCodeableConcept: { coding: [{ system: RXNORM, code, display }], text: display }, subject, authoredOn: back(i, 29) };
    extra.push({ resource: r });
  }
  for (let i = 0; i < counts.immunizations; i++) {
    const display = 'Influenza, seasonal, injectable, preservative free';
    const im: Immunization = { resourceType: 'Immunization', id: `${id}-imm-${i}`, status: 'completed', vaccineCode: { coding: [{ system: CVX, code: '140', display }], text: display }, patient: subject, occurrenceDateTime: back(i, 400), primarySource: true };
    extra.push({ resource: im });
  }
  return { resourceType: 'Bundle', type: 'collection', entry: [...(base.entry ?? []), ...extra] };
}

if (process.argv[1] && resolve(process.argv[1]) === resolve(import.meta.filename)) {
  const out = process.argv[2];
  if (!out) {
    process.stderr.write('usage: npx tsx scripts/build-large-record.ts <out.json>\n');
    process.exit(2);
  }
  const bundle = largeLupusRecord();
  writeFileSync(out, JSON.stringify(bundle));
  process.stdout.write(`${out}: ${bundle.entry!.length} resources\n`);
}
