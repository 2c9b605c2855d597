/**
 * A site's local codes as a FHIR R4 ConceptMap (LOCAL_CONCEPT_MAP_FILE, issue #17 item 3): read through the
 * hook and POST /trials/$evaluate, each mapping as far as its R4 equivalence allows, and refused at start
 * when it names a target in no list or is not a valid ConceptMap.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { resolve } from 'node:path';
import type { Bundle } from '@medplum/fhirtypes';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testApp } from '../support/app.js';
import { hookRequest, prefetchFor } from '../support/hook-request.js';
import {
  LOCAL_BLOOD_DISORDER,
  LOCAL_LEUKAEMIA_SUBTYPE,
  LOCAL_SLE,
  LOCAL_SLE_SUBTYPE,
  LOCAL_SYSTEM,
  SCT,
  siteConceptMap,
  sleChildCodedAs,
  sleChildWith,
} from '../support/terminology.js';
import { loadMappings } from '../../src/mappings/load-mappings.js';
import { buildPatientRecord } from '../../src/patient/patient-record.js';
import { withLocalPlacements } from '../../src/data/place-codes.js';
import { ROOT } from '../support/app.js';

const dir = mkdtempSync(resolve(tmpdir(), 'trialmatch-concept-map-'));
const file = (name: string, content: unknown): string => {
  const path = resolve(dir, name);
  writeFileSync(path, JSON.stringify(content));
  return path;
};

const trialOf = (card: string): string => card.split(':')[0]!;

/** Every trial's status and each criterion's outcome from POST /trials/$evaluate (the full check, evidence left out). */
async function outcomesOf(app: FastifyInstance, bundle: Bundle): Promise<string[]> {
  const res = await app.inject({ method: 'POST', url: '/trials/$evaluate', payload: bundle as unknown as Record<string, unknown> });
  expect(res.statusCode).toBe(200);
  return res
    .json<{ trials: { trialId: string; status: string; criteria: { id: string; outcome: string; review?: boolean }[] }[] }>()
    .trials.flatMap((t) => [`${t.trialId}:${t.status}`, ...t.criteria.map((c) => `${t.trialId}/${c.id}:${c.outcome}${c.review ? ' review' : ''}`)]);
}

async function cardsOf(app: FastifyInstance, bundle: Bundle, id: string): Promise<string[]> {
  const res = await app.inject({ method: 'POST', url: '/cds-services/trialmatch-sle', payload: hookRequest(id, { prefetch: prefetchFor(bundle) }) });
  expect(res.statusCode).toBe(200);
  return res.json<{ cards: { extension: Record<string, { trialId: string; status: string }> }[] }>().cards.map((c) => {
    const e = Object.values(c.extension)[0]!;
    return `${e.trialId}:${e.status}`;
  });
}

