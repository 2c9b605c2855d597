import { readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Bundle, CodeableConcept, Coding, Resource } from '@medplum/fhirtypes';
import { daysAgo } from './fhir-builders.js';

/**
 * Writes the test records for codes as EHRs send them (issue #17 items 2 and 4, issue #18 item 2):
 * test/clinical/records/codes-*.json and meds-reference-*.json, each the likely-eligible example child
 * (cds-hooks/examples/sle-child-likely.json) with its codes or medication records written the way Epic-style
 * and Cerner-style FHIR exports write them. Run with `npx tsx scripts/build-code-reading-records.ts`; the
 * records are committed, so a test reads exactly the FHIR it names.
 */

const ROOT = resolve(import.meta.dirname, '..');
const BASE = 'sle-child-likely';

/** The HL7 OIDs of the systems (terminology.hl7.org NamingSystems; src/terminology/code-systems.ts). */
const OID_OF: Readonly<Record<string, string>> = {
  'http://snomed.info/sct': 'urn:oid:2.16.840.1.113883.6.96',
  'http://loinc.org': 'urn:oid:2.16.840.1.113883.6.1',
  'http://www.nlm.nih.gov/research/umls/rxnorm': 'urn:oid:2.16.840.1.113883.6.88',
  'http://hl7.org/fhir/sid/icd-10-cm': 'urn:oid:2.16.840.1.113883.6.90',
  'http://hl7.org/fhir/sid/cvx': 'urn:oid:2.16.840.1.113883.12.292',
};

function resourcesOf(id: string): Resource[] {
  const text = readFileSync(resolve(ROOT, 'cds-hooks', 'examples', `${BASE}.json`), 'utf8').replaceAll(BASE, id);
  return ((JSON.parse(text) as Bundle).entry ?? []).flatMap((e) => (e.resource ? [e.resource] : []));
}

function write(id: string, resources: Resource[]): void {
  const bundle: Bundle = { resourceType: 'Bundle', type: 'collection', entry: resources.map((resource) => ({ fullUrl: `urn:uuid:${resource.resourceType}-${resource.id}`, resource })) };
  writeFileSync(resolve(ROOT, 'test', 'clinical', 'records', `${id}.json`), JSON.stringify(bundle, null, 1) + '\n');
}

/** The record's SLE problem-list entry (the example's only Condition) with its code replaced. */
function withSleCode(id: string, code: CodeableConcept): Resource[] {
  return resourcesOf(id).map((r) => (r.resourceType === 'Condition' ? { ...r, code } : r));
}

function toOids(concept: CodeableConcept | undefined): CodeableConcept | undefined {
  if (!concept?.coding) return concept;
  return { ...concept, coding: concept.coding.map((c): Coding => ({ ...c, system: (c.system && OID_OF[c.system]) ?? c.system })) };
}

// Epic-style: every code by its HL7 OID (coded answers too: SNOMED CT 260385009 Negative); SLE as ICD-10-CM M32.14.
write(
  'codes-epic-oids',
  resourcesOf('codes-epic-oids').map((r): Resource => {
    if (r.resourceType === 'Condition') {
      return { ...r, code: { coding: [{ system: OID_OF['http://hl7.org/fhir/sid/icd-10-cm'], code: 'M32.14', display: 'Glomerular disease in systemic lupus erythematosus' }], text: 'Lupus nephritis' } };
    }
    if (r.resourceType === 'Observation') return { ...r, code: toOids(r.code)!, ...(r.valueCodeableConcept ? { valueCodeableConcept: toOids(r.valueCodeableConcept) } : {}) };
    if (r.resourceType === 'MedicationStatement') return { ...r, medicationCodeableConcept: toOids(r.medicationCodeableConcept) };
    return r;
  }),
);

// A live vaccine (MMR, CVX 03) 14 days ago, its code under the CVX OID.
write('codes-live-vaccine-cvx-oid', [
  ...resourcesOf('codes-live-vaccine-cvx-oid'),
  {
    resourceType: 'Immunization',
    id: 'codes-live-vaccine-cvx-oid-mmr',
    status: 'completed',
    patient: { reference: 'Patient/codes-live-vaccine-cvx-oid' },
    vaccineCode: { coding: [{ system: OID_OF['http://hl7.org/fhir/sid/cvx'], code: '03', display: 'MMR' }] },
    occurrenceDateTime: daysAgo(14),
  },
]);

