import type { CodeableConcept, Coding, Medication, Resource } from '@medplum/fhirtypes';
import type { CompiledRule } from '../engine/compiled.js';
import type { MappingSet } from '../mappings/compiled.js';
import { CLINICAL_TYPES, resourceCode, type ClinicalResource, type ClinicalType } from '../patient/patient-record.js';
import { canonicalSystem } from '../terminology/code-systems.js';
import { matchCoding, matchName, type CompiledValueSet } from '../terminology/value-set.js';

/**
 * What a site's terminology team reads before go-live (issue #17 item 7): for a folder of the site's own FHIR
 * records, per code system, the codes seen, those the service places in a code list, those it holds in no list,
 * and the items it cannot place at all (a system no list uses, or no coding), with every criterion that reads
 * such an item. An unplaced item never hides a trial (the criterion goes to unknown or review), but it is where
 * the site's records and the service's lists do not meet: the place for a ConceptMap or a list addition.
 * Pure: resources in, report out.
 */

export interface CodeCount {
  code: string;
  display?: string;
  /** Resources that carry the code. */
  count: number;
  /** The lists that place it (empty when none). */
  lists: string[];
}

export interface SystemCoverage {
  system: string;
  /** Whether any code list of the service uses this system (after the system's aliases are resolved). */
  known: boolean;
  codesSeen: number;
  /** Distinct codes that some list holds. */
  codesPlaced: number;
  /** Distinct codes of a known system that no list holds: read as "not this concept". */
  codesInNoList: number;
  /** Distinct codes of a system no list uses: the service cannot place them. */
  codesUnplaced: number;
  /** The most frequent codes of each kind, for the report ("in no list" is where a missing code shows). */
  top: { placed: CodeCount[]; inNoList: CodeCount[]; unplaced: CodeCount[] };
}

export interface UnplacedItem {
  resourceType: ClinicalType;
  /** What the item says (its text or first display), cut to 80 characters. */
  text: string;
  count: number;
  /** Lists whose names the text matches (the service reads it by name, or sends it to review). */
  namedIn: string[];
}

export interface CriterionExposure {
  trialId: string;
  criterionId: string;
  type: 'inclusion' | 'exclusion';
  resourceTypes: ClinicalType[];
  /** Unplaced items of the types the criterion reads, and the patients who have any. */
  unplacedItems: number;
  patients: number;
}

export interface CoverageReport {
  resources: number;
  clinicalResources: number;
  patients: number;
  systems: SystemCoverage[];
  /** Clinical items with no coding in a system any list uses, grouped by type and text. */
  unplacedItems: UnplacedItem[];
  criteria: CriterionExposure[];
}

export interface CoverageOptions {
  /** How many codes of each kind per system the report lists. */
  top?: number;
}

interface CodeTally {
  display?: string;
  count: number;
  lists: string[];
}

export interface CoverageTally {
  /** Reads one resource. A Medication must come before the records that reference it (the readers see to it). */
  add: (resource: Resource) => void;
  report: () => CoverageReport;
}

/**
 * A running tally over a site's records, one resource at a time (an export is read as a stream, never whole);
 * patients are told apart by the subject or patient reference.
 */
export function createCoverageTally(mappings: MappingSet, options: CoverageOptions = {}): CoverageTally {
  const lists = [...mappings.valueSets.values()];
  const knownSystems = systemsOf(lists);
  const bySystem = new Map<string, Map<string, CodeTally>>();
  const unplaced = new Map<string, UnplacedItem>();
  const unplacedByType = new Map<ClinicalType, { items: number; patients: Set<string> }>();
  const patients = new Set<string>();
  const medications = new Map<string, Medication>();
  let total = 0;
  let clinical = 0;
  const add = (r: Resource): void => {
    total++;
    if (r.resourceType === 'Medication' && r.id) medications.set(`Medication/${r.id}`, r);
    if (r.resourceType === 'Patient' && r.id) patients.add(`Patient/${r.id}`);
    if (!isClinical(r)) return;
    clinical++;
    const patient = patientOf(r);
    if (patient) patients.add(patient);
    const concept = resourceCode(r, medications);
    let placeable = false;
    for (const coding of concept?.coding ?? []) {
      if (!coding.system || !coding.code) continue;
      // Read as the service reads it: OIDs, edition URIs and spelling variants are the systems they name.
      const system = canonicalSystem(coding.system);
      const known = knownSystems.has(system);
      placeable ||= known;
      tally(bySystem, system, coding, known ? listsPlacing(lists, { ...coding, system }) : []);
    }
    if (!placeable) {
      const text = conceptWords(concept);
      const key = `${r.resourceType}|${text}`;
      const item = unplaced.get(key) ?? { resourceType: r.resourceType, text, count: 0, namedIn: listsNaming(lists, text) };
      item.count++;
      unplaced.set(key, item);
      const byType = unplacedByType.get(r.resourceType) ?? { items: 0, patients: new Set<string>() };
      byType.items++;
      if (patient) byType.patients.add(patient);
      unplacedByType.set(r.resourceType, byType);
    }
  };
  const report = (): CoverageReport => ({
    resources: total,
    clinicalResources: clinical,
    patients: patients.size,
    systems: [...bySystem].map(([system, codes]) => systemCoverage(system, knownSystems.has(system), codes, options.top ?? 10)).sort((a, b) => b.codesSeen - a.codesSeen),
    unplacedItems: [...unplaced.values()].sort((a, b) => b.count - a.count),
    criteria: criteriaExposed(mappings, unplacedByType),
  });
  return { add, report };
}

