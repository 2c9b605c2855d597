/**
 * What the terminology-server tests share (issue #17 item 3): a copy of fhir-mappings/ whose `sle` and
 * `malignancy` lists carry hierarchy rules, the SNOMED CT-shaped CodeSystem fragment and the ConceptMap a
 * site's terminology server would hold, and test patients whose codes only such a server can place.
 */
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { resolve } from 'node:path';
import type { Bundle, CodeSystem, Condition, ConceptMap, ValueSet } from '@medplum/fhirtypes';
import { valueSetUrl } from '../../src/terminology/canonical.js';
import { ROOT, exampleBundle } from './app.js';

export const SCT = 'http://snomed.info/sct';
/** A hospital's own problem-list code system (made up for the test: no list uses it). */
export const LOCAL_SYSTEM = 'https://hospital.example.org/fhir/CodeSystem/problem-list';
export const LOCAL_SLE = 'LUPUS-01';
/** Mapped `narrower` to leukaemia (the target says more than the local code): never placed. */
export const LOCAL_BLOOD_DISORDER = 'HAEM-NOS';
/** Mapped `wider` to SLE (the local code is a kind of SLE): placed in lists that only count for the patient. */
export const LOCAL_SLE_SUBTYPE = 'LUPUS-SUB';
/** Mapped `wider` to leukaemia: a kind of leukaemia, but never placed in a list whose presence excludes. */
export const LOCAL_LEUKAEMIA_SUBTYPE = 'LEUK-SUB';

/**
 * A concept the test CodeSystem places under 55464009 |Systemic lupus erythematosus|: it stands for an SLE
 * subtype a newer SNOMED CT release adds, which the committed list does not hold. Not a real SNOMED CT id:
 * the test is about the hierarchy the server holds, not about one release.
 */
export const NEW_SLE_SUBTYPE = '990000000000001';
/**
 * A concept the test CodeSystem places under 93143009 |Leukemia, disease (disorder)|, under 363346000
 * |Malignant neoplastic disease (disorder)|: a leukaemia subtype (as acute lymphoblastic leukaemia was before
 * the committed expansion held it) that the committed malignancy expansion does not hold. Not a real id.
 */
export const ALL_CODE = '990000000000002';
/** 201436003 |Drug-induced systemic lupus erythematosus (disorder)|: the sle list excludes it and its descendants. */
const DRUG_INDUCED_SLE = '201436003';

const HIERARCHY: Record<string, { system: string; code: string; op: 'is-a'; source: string }[]> = {
  sle: [{ system: SCT, code: '55464009', op: 'is-a', source: 'https://browser.ihtsdotools.org/?perspective=full&conceptId1=55464009' }],
  malignancy: [{ system: SCT, code: '363346000', op: 'is-a', source: 'https://browser.ihtsdotools.org/?perspective=full&conceptId1=363346000' }],
};

