import type {
  CodeableConcept,
  Condition,
  Immunization,
  Medication,
  MedicationAdministration,
  MedicationDispense,
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
  'MedicationAdministration',
  'MedicationDispense',
  'Procedure',
  'Immunization',
] as const;
export type ClinicalType = (typeof CLINICAL_TYPES)[number];

export type ClinicalResource =
  | Condition
  | Observation
  | MedicationStatement
  | MedicationRequest
  | MedicationAdministration
  | MedicationDispense
  | Procedure
  | Immunization;

/** The record types that say a patient took, was given, was handed or was ordered a medication. */
export const MEDICATION_TYPES = ['MedicationStatement', 'MedicationRequest', 'MedicationAdministration', 'MedicationDispense'] as const;
export type MedicationRecord = MedicationStatement | MedicationRequest | MedicationAdministration | MedicationDispense;

export function isMedicationRecord(r: { resourceType: string }): r is MedicationRecord {
  return (MEDICATION_TYPES as readonly string[]).includes(r.resourceType);
}

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
  medicationTexts: ReadonlyMap<MedicationRecord, string>;
  /** Medication resources of the record by reference ("Medication/id"), for medicationReference. */
  medications: ReadonlyMap<string, Medication>;
  counts: Readonly<Record<string, number>>;
  /**
   * `system|code` of the record -> ids of the code lists it was placed in from outside the lists' own codes:
   * a site's ConceptMap (LOCAL_CONCEPT_MAP_FILE) or its terminology server, worked out before evaluation
   * (src/terminology/placements.ts), so the evaluator stays pure. Absent: the lists' own codes only.
   */
  placements?: ReadonlyMap<string, ReadonlySet<string>>;
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
    case 'MedicationAdministration':
    case 'MedicationDispense':
      return medicationConcept(resource, medications);
  }
}

function medicationConcept(resource: MedicationRecord, medications: ReadonlyMap<string, Medication>): CodeableConcept | undefined {
  if (resource.medicationCodeableConcept) return resource.medicationCodeableConcept;
  return referencedMedication(resource, medications)?.code;
}

/**
 * The Medication a record's medicationReference points to: contained ("#med1") or elsewhere in the record
 * ("Medication/123", or an absolute URL ending so, as a server's _include returns it). Its code, form and
 * ingredient strengths are read like the record's own (FHIR R4 MedicationRequest.medication[x]).
 */
export function referencedMedication(resource: MedicationRecord, medications: ReadonlyMap<string, Medication>): Medication | undefined {
  const ref = resource.medicationReference?.reference;
  if (typeof ref !== 'string' || ref.length === 0) return undefined;
  if (ref.startsWith('#')) {
    const contained = Array.isArray(resource.contained) ? resource.contained : [];
    return contained.find((c) => c.resourceType === 'Medication' && c.id === ref.slice(1)) as Medication | undefined;
  }
  const m = /(?:^|\/)(Medication\/[^/]+)$/.exec(ref);
  return m ? medications.get(m[1]!) : undefined;
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
  const medicationTexts = new Map<MedicationRecord, string>();
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
    if (isMedicationRecord(r)) {
      const text = [concept?.text, ...(concept?.coding ?? []).map((c) => c.display)].filter(Boolean).join(' ');
      if (text) medicationTexts.set(r, text.toLowerCase());
    }
  }
  return { patient, unavailable, byCode, medicationTexts, medications, counts };
}

function isClinical(r: Resource): r is ClinicalResource {
  return (CLINICAL_TYPES as readonly string[]).includes(r.resourceType);
}

export function referenceOf(r: Resource): string {
  return `${r.resourceType}/${r.id ?? '(no id)'}`;
}