// SNOMED CT by its US edition version URI, and by the bare OID as CDA-derived feeds write it.
write('codes-sle-snomed-edition-uri', withSleCode('codes-sle-snomed-edition-uri', { coding: [{ system: 'http://snomed.info/sct/731000124108/version/20250301', code: '55464009', display: 'Systemic lupus erythematosus' }] }));
write('codes-sle-snomed-bare-oid', withSleCode('codes-sle-snomed-bare-oid', { coding: [{ system: '2.16.840.1.113883.6.96', code: '55464009', display: 'Systemic lupus erythematosus' }] }));

// Cerner-style: the problem in words only; in Chinese; under a hospital's own code system.
write('codes-sle-text-only', withSleCode('codes-sle-text-only', { text: 'Systemic lupus erythematosus (SLE)' }));
write('codes-sle-chinese-text', withSleCode('codes-sle-chinese-text', { text: '系统性红斑狼疮' }));
write('codes-sle-local-code', withSleCode('codes-sle-local-code', { coding: [{ system: 'urn:oid:1.2.840.114350.1.13.999.2.7.2.696871', code: '1234567', display: 'SLE (systemic lupus erythematosus)' }] }));
// The same entry coded (asthma, under the SNOMED CT OID): a placed code that is not SLE is evidence of no SLE.
write('codes-coded-asthma-only', withSleCode('codes-coded-asthma-only', { coding: [{ system: OID_OF['http://snomed.info/sct'], code: '195967001', display: 'Asthma' }], text: 'Asthma' }));
// China's national clinical edition of ICD-10 (M32.900 below WHO M32.9), by its OID, with its Chinese title.
write('codes-sle-china-clinical-edition', withSleCode('codes-sle-china-clinical-edition', { coding: [{ system: 'urn:oid:2.16.156.10011.2.3.3.11', code: 'M32.900', display: '系统性红斑狼疮' }] }));
// An uncoded entry that does not name SLE: the service cannot tell what it is, so it cannot rule SLE out.
write('codes-uncoded-problem-only', withSleCode('codes-uncoded-problem-only', { text: 'Chronic illness, see notes' }));

// Epic-style administrations of blinatumomab sent without the Medication: only the reference's display names it.
const blinatumomab = (id: string, n: number, start: string, end: string): Resource => ({
  resourceType: 'MedicationAdministration',
  id: `${id}-blin-${n}`,
  status: 'completed',
  subject: { reference: `Patient/${id}` },
  medicationReference: { reference: 'Medication/eBlinatumomab35', display: 'blinatumomab 35 mcg injection' },
  effectivePeriod: { start, end },
});
write('meds-reference-display-blinatumomab', [
  ...resourcesOf('meds-reference-display-blinatumomab'),
  blinatumomab('meds-reference-display-blinatumomab', 1, `${daysAgo(28)}T08:00:00Z`, `${daysAgo(24)}T08:00:00Z`),
  blinatumomab('meds-reference-display-blinatumomab', 2, `${daysAgo(24)}T08:00:00Z`, `${daysAgo(20)}T08:00:00Z`),
]);

// Two immunosuppressants recorded by reference only: no Medication in the record, no display.
write(
  'meds-reference-unnamed',
  resourcesOf('meds-reference-unnamed').map((r): Resource => {
    if (r.resourceType !== 'MedicationStatement' || !/-(29|30)$/.test(r.id ?? '')) return r;
    const { medicationCodeableConcept: _drug, ...rest } = r;
    return { ...rest, medicationReference: { reference: `Medication/e${r.id!.slice(-2)}` } };
  }),
);

// Units as labs print them (issue #17): the ANC with its unit in words only, no UCUM code.
function withAnc(id: string, value: number, unit: string): Resource[] {
  return resourcesOf(id).map((r): Resource => {
    if (r.resourceType !== 'Observation' || !r.code?.coding?.some((c) => c.code === '751-8')) return r;
    return { ...r, valueQuantity: { value, unit } };
  });
}
write('units-anc-0-3-multiplication-sign', withAnc('units-anc-0-3-multiplication-sign', 0.3, '×10^9/L'));
write('units-anc-3400-per-mm3', withAnc('units-anc-3400-per-mm3', 3400, 'cells/mm³'));

// A second problem in words only, one the protocols exclude on (Cerner-style): it must reach the study team.
write('codes-leukaemia-text-only', [
  ...resourcesOf('codes-leukaemia-text-only'),
  {
    resourceType: 'Condition',
    id: 'codes-leukaemia-text-only-all',
    clinicalStatus: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-clinical', code: 'active' }] },
    category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-category', code: 'problem-list-item' }] }],
    code: { text: 'Acute lymphoblastic leukaemia' },
    subject: { reference: 'Patient/codes-leukaemia-text-only' },
    onsetDateTime: '2021-03-02',
  },
]);
