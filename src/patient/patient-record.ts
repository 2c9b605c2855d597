import type {
  CodeableConcept,
  Condition,
  Immunization,
  Medication,
  MedicationRequest,
  MedicationStatement,
  Observation,
  Patient,
  Procedure,
  Resource,
} from '@medplum/fhirtypes';

/** The resource types the evaluator reads. */
export const CLINICAL_TYPES = [
  'Condition',
  'Observation',
  'MedicationStatement',
  'MedicationRequest',
  'Procedure',
  'Immunization',
] as const;
export type ClinicalType = (typeof CLINICAL_TYPES)[number];

export type ClinicalResource =
  | Condition
  | Observation
  | MedicationStatement
  | MedicationRequest
  | Procedure
  | Immunization;

/**
 * One patient's data, indexed once per request by `system|code` so that each criterion looks up only the
 * few resources its code list names instead of scanning the whole record.
 */
export interface PatientRecord {
  patient: Patient | undefined;
  /** Resource types that could not be read (prefetch absent and the FHIR server failed): never "absent". */
  unavailable: ReadonlyMap<ClinicalType | 'Patient', string>;
  byCode: ReadonlyMap<string, readonly ClinicalResource[]>;
  /** Medication records with their text (code text and displays), in lower case, for the by-name fallback. */
  medicationTexts: readonly { resource: MedicationStatement | MedicationRequest; lowerText: string }[];
  counts: Readonly<Record<string, number>>;
}

/** The code of a resource that criteria match on. */
export function resourceCode(
  resource: ClinicalResource,
  medications: ReadonlyMap<string, Medication>,
): CodeableConcept | undefined {
  switch (resource.resourceType) {
    case 'Condition':
    case 'Observation':
    case 'Procedure':
      return resource.code;
    case 'Immunization':
      return resource.vaccineCode;
    case 'MedicationStatement':
    case 'MedicationRequest':
      return medicationConcept(resource, medications);
  }
}

function medicationConcept(
  resource: MedicationStatement | MedicationRequest,
  medications: ReadonlyMap<string, Medication>,
): CodeableConcept | undefined {
  if (resource.medicationCodeableConcept) return resource.medicationCodeableConcept;
  const ref = resource.medicationReference?.reference;
  if (!ref) return undefined;
  // A reference is either to a contained Medication ("#med1") or to one elsewhere in the record.
  const med = ref.startsWith('#')
    ? (resource.contained?.find((c) => c.resourceType === 'Medication' && c.id === ref.slice(1)) as
        | Medication
        | undefined)
    : medications.get(ref);
  return med?.code;
}

/** Builds the per-request index. Resources of types the evaluator does not read are counted and dropped. */
export function buildPatientRecord(
  patient: Patient | undefined,
  resources: readonly Resource[],
  unavailable: ReadonlyMap<ClinicalType | 'Patient', string> = new Map(),
): PatientRecord {
  const medications = new Map<string, Medication>();
  for (const r of resources) {
    if (r.resourceType === 'Medication' && r.id) medications.set(`Medication/${r.id}`, r);
  }
  const byCode = new Map<string, ClinicalResource[]>();
  const medicationTexts: { resource: MedicationStatement | MedicationRequest; lowerText: string }[] = [];
  const counts: Record<string, number> = {};
  const seen = new Set<string>();
  for (const r of resources) {
    counts[r.resourceType] = (counts[r.resourceType] ?? 0) + 1;
    if (!isClinical(r)) continue;
    // The same resource may arrive twice (prefetch overlap, paging); index it once.
    if (r.id) {
      const ref = `${r.resourceType}/${r.id}`;
      if (seen.has(ref)) continue;
      seen.add(ref);
    }
    const concept = resourceCode(r, medications);
    for (const coding of concept?.coding ?? []) {
      if (!coding.system || !coding.code) continue;
      const key = `${coding.system}|${coding.code}`;
      const list = byCode.get(key);
      if (list) {
        if (list[list.length - 1] !== r) list.push(r);
      } else byCode.set(key, [r]);
    }
    if (r.resourceType === 'MedicationStatement' || r.resourceType === 'MedicationRequest') {
      const text = [concept?.text, ...(concept?.coding ?? []).map((c) => c.display)].filter(Boolean).join(' ');
      if (text) medicationTexts.push({ resource: r, lowerText: text.toLowerCase() });
    }
  }
  return { patient, unavailable, byCode, medicationTexts, counts };
}

function isClinical(r: Resource): r is ClinicalResource {
  return (CLINICAL_TYPES as readonly string[]).includes(r.resourceType);
}

export function referenceOf(r: Resource): string {
  return `${r.resourceType}/${r.id ?? '(no id)'}`;
}
