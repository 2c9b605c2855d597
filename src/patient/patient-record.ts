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
import { canonicalSystem, isListSystem } from '../terminology/code-systems.js';
import { conceptWords } from '../fhir/concept-text.js';

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
  /** Keys use the canonical system (src/terminology/code-systems.ts): an OID or edition URI reads as its system. */
  byCode: ReadonlyMap<string, readonly ClinicalResource[]>;
  /**
   * Resources the service cannot place, by type (issue #17 item 4): no coding in a system any code list uses
   * (text only, no code at all, or only local or unknown systems), so no list can say what they are. A
   * medication record is unplaced only when nothing names the drug: no such coding and no text or display.
   * Such an item is never read as the absence of anything (src/engine/rules/condition.ts, medication.ts).
   */
  unplaced: ReadonlyMap<ClinicalType, readonly ClinicalResource[]>;
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

/**
 * The drug of a medication record: its medicationCodeableConcept, else the code of the Medication its
 * medicationReference points to, else the reference's own `display` read as text (issue #18 item 2: Epic-style
 * statements and administrations arrive as `{reference: "Medication/xyz", display: "blinatumomab 35 mcg
 * injection"}` without the Medication; FHIR R4 Reference.display is "text alternative for the resource").
 */
function medicationConcept(resource: MedicationRecord, medications: ReadonlyMap<string, Medication>): CodeableConcept | undefined {
  if (resource.medicationCodeableConcept) return resource.medicationCodeableConcept;
  const code = referencedMedication(resource, medications)?.code;
  if (code && (code.text || (Array.isArray(code.coding) && code.coding.length > 0))) return code;
  const display = resource.medicationReference?.display;
  return typeof display === 'string' && display.trim() !== '' ? { text: display } : code;
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
  const unplaced = new Map<ClinicalType, ClinicalResource[]>();
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
    const codings = Array.isArray(concept?.coding) ? concept.coding : [];
    let placed = false;
    for (const coding of codings) {
      if (typeof coding.system !== 'string' || typeof coding.code !== 'string' || !coding.system || !coding.code) continue;
      const system = canonicalSystem(coding.system);
      placed ||= isListSystem(system);
      const key = `${system}|${coding.code}`;
      const list = byCode.get(key);
      if (list) {
        if (list[list.length - 1] !== r) list.push(r);
      } else byCode.set(key, [r]);
    }
    let named = false;
    if (isMedicationRecord(r)) {
      const text = conceptWords(concept);
      if (text) {
        medicationTexts.set(r, text);
        named = true;
      }
    }
    if (!placed && !named) {
      const list = unplaced.get(r.resourceType);
      if (list) list.push(r);
      else unplaced.set(r.resourceType, [r]);
    }
  }
  return { patient, unavailable, byCode, unplaced, medicationTexts, medications, counts };
}

function isClinical(r: Resource): r is ClinicalResource {
  return (CLINICAL_TYPES as readonly string[]).includes(r.resourceType);
}

export function referenceOf(r: Resource): string {
  return `${r.resourceType}/${r.id ?? '(no id)'}`;
}