describe('a site\'s ConceptMap (LOCAL_CONCEPT_MAP_FILE)', () => {
  let withMap: FastifyInstance;
  let without: FastifyInstance;
  let base: string[];

  beforeAll(async () => {
    withMap = testApp({}, { LOCAL_CONCEPT_MAP_FILE: file('map.json', siteConceptMap()) });
    without = testApp();
    await Promise.all([withMap.ready(), without.ready()]);
    base = await cardsOf(without, sleChildCodedAs('cm-sle', { system: SCT, code: '55464009', display: 'Systemic lupus erythematosus' }), 'cm-sle');
    expect(base.length).toBeGreaterThan(0);
  });
  afterAll(async () => {
    await withMap?.close();
    await without?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('reads a local code mapped equivalent as its target, in POST /trials/$evaluate and the hook: every criterion as with the SNOMED CT code', async () => {
    // The local display names nothing the lists know, so without the map the SLE inclusion is not met by it.
    const local = sleChildCodedAs('cm-sle', { system: LOCAL_SYSTEM, code: LOCAL_SLE, display: 'Problem 01' });
    const snomed = sleChildCodedAs('cm-sle', { system: SCT, code: '55464009', display: 'Systemic lupus erythematosus' });
    const expected = await outcomesOf(without, snomed);
    expect(await outcomesOf(without, local)).not.toEqual(expected);
    expect(await outcomesOf(withMap, local)).toEqual(expected);
    expect(await cardsOf(withMap, local, 'cm-sle')).toEqual(base);
  });

  it('places a local code mapped wider (a kind of SLE) in a list that only counts for the patient', async () => {
    const sub = sleChildCodedAs('cm-sle', { system: LOCAL_SYSTEM, code: LOCAL_SLE_SUBTYPE, display: 'Problem 02' });
    const expected = await outcomesOf(without, sleChildCodedAs('cm-sle', { system: SCT, code: '55464009', display: 'Systemic lupus erythematosus' }));
    expect(await outcomesOf(without, sub)).not.toEqual(expected);
    expect(await outcomesOf(withMap, sub)).toEqual(expected);
  });

  it('never lets a wider mapping exclude: a local leukaemia subtype leaves the trials that exclude leukaemia shown', async () => {
    // R4 "wider": the target is wider in meaning than the local code; read as the target it would widen
    // what the record says, which may move toward unknown but never toward an exclusion (safety rule 3):
    // every trial keeps its card (the entry, unplaced, may leave the exclusion unknown).
    const cards = await cardsOf(withMap, sleChildWith('cm-leuk', { system: LOCAL_SYSTEM, code: LOCAL_LEUKAEMIA_SUBTYPE, display: 'Leukaemia, local subtype' }), 'cm-leuk');
    expect(cards.map(trialOf)).toEqual(base.map(trialOf));
  });

  it('never reads a narrower mapping as its target: a blood disorder of unrecorded type is not leukaemia', async () => {
    const cards = await cardsOf(withMap, sleChildWith('cm-haem', { system: LOCAL_SYSTEM, code: LOCAL_BLOOD_DISORDER, display: 'Blood disorder' }), 'cm-haem');
    expect(cards.map(trialOf)).toEqual(base.map(trialOf));
  });

  it('hides the trials that exclude leukaemia when the local code is mapped equivalent to leukaemia', async () => {
    const map = siteConceptMap();
    map.group![0]!.element.find((e) => e.code === LOCAL_LEUKAEMIA_SUBTYPE)!.target![0]!.equivalence = 'equivalent';
    const app = testApp({}, { LOCAL_CONCEPT_MAP_FILE: file('equivalent-leukaemia.json', map) });
    try {
      const cards = await cardsOf(app, sleChildWith('cm-leuk', { system: LOCAL_SYSTEM, code: LOCAL_LEUKAEMIA_SUBTYPE, display: 'Leukaemia' }), 'cm-leuk');
      expect(cards.length).toBeLessThan(base.length);
    } finally {
      await app.close();
    }
  });

  it('takes an entry it placed out of the items the service cannot place, so it is not read as unknown elsewhere', () => {
    const mappings = loadMappings({ dir: resolve(ROOT, 'fhir-mappings'), localConceptMapFile: file('placed.json', siteConceptMap()) });
    const bundle = sleChildWith('cm-two', { system: LOCAL_SYSTEM, code: LOCAL_SLE, display: 'Problem 01' });
    bundle.entry!.push({ resource: { resourceType: 'Condition', id: 'cm-two-other', code: { coding: [{ system: LOCAL_SYSTEM, code: 'NOT-MAPPED' }] }, subject: { reference: 'Patient/cm-two' } } });
    const resources = bundle.entry!.map((e) => e.resource!).filter((r) => r.resourceType !== 'Patient');
    const before = buildPatientRecord(undefined, resources);
    expect(before.unplaced.get('Condition')?.map((c) => c.id)).toEqual(['cm-two-added', 'cm-two-other']);
    const after = withLocalPlacements(before, mappings.terminology.localPlacements);
    expect(after.unplaced.get('Condition')?.map((c) => c.id)).toEqual(['cm-two-other']);
    expect([...(after.placements?.get(`${LOCAL_SYSTEM}|${LOCAL_SLE}`) ?? [])]).toContain('sle');
  });

  it('stops start-up naming a target code that is in no list', () => {
    const map = siteConceptMap();
    map.group![0]!.element[0]!.target![0]!.code = '990000000000003';
    const path = file('bad-target.json', map);
    expect(() => loadMappings({ dir: resolve(ROOT, 'fhir-mappings'), localConceptMapFile: path })).toThrow(/bad-target\.json.*http:\/\/snomed\.info\/sct\|990000000000003.*in no code list/);
  });

  it('stops start-up on what is not a strict R4 ConceptMap: a misspelt key, a narrower mapping without its comment', () => {
    const misspelt = JSON.parse(JSON.stringify(siteConceptMap()).replace('"equivalence":"equivalent"', '"equivalance":"equivalent"'));
    expect(() => loadMappings({ dir: resolve(ROOT, 'fhir-mappings'), localConceptMapFile: file('misspelt.json', misspelt) })).toThrow(/misspelt\.json.*equivalance/);
    const map = siteConceptMap();
    delete map.group![0]!.element[1]!.target![0]!.comment;
    expect(() => loadMappings({ dir: resolve(ROOT, 'fhir-mappings'), localConceptMapFile: file('no-comment.json', map) })).toThrow(/no-comment\.json.*cmd-1/);
  });
});