/** A copy of fhir-mappings/ with hierarchy rules on `sle` and `malignancy` (the keys after "title"); remove it after. */
export function hierarchyMappingsDir(): { dir: string; remove: () => void } {
  const dir = mkdtempSync(resolve(tmpdir(), 'trialmatch-tx-mappings-'));
  cpSync(resolve(ROOT, 'fhir-mappings'), dir, { recursive: true });
  for (const [id, hierarchy] of Object.entries(HIERARCHY)) {
    const file = resolve(dir, 'valuesets', `${id}.json`);
    const { id: vsId, title, ...rest } = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
    writeFileSync(file, JSON.stringify({ id: vsId, title, hierarchy, ...rest }, null, 2));
  }
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** The SNOMED CT-shaped fragment a site's server holds: is-a hierarchy by nesting (R4 CodeSystem.concept.concept). */
export function snomedFragment(): CodeSystem {
  return {
    resourceType: 'CodeSystem',
    id: 'trialmatch-itest-sct-fragment',
    url: SCT,
    status: 'active',
    content: 'complete',
    hierarchyMeaning: 'is-a',
    concept: [
      {
        code: '55464009',
        display: 'Systemic lupus erythematosus',
        concept: [
          { code: NEW_SLE_SUBTYPE, display: 'Systemic lupus erythematosus, new subtype (test concept)' },
          { code: DRUG_INDUCED_SLE, display: 'Drug-induced systemic lupus erythematosus' },
        ],
      },
      {
        code: '363346000',
        display: 'Malignant neoplastic disease',
        concept: [{ code: '93143009', display: 'Leukemia, disease', concept: [{ code: ALL_CODE, display: 'Leukaemia, new subtype (test concept)' }] }],
      },
    ],
  };
}

/** The project's list `id` as a ValueSet defined by its hierarchy rule (what `$validate-code?url=` names). */
export function hierarchyValueSet(id: 'sle' | 'malignancy'): ValueSet {
  return {
    resourceType: 'ValueSet',
    id: `trialmatch-${id}`,
    url: valueSetUrl(id),
    status: 'active',
    compose: { include: HIERARCHY[id]!.map((h) => ({ system: h.system, filter: [{ property: 'concept', op: 'is-a', value: h.code }] })) },
  };
}

/**
 * The site's ConceptMap: its SLE code is SNOMED CT SLE (equivalent); a blood disorder of unrecorded type maps
 * narrower to leukaemia; a local SLE subtype and a local leukaemia subtype map wider to SLE and leukaemia.
 */
export function siteConceptMap(): ConceptMap {
  return {
    resourceType: 'ConceptMap',
    id: 'trialmatch-itest-local-problems',
    url: 'https://hospital.example.org/fhir/ConceptMap/problem-list-to-snomed',
    status: 'active',
    group: [
      {
        source: LOCAL_SYSTEM,
        target: SCT,
        element: [
          { code: LOCAL_SLE, display: 'SLE', target: [{ code: '55464009', equivalence: 'equivalent' }] },
          { code: LOCAL_BLOOD_DISORDER, display: 'Blood disorder, type not recorded', target: [{ code: '93143009', equivalence: 'narrower', comment: 'the local code also covers blood disorders that are not leukaemia' }] },
          { code: LOCAL_SLE_SUBTYPE, display: 'SLE, local subtype', target: [{ code: '55464009', equivalence: 'wider' }] },
          { code: LOCAL_LEUKAEMIA_SUBTYPE, display: 'Leukaemia, local subtype', target: [{ code: '93143009', equivalence: 'wider' }] },
        ],
      },
    ],
  };
}

/** sle-child-likely under another id, with its SLE diagnosis coded only as `coding`. */
export function sleChildCodedAs(id: string, coding: { system: string; code: string; display: string }): Bundle {
  const bundle = JSON.parse(JSON.stringify(exampleBundle('sle-child-likely')).replaceAll('sle-child-likely', id)) as Bundle;
  for (const e of bundle.entry ?? []) {
    const r = e.resource;
    if (r?.resourceType === 'Condition' && r.code?.coding?.some((c) => c.code === '55464009')) r.code = { coding: [coding], text: coding.display };
  }
  return bundle;
}

/** sle-child-likely under another id, with an active diagnosis added. */
export function sleChildWith(id: string, coding: { system: string; code: string; display: string }): Bundle {
  const bundle = JSON.parse(JSON.stringify(exampleBundle('sle-child-likely')).replaceAll('sle-child-likely', id)) as Bundle;
  const condition: Condition = {
    resourceType: 'Condition',
    id: `${id}-added`,
    clinicalStatus: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-clinical', code: 'active' }] },
    verificationStatus: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-ver-status', code: 'confirmed' }] },
    code: { coding: [coding], text: coding.display },
    subject: { reference: `Patient/${id}` },
    onsetDateTime: '2026-10-01',
  };
  bundle.entry = [...(bundle.entry ?? []), { resource: condition }];
  return bundle;
}
