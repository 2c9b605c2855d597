import { cpSync, mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ANCHOR } from '../../scripts/fhir-builders.js';
import { loadServiceDefinitions } from '../../src/cds/service-definition.js';
import { evaluateTrials } from '../../src/engine/evaluate-trial.js';
import { RULE_KINDS } from '../../src/engine/rules/registry.js';
import { codesRead } from '../../src/mappings/codes-read.js';
import { loadMappings } from '../../src/mappings/load-mappings.js';
import { buildPatientRecord } from '../../src/patient/patient-record.js';
import type { Observation, Patient } from '@medplum/fhirtypes';
import { ROOT } from '../support/app.js';
import { repeatResultKind } from './fixtures/repeat-result-kind.js';

/** A mapping folder of its own: the real code lists and one trial whose only criterion uses the new kind. */
const dir = mkdtempSync(join(tmpdir(), 'trialmatch-kinds-'));
cpSync(resolve(ROOT, 'fhir-mappings', 'valuesets'), join(dir, 'valuesets'), { recursive: true });
mkdirSync(join(dir, 'trials'));
writeFileSync(
  join(dir, 'trials', 'repeat-test.json'),
  JSON.stringify({
    id: 'repeat-test',
    title: 'A trial that needs two hemoglobin results',
    shortTitle: 'Two hemoglobins',
    phase: 'Phase 1',
    studyType: 'interventional',
    registryStatus: { status: 'RECRUITING', asPrinted: 'Recruiting', asOfNote: 'a test trial with no date' },
    registry: { url: 'https://example.org/repeat-test', label: 'Registry' },
    protocolSource: 'test',
    criteria: [
      { id: 'inc-1', type: 'inclusion', item: '1', text: 'Two hemoglobin results', interpretation: 'the test kind', anchor: 'screening', rule: { kind: 'repeat-result', valueSet: 'hemoglobin', atLeast: 2 } },
    ],
  }),
);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function hemoglobin(id: string, date: string, g: number): Observation {
  return {
    resourceType: 'Observation',
    id,
    status: 'final',
    code: { coding: [{ system: 'http://loinc.org', code: '718-7', display: 'Hemoglobin [Mass/volume] in Blood' }] },
    subject: { reference: 'Patient/p1' },
    effectiveDateTime: date,
    valueQuantity: { value: g, unit: 'g/dL', system: 'http://unitsofmeasure.org', code: 'g/dL' },
  };
}

const patient: Patient = { resourceType: 'Patient', id: 'p1', birthDate: '1990-01-01', gender: 'female' };

describe('a rule kind is one file and one line in a registry', () => {
  const kinds = [...RULE_KINDS, repeatResultKind];

  it('loads a mapping that names the new kind only when the registry holds it', () => {
    expect(() => loadMappings({ dir })).toThrow(/repeat-test\.json: does not match the mapping schema: criteria\.0\.rule\.kind \(criterion inc-1\)/);
    const mappings = loadMappings({ dir, kinds });
    expect(mappings.trials.map((t) => t.id)).toEqual(['repeat-test']);
  });

  it('evaluates the new kind through the engine, with no switch to extend', () => {
    const mappings = loadMappings({ dir, kinds });
    const two = buildPatientRecord(patient, [hemoglobin('h1', '2026-10-01', 12), hemoglobin('h2', '2026-11-01', 11)]);
    const one = buildPatientRecord(patient, [hemoglobin('h1', '2026-10-01', 12)]);
    const met = evaluateTrials(mappings.trials, two, ANCHOR, mappings.engine).evaluations[0]!.criteria[0]!;
    expect(met).toMatchObject({ outcome: 'met', reason: '2 results' });
    expect(met.evidence.map((e) => e.reference)).toEqual(['Observation/h1', 'Observation/h2']);
    expect(evaluateTrials(mappings.trials, one, ANCHOR, mappings.engine).evaluations[0]!.criteria[0]!.outcome).toBe('not-met');
  });

  it('reaches discovery: the codes it reads are in the Observation prefetch', () => {
    const mappings = loadMappings({ dir, kinds });
    const hemoglobinCodes = [...mappings.valueSets.get('hemoglobin')!.exact.keys()].sort();
    expect(hemoglobinCodes.length).toBeGreaterThan(0);
    expect(codesRead(mappings, 'Observation')).toEqual(hemoglobinCodes);
    const [service] = loadServiceDefinitions(resolve(ROOT, 'cds-hooks'), mappings);
    const observations = service!.prefetch.find((p) => p.resourceType === 'Observation')!;
    expect(observations.template).toContain(`code=${hemoglobinCodes.map((k) => k.slice(k.indexOf('|') + 1)).sort().join(',')}&`);
  });
});

