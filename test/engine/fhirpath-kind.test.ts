import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Bundle, Patient, Resource } from '@medplum/fhirtypes';
import { afterAll, describe, expect, it } from 'vitest';
import { ANCHOR } from '../../scripts/fhir-builders.js';
import { evaluateTrials } from '../../src/engine/evaluate-trial.js';
import { loadMappings } from '../../src/mappings/load-mappings.js';
import { buildPatientRecord } from '../../src/patient/patient-record.js';
import { ROOT } from '../support/app.js';
import { evaluateWithFaults, part } from '../support/evaluate.js';

/**
 * The `fhirpath` kind on the belimumab study's renal definition of refractory (NCT04893161 inclusion 3:
 * "persistence of 24 hours proteinuria > 1 g after at least 1 year from the start of the initial therapy
 * ... or doubling 24 hours proteinuria"). The shared 24-hour urine protein list is still empty, so the
 * site's local codes file adds LOINC 2889-4, as a site would.
 */
const BELIMUMAB = 'nct04893161-belimumab-response';
const LOCAL_CODES = resolve(import.meta.dirname, 'fixtures', 'kinds-local-codes.json');
const mappings = loadMappings({ dir: resolve(ROOT, 'fhir-mappings'), localCodesFile: LOCAL_CODES });

function record(name: string): Bundle {
  return JSON.parse(readFileSync(resolve(ROOT, 'test', 'clinical', 'records', `${name}.json`), 'utf8')) as Bundle;
}

describe('the fhirpath kind decides the belimumab renal definition from the record', () => {
  it('is met by proteinuria > 1 g/24 h a year and more after the initial therapy, with the results as evidence', () => {
    const { evaluations, faults } = evaluateWithFaults(record('kinds-renal-persistent-proteinuria'), ANCHOR, mappings);
    expect(faults).toEqual([]);
    const timing = part(evaluations, BELIMUMAB, 'inc-3.renal-timing');
    expect(timing).toMatchObject({ kind: 'fhirpath', outcome: 'met' });
    expect(timing.evidence.map((e) => [e.reference, e.value, e.unit, e.date])).toEqual([
      ['Observation/sle-adult-belimumab-uprot-1', 1.8, 'g/(24.h)', '2025-10-01'],
      ['Observation/sle-adult-belimumab-uprot-2', 2.1, 'g/(24.h)', '2026-11-10'],
    ]);
    expect(part(evaluations, BELIMUMAB, 'inc-3').outcome).toBe('met');
  });

  it('is met by a doubling since the therapy began, across units (0.6 g then 1400 mg)', () => {
    const { evaluations } = evaluateWithFaults(record('kinds-renal-doubling'), ANCHOR, mappings);
    const timing = part(evaluations, BELIMUMAB, 'inc-3.renal-timing');
    expect(timing.outcome).toBe('met');
    expect(timing.evidence.map((e) => e.reference)).toEqual(['Observation/sle-adult-belimumab-uprot-2']);
  });

  it('leaves it for review, never not met, when neither a year of therapy nor a doubling is shown', () => {
    const { evaluations } = evaluateWithFaults(record('kinds-renal-undecided'), ANCHOR, mappings);
    expect(part(evaluations, BELIMUMAB, 'inc-3.renal-timing')).toMatchObject({ outcome: 'review', reason: 'the record does not decide it' });
    expect(part(evaluations, BELIMUMAB, 'inc-3').outcome).toBe('review');
  });

  it('is unknown when the Observations it reads could not be fetched', () => {
    const resources = (record('kinds-renal-persistent-proteinuria').entry ?? []).map((e) => e.resource as Resource);
    const patient = resources.find((r): r is Patient => r.resourceType === 'Patient');
    const rec = buildPatientRecord(patient, resources.filter((r) => r.resourceType !== 'Observation' && r.resourceType !== 'Patient'), new Map([['Observation', 'the FHIR server did not answer']]));
    const evaluation = evaluateTrials(mappings.trials, rec, ANCHOR, mappings.engine).evaluations.find((e) => e.trialId === BELIMUMAB)!;
    const timing = part([evaluation], BELIMUMAB, 'inc-3.renal-timing');
    expect(timing).toMatchObject({ outcome: 'unknown', reason: 'the FHIR server did not answer' });
  });
});

