import { cpSync, mkdtempSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { LOINC, PatientBuilder, daysAgo, yearsAgo } from '../../scripts/fhir-builders.js';
import { MappingError, loadMappings } from '../../src/mappings/load-mappings.js';
import { ROOT, exampleBundle, testApp } from '../support/app.js';
import { evaluate, part } from '../support/evaluate.js';
import { hookRequest, patientIdOf, prefetchFor } from '../support/hook-request.js';

const MAPPINGS = resolve(ROOT, 'fhir-mappings');
const BLINA_FILE = join(MAPPINGS, 'trials', 'nct06789107-blinatumomab.json');

/** A copy of fhir-mappings/ to change freely. */
function scratchMappings(): string {
  const dir = mkdtempSync(join(tmpdir(), 'trialmatch-mappings-'));
  cpSync(MAPPINGS, dir, { recursive: true });
  return dir;
}

function editTrial(dir: string, file: string, edit: (t: any) => void): string {
  const path = join(dir, 'trials', file);
  const trial = JSON.parse(readFileSync(path, 'utf8'));
  edit(trial);
  writeFileSync(path, JSON.stringify(trial));
  return path;
}

describe('loading the mappings', () => {
  it('compiles the five trials and their code lists', () => {
    const m = loadMappings({ dir: MAPPINGS });
    expect(m.trials).toHaveLength(5);
    expect(m.valueSets.size).toBeGreaterThan(60);
  });

  it('stops on a FHIRPath expression that does not compile, naming the file and criterion', () => {
    const dir = scratchMappings();
    editTrial(dir, 'nct06789107-blinatumomab.json', (t) => {
      t.criteria.find((c: any) => c.id === 'exc-3').rule.of[0].where = "severity.coding.where(code = '24484000'";
    });
    expect(() => loadMappings({ dir })).toThrow(MappingError);
    expect(() => loadMappings({ dir })).toThrow(/nct06789107-blinatumomab\.json: criterion exc-3, part exc-3\.severe: FHIRPath .* does not compile/);
  });

  it('stops on an unknown code list and on a criterion that breaks the schema', () => {
    const unknown = scratchMappings();
    editTrial(unknown, 'nct06789107-blinatumomab.json', (t) => {
      t.criteria.find((c: any) => c.id === 'exc-19').rule.valueSet = 'no-such-list';
    });
    expect(() => loadMappings({ dir: unknown })).toThrow(/criterion exc-19, part exc-19: unknown value set "no-such-list"/);
    const broken = scratchMappings();
    editTrial(broken, 'zju-cd19-car-t-csle.json', (t) => {
      delete t.criteria[0].text;
    });
    expect(() => loadMappings({ dir: broken })).toThrow(/zju-cd19-car-t-csle\.json: does not match the mapping schema: criteria\.0\.text/);
  });

  it('stops on a misspelled key instead of dropping it, naming the file and criterion (a "windw" would turn "within 30 days" into "any time")', () => {
    const dir = scratchMappings();
    editTrial(dir, 'nct06789107-blinatumomab.json', (t) => {
      const alc = t.criteria.find((c: any) => c.id === 'inc-7').rule.of[0];
      alc.windw = alc.window;
      delete alc.window;
    });
    expect(() => loadMappings({ dir })).toThrow(/nct06789107-blinatumomab\.json: does not match the mapping schema: criteria\.\d+\.rule\.of\.0 \(criterion inc-7\): Unrecognized key: "windw"/);
    // The service does not start on it either: the app builds its engine from the same loader.
    expect(() => testApp({}, { MAPPINGS_DIR: dir })).toThrow(/Unrecognized key: "windw"/);
  });

  it('stops on a misspelled key in a group, a code list and a site\'s local codes file', () => {
    const group = scratchMappings();
    editTrial(group, 'zju-cd19-car-t-csle.json', (t) => {
      t.criteria.find((c: any) => c.id === 'inc-4').rule.off = [];
    });
    expect(() => loadMappings({ dir: group })).toThrow(/criterion inc-4\): Unrecognized key: "off"/);
    const list = scratchMappings();
    const hb = join(list, 'valuesets', 'hemoglobin.json');
    writeFileSync(hb, JSON.stringify({ ...JSON.parse(readFileSync(hb, 'utf8')), descripton: 'typo' }));
    expect(() => loadMappings({ dir: list })).toThrow(/hemoglobin\.json: does not match the mapping schema: \(root\): Unrecognized key: "descripton"/);
    const local = join(scratchMappings(), 'local-codes.json');
    writeFileSync(local, JSON.stringify({ valueSets: { hemoglobin: [{ system: 'urn:oid:1.2.3', code: 'HGB', display: 'Hb', sorce: 'lab' }] } }));
    expect(() => loadMappings({ dir: MAPPINGS, localCodesFile: local })).toThrow(/Unrecognized key: "sorce"/);
  });

  it('stops when a lab part does not say which result decides it, or reads every result within a window', () => {
    const missing = scratchMappings();
    editTrial(missing, 'nct06789107-blinatumomab.json', (t) => {
      delete t.criteria.find((c: any) => c.id === 'inc-5').rule.which;
    });
    expect(() => loadMappings({ dir: missing })).toThrow(/rule\.which \(criterion inc-5\): Invalid option/);
    const contradictory = scratchMappings();
    editTrial(contradictory, 'nct06789107-blinatumomab.json', (t) => {
      t.criteria.find((c: any) => c.id === 'inc-5').rule.which = 'ever';
    });
    expect(() => loadMappings({ dir: contradictory })).toThrow(/"which": "ever" reads every result, so it takes no window/);
  });

  it('stops when a criterion id does not start with its type (inc- / exc-), which cards rely on', () => {
    const dir = scratchMappings();
    editTrial(dir, 'nct06789107-blinatumomab.json', (t) => {
      t.criteria.find((c: any) => c.id === 'exc-3').type = 'inclusion';
    });
    expect(() => loadMappings({ dir })).toThrow(/nct06789107-blinatumomab\.json.*the id must start with inc- for an inclusion and exc- for an exclusion/);
  });

  it('stops when a code list entry has no source', () => {
    const dir = scratchMappings();
    const path = join(dir, 'valuesets', 'hemoglobin.json');
    const vs = JSON.parse(readFileSync(path, 'utf8'));
    delete vs.codes[0].source;
    writeFileSync(path, JSON.stringify(vs));
    expect(() => loadMappings({ dir })).toThrow(/hemoglobin\.json: does not match the mapping schema: codes\.0\.source/);
  });
});

