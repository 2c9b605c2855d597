/**
 * The Synthea records (../shared/data/synthea/, negative controls) as HAPI can hold them without their
 * practitioners and organisations: the resource types the service reads, with the Patient reference as
 * `Patient/<id>` and every other reference reduced to its display (a Reference with only `display` is valid
 * FHIR R4), so the transaction resolves. The hook and the export then read the same resources.
 */
import type { Bundle, Resource } from '@medplum/fhirtypes';
import { CLINICAL_TYPES } from '../../src/patient/patient-record.js';
import { syntheaBundles } from '../support/app.js';

const KEPT = new Set<string>(['Patient', 'Medication', ...CLINICAL_TYPES]);

function stripReferences(value: unknown, patientUrn: string, patientId: string): unknown {
  if (Array.isArray(value)) return value.map((v) => stripReferences(v, patientUrn, patientId));
  if (typeof value !== 'object' || value === null) return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    if (k === 'reference' && typeof v === 'string') {
      if (v === patientUrn || v === `Patient/${patientId}`) out.reference = `Patient/${patientId}`;
      continue;
    }
    out[k] = stripReferences(v, patientUrn, patientId);
  }
  return out;
}

export function syntheaForHapi(): { id: string; bundle: Bundle }[] {
  return syntheaBundles().map(({ bundle }) => {
    const patient = bundle.entry!.find((e) => e.resource?.resourceType === 'Patient')!;
    const id = patient.resource!.id!;
    const urn = patient.fullUrl!;
    const entry = bundle
      .entry!.filter((e) => e.resource && KEPT.has(e.resource.resourceType))
      .map((e) => ({ resource: stripReferences(e.resource, urn, id) as Resource }));
    return { id, bundle: { resourceType: 'Bundle', type: 'collection', entry } };
  });
}

export const MEDREF_PATIENT = 'itest-bulk-medref';

/**
 * sle-child-likely under another id, its rituximab statement naming the drug only by `medicationReference`
 * to a Medication (no display): a Patient-level export cannot hold the Medication (not in the patient
 * compartment), the hook reads it through `_include`, the job must read it by id.
 */
export function medicationReferencePatient(child: Bundle): Bundle {
  const renamed = JSON.parse(JSON.stringify(child).replaceAll('sle-child-likely', MEDREF_PATIENT)) as Bundle;
  const medicationId = `${MEDREF_PATIENT}-rituximab`;
  const entry = renamed.entry!.map((e) => {
    const r = e.resource as Resource & { medicationCodeableConcept?: { coding?: { code?: string }[] }; medicationReference?: unknown };
    if (r.resourceType !== 'MedicationStatement' || r.medicationCodeableConcept?.coding?.[0]?.code !== '121191') return e;
    const { medicationCodeableConcept: _code, ...rest } = r;
    return { resource: { ...rest, medicationReference: { reference: `Medication/${medicationId}` } } };
  });
  const medication: Resource = {
    resourceType: 'Medication',
    id: medicationId,
    code: { coding: [{ system: 'http://www.nlm.nih.gov/research/umls/rxnorm', code: '121191', display: 'rituximab' }], text: 'rituximab' },
  };
  return { ...renamed, entry: [{ resource: medication }, ...entry] };
}