describe('a fhirpath part is compiled once, at load', () => {
  const dir = mkdtempSync(join(tmpdir(), 'trialmatch-fhirpath-'));
  cpSync(resolve(ROOT, 'fhir-mappings', 'valuesets'), join(dir, 'valuesets'), { recursive: true });
  mkdirSync(join(dir, 'trials'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const trial = (rule: unknown): void =>
    writeFileSync(
      join(dir, 'trials', 't.json'),
      JSON.stringify({
        id: 't', title: 'T', shortTitle: 'T', phase: 'Phase 1', studyType: 'interventional', registryStatus: { status: 'RECRUITING', asPrinted: 'Recruiting', asOfNote: 'a test trial with no date' },
        registry: { url: 'https://example.org/t', label: 'Registry' }, protocolSource: 'test',
        criteria: [{ id: 'inc-1', type: 'inclusion', item: '1', text: 'x', interpretation: 'x', anchor: 'screening', rule }],
      }),
    );

  it('stops the load, naming criterion and part, when the expression does not compile', () => {
    trial({ kind: 'fhirpath', id: 'inc-1.fp', label: 'L', reads: [{ resourceType: 'Observation', valueSet: 'hemoglobin', as: 'hb' }], expression: '%hb.where(' });
    expect(() => loadMappings({ dir })).toThrow(/criterion inc-1, part inc-1\.fp: FHIRPath "%hb\.where\(" does not compile/);
  });

  it('stops the load on a code list it does not know', () => {
    trial({ kind: 'fhirpath', id: 'inc-1.fp', label: 'L', reads: [{ resourceType: 'Observation', valueSet: 'no-such-list', as: 'hb' }], expression: '%hb.exists()' });
    expect(() => loadMappings({ dir })).toThrow(/criterion inc-1, part inc-1\.fp: unknown value set "no-such-list"/);
  });

  it('reads %now as the evaluation time, not the clock, and a non-boolean result is a fault of that part only', () => {
    trial({
      kind: 'all',
      of: [
        { kind: 'fhirpath', id: 'inc-1.now', label: 'Now', reads: [{ resourceType: 'Observation', valueSet: 'hemoglobin', as: 'hb' }], expression: "%now.toDateTime() < @2026-11-24" },
        { kind: 'fhirpath', id: 'inc-1.bad', label: 'Bad', reads: [{ resourceType: 'Observation', valueSet: 'hemoglobin', as: 'hb' }], expression: "'text'" },
      ],
    });
    const m = loadMappings({ dir });
    const rec = buildPatientRecord({ resourceType: 'Patient', id: 'p' }, []);
    const { evaluations, faults } = evaluateTrials(m.trials, rec, ANCHOR, m.engine);
    expect(part(evaluations, 't', 'inc-1.now').outcome).toBe('met');
    expect(evaluateTrials(m.trials, rec, new Date('2026-12-01T00:00:00Z'), m.engine).evaluations[0]!.criteria[0]!.parts[0]!.outcome).toBe('not-met');
    expect(part(evaluations, 't', 'inc-1.bad').outcome).toBe('unknown');
    expect(faults).toEqual(['inc-1.bad: the expression did not give one boolean']);
  });

  it('does not run the expression when a read marked required is empty: the part is its ifNoData at once', () => {
    // The same non-boolean expression as above: run, it would be a fault; with its required data absent it
    // is not run at all, and the part is for review as the mapping says.
    trial({
      kind: 'fhirpath', id: 'inc-1.req', label: 'Req', ifNoData: 'review',
      reads: [{ resourceType: 'Observation', valueSet: 'hemoglobin', as: 'hb', required: true }], expression: "'text'",
    });
    const m = loadMappings({ dir });
    const { evaluations, faults } = evaluateTrials(m.trials, buildPatientRecord({ resourceType: 'Patient', id: 'p' }, []), ANCHOR, m.engine);
    expect(part(evaluations, 't', 'inc-1.req').outcome).toBe('review');
    expect(faults).toEqual([]);
  });
});