function systemsOf(lists: readonly CompiledValueSet[]): Set<string> {
  const out = new Set<string>();
  for (const vs of lists) {
    for (const e of vs.exact.values()) out.add(e.system);
    for (const p of vs.prefixes) out.add(p.system);
  }
  return out;
}

function listsPlacing(lists: readonly CompiledValueSet[], coding: Coding): string[] {
  return lists.filter((vs) => matchCoding(vs, coding) !== undefined).map((vs) => vs.id);
}

function listsNaming(lists: readonly CompiledValueSet[], text: string): string[] {
  const lower = text.toLowerCase();
  return lists.filter((vs) => matchName(vs, lower) !== undefined).map((vs) => vs.id);
}

function tally(bySystem: Map<string, Map<string, CodeTally>>, system: string, coding: Coding, placedIn: string[]): void {
  let codes = bySystem.get(system);
  if (!codes) bySystem.set(system, (codes = new Map<string, CodeTally>()));
  const t = codes.get(coding.code!);
  if (t) {
    t.count++;
    return;
  }
  const entry: CodeTally = { count: 1, lists: placedIn };
  if (coding.display) entry.display = coding.display;
  codes.set(coding.code!, entry);
}

function systemCoverage(system: string, known: boolean, codes: Map<string, CodeTally>, top: number): SystemCoverage {
  const all = [...codes].map(([code, t]): CodeCount => ({ code, ...(t.display ? { display: t.display } : {}), count: t.count, lists: t.lists }));
  const placed = all.filter((c) => c.lists.length > 0);
  const byCount = (a: CodeCount, b: CodeCount): number => b.count - a.count || a.code.localeCompare(b.code);
  return {
    system,
    known,
    codesSeen: all.length,
    codesPlaced: placed.length,
    codesInNoList: known ? all.length - placed.length : 0,
    codesUnplaced: known ? 0 : all.length,
    top: {
      placed: placed.sort(byCount).slice(0, top),
      inNoList: known ? all.filter((c) => c.lists.length === 0).sort(byCount).slice(0, top) : [],
      unplaced: known ? [] : all.sort(byCount).slice(0, top),
    },
  };
}

/** Each criterion whose parts read a type that has unplaced items: those items could decide it. */
function criteriaExposed(mappings: MappingSet, unplacedByType: ReadonlyMap<ClinicalType, { items: number; patients: Set<string> }>): CriterionExposure[] {
  const out: CriterionExposure[] = [];
  for (const trial of mappings.trials) {
    for (const c of trial.criteria) {
      const types = [...typesRead(c.rule)].filter((t) => unplacedByType.has(t));
      if (types.length === 0) continue;
      const patients = new Set<string>();
      let items = 0;
      for (const t of types) {
        const u = unplacedByType.get(t)!;
        items += u.items;
        for (const p of u.patients) patients.add(p);
      }
      out.push({ trialId: trial.id, criterionId: c.id, type: c.type, resourceTypes: types, unplacedItems: items, patients: patients.size });
    }
  }
  return out;
}

function typesRead(rule: CompiledRule, out = new Set<ClinicalType>()): Set<ClinicalType> {
  if ('of' in rule) {
    for (const r of rule.of) typesRead(r, out);
    return out;
  }
  for (const read of rule.reads) if (read.resourceType !== 'Patient') out.add(read.resourceType);
  return out;
}

function conceptWords(concept: CodeableConcept | undefined): string {
  const text = concept?.text ?? concept?.coding?.find((c) => c.display)?.display ?? '(no code and no text)';
  return text.length > 80 ? `${text.slice(0, 79)}…` : text;
}

function isClinical(r: Resource): r is ClinicalResource {
  return (CLINICAL_TYPES as readonly string[]).includes(r.resourceType);
}

function patientOf(r: ClinicalResource): string | undefined {
  const ref = 'subject' in r && r.subject ? r.subject.reference : 'patient' in r && r.patient ? r.patient.reference : undefined;
  if (typeof ref !== 'string') return undefined;
  const m = /(?:^|\/)(Patient\/[^/]+)$/.exec(ref);
  if (m) return m[1];
  // A transaction Bundle refers to its Patient by the entry's fullUrl (urn:uuid:X); Synthea and most exporters give
  // that Patient the id X, so the two spellings are one patient.
  return ref.startsWith('urn:uuid:') ? `Patient/${ref.slice('urn:uuid:'.length)}` : undefined;
}