describe('a fault inside one criterion', () => {
  it('makes that part unknown with the reason, and the rest of the evaluation stands', () => {
    const dir = scratchMappings();
    // Compiles, but gives a CodeableConcept where a boolean is needed: a fault only at evaluation time.
    editTrial(dir, 'nct06789107-blinatumomab.json', (t) => {
      t.criteria.find((c: any) => c.id === 'exc-3').rule.of[0].where = 'code';
    });
    const mappings = loadMappings({ dir });
    const patient = new PatientBuilder('p', { gender: 'female', birthDate: yearsAgo(12) })
      .condition('http://snomed.info/sct', '26843008', 'Antiphospholipid syndrome', { onset: daysAgo(30) })
      .bundle();
    const evaluations = evaluate(patient, undefined, mappings);
    expect(part(evaluations, 'nct06789107-blinatumomab', 'exc-3.severe')).toMatchObject({ outcome: 'unknown', reason: expect.stringMatching(/could not be evaluated: FHIRPath "code" did not give a boolean/) });
    expect(part(evaluations, 'nct06789107-blinatumomab', 'exc-3.any').outcome).toBe('review');
    expect(part(evaluations, 'nct06789107-blinatumomab', 'inc-1').outcome).toBe('met');
  });
});

describe('site configuration, with no code change', () => {
  it('adds a site\'s local lab code to a shared code list', () => {
    const dir = mkdtempSync(join(tmpdir(), 'trialmatch-local-'));
    const localCodesFile = join(dir, 'local-codes.json');
    writeFileSync(localCodesFile, JSON.stringify({ valueSets: { hemoglobin: [{ system: 'urn:oid:2.16.840.1.113883.3.999.1', code: 'HGB', display: 'Hemoglobin (site code)' }] } }));
    const patient = new PatientBuilder('p', { gender: 'female', birthDate: yearsAgo(12) }).bundle();
    patient.entry?.push({ resource: { resourceType: 'Observation', id: 'hb', status: 'final', code: { coding: [{ system: 'urn:oid:2.16.840.1.113883.3.999.1', code: 'HGB' }] }, effectiveDateTime: daysAgo(2), valueQuantity: { value: 9.1, unit: 'g/dL', system: 'http://unitsofmeasure.org', code: 'g/dL' } } });
    const without = evaluate(patient);
    expect(part(without, 'nct06789107-blinatumomab', 'inc-7.hb').outcome).toBe('unknown');
    const withLocal = evaluate(patient, undefined, loadMappings({ dir: MAPPINGS, localCodesFile }));
    expect(part(withLocal, 'nct06789107-blinatumomab', 'inc-7.hb')).toMatchObject({ outcome: 'met', evidence: [{ value: 91, unit: 'g/L' }] });
  });

  it('loads the documented example local codes file', () => {
    const m = loadMappings({ dir: MAPPINGS, localCodesFile: join(MAPPINGS, 'local-codes.example.json') });
    expect(m.valueSets.get('sledai-2k')?.exact.has('urn:oid:2.16.840.1.113883.3.999.7|SLEDAI2K')).toBe(true);
  });

  it('refuses local codes for a code list that does not exist', () => {
    const dir = mkdtempSync(join(tmpdir(), 'trialmatch-local-'));
    const localCodesFile = join(dir, 'local-codes.json');
    writeFileSync(localCodesFile, JSON.stringify({ valueSets: { haemoglobin: [{ system: LOINC, code: '718-7', display: 'x' }] } }));
    expect(() => loadMappings({ dir: MAPPINGS, localCodesFile })).toThrow(/unknown value set "haemoglobin"/);
  });

  describe('a sixth trial', () => {
    let app: FastifyInstance | undefined;
    afterEach(async () => app?.close());

    it('is served from its mapping file alone', async () => {
      const dir = scratchMappings();
      mkdirSync(join(dir, 'trials'), { recursive: true });
      const sixth = JSON.parse(readFileSync(BLINA_FILE, 'utf8'));
      sixth.id = 'site-blinatumomab-extension';
      delete sixth.nctId;
      sixth.shortTitle = 'Blinatumomab extension (site study)';
      writeFileSync(join(dir, 'trials', 'site-blinatumomab-extension.json'), JSON.stringify(sixth));
      app = testApp({}, { MAPPINGS_DIR: dir });
      const trials = (await app.inject({ method: 'GET', url: '/trials' })).json().trials;
      expect(trials).toHaveLength(6);
      const bundle = exampleBundle('sle-child-likely');
      const res = await app.inject({ method: 'POST', url: '/cds-services/trialmatch-sle', payload: hookRequest(patientIdOf(bundle), { prefetch: prefetchFor(bundle) }) });
      expect(res.json().cards.map((c: any) => c.source.topic.code)).toContain('site-blinatumomab-extension');
    });
  });
});
