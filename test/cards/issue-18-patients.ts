import type { Bundle, Observation } from '@medplum/fhirtypes';
import { LOINC, SNOMED, UCUM, daysAgo } from '../../scripts/fhir-builders.js';

/**
 * The two patients of issue 18's screenshots, each the example child (Mei, 12, refractory SLE, full recent
 * screening labs) with one thing added, dated relative to `now` (the example bundles the service hands out
 * have their dates moved to today):
 * - HBsAg-positive: HBsAg positive four months ago and HBV DNA 2,400 IU/mL the same day;
 * - pregnant: a serum hCG of 15,200 mIU/mL 20 days ago.
 * Codes: LOINC 5196-1 "Hepatitis B virus surface Ag [Presence] in Serum or Plasma by Immunoassay"
 * (https://loinc.org/5196-1), 29615-2 "Hepatitis B virus DNA [#/volume] (viral load) in Serum or Plasma by NAA
 * with probe detection" (https://loinc.org/29615-2), 19080-1 "Choriogonadotropin [Units/volume] in Serum or
 * Plasma" (https://loinc.org/19080-1); SNOMED CT 10828004 "Positive" (http://snomed.info/id/10828004).
 */
function observation(patientId: string, id: string, code: string, display: string, date: string, value: Partial<Observation>): Observation {
  return {
    resourceType: 'Observation',
    id: `${patientId}-${id}`,
    status: 'final',
    category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'laboratory' }] }],
    code: { coding: [{ system: LOINC, code, display }], text: display },
    subject: { reference: `Patient/${patientId}` },
    effectiveDateTime: `${date}T08:00:00Z`,
    ...value,
  };
}

function withResources(bundle: Bundle, patientId: string, name: string, add: (id: string) => Observation[]): Bundle {
  const copy = JSON.parse(JSON.stringify(bundle)) as Bundle;
  const entries = copy.entry ?? [];
  const from = entries.find((e) => e.resource?.resourceType === 'Patient')?.resource?.id ?? '';
  // A patient of its own: the same record under a new id, so the EHR and the sandbox hold both.
  const text = JSON.stringify(entries).split(`Patient/${from}`).join(`Patient/${patientId}`).split(`${from}-`).join(`${patientId}-`);
  const moved = JSON.parse(text) as NonNullable<Bundle['entry']>;
  for (const e of moved) {
    if (e.resource?.resourceType === 'Patient') {
      e.resource.id = patientId;
      e.resource.name = [{ family: 'Example', given: [name] }];
    }
    if (e.fullUrl) e.fullUrl = e.fullUrl.split(from).join(patientId);
  }
  const extra = add(patientId).map((resource) => ({ fullUrl: `urn:trialmatch-example:Observation/${resource.id}`, resource }));
  return { ...copy, entry: [...moved, ...extra] };
}

export function hbsagPositiveChild(exampleChild: Bundle, now: Date = new Date()): Bundle {
  const date = daysAgo(122, now);
  return withResources(exampleChild, 'sle-child-hbsag-positive', 'Hana', (id) => [
    observation(id, 'hbsag', '5196-1', 'Hepatitis B virus surface Ag [Presence] in Serum or Plasma by Immunoassay', date, {
      valueCodeableConcept: { coding: [{ system: SNOMED, code: '10828004', display: 'Positive' }], text: 'Positive' },
    }),
    observation(id, 'hbv-dna', '29615-2', 'Hepatitis B virus DNA [#/volume] (viral load) in Serum or Plasma by NAA with probe detection', date, {
      valueQuantity: { value: 2400, unit: '[IU]/mL', system: UCUM, code: '[IU]/mL' },
    }),
  ]);
}

export function pregnantGirl(exampleChild: Bundle, now: Date = new Date()): Bundle {
  return withResources(exampleChild, 'sle-child-pregnant', 'Lea', (id) => [
    observation(id, 'hcg', '19080-1', 'Choriogonadotropin [Units/volume] in Serum or Plasma', daysAgo(20, now), {
      valueQuantity: { value: 15200, unit: 'm[IU]/mL', system: UCUM, code: 'm[IU]/mL' },
      referenceRange: [{ high: { value: 5, unit: 'm[IU]/mL', system: UCUM, code: 'm[IU]/mL' } }],
    }),
  ]);
}
