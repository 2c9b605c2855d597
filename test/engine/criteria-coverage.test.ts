import { describe, expect, it } from 'vitest';
import type { Bundle } from '@medplum/fhirtypes';
import { ANCHOR } from '../../scripts/fhir-builders.js';
import { evaluateTrials } from '../../src/engine/evaluate-trial.js';
import type { Outcome, PartResult, TrialEvaluation } from '../../src/engine/types.js';
import type { CompiledRule } from '../../src/engine/compiled.js';
import { CLINICAL_TYPES, buildPatientRecord } from '../../src/patient/patient-record.js';
import { exampleBundle, exampleIds } from '../support/app.js';
import { evaluate, realMappings } from '../support/evaluate.js';
import { coveragePatients } from './coverage-patients.js';
import { clinicalRecord } from '../support/clinical.js';

/**
 * Parts that cannot be decided because their code list is empty: no code for the test could be confirmed
 * (fhir-mappings/valuesets/*.json say which). A site adds its codes in the local codes file. Listed here so
 * that a new empty list is noticed, and a filled one is tested.
 */
// Parts whose code list is empty (none since issue #10 filled the 24-h urine protein, HBV/CMV/EBV DNA, IGRA
// and tuberculin lists); test/mappings/value-set-content.test.ts now fails on an empty list as well.
const NO_CODES: string[] = [];

/**
 * Parts that by design only confirm: met when the record shows it, otherwise for review, never "not met"
 * (the belimumab renal definition of refractory: an absence of the pattern is not evidence against it).
 */
const CONFIRM_ONLY = ['nct04893161-belimumab-response/inc-3.renal-timing'];

/** Every automatic part of every trial, as "trial/part", with the outcome that stands for "found". */
function automaticLeaves(): string[] {
  return [...automaticParts().keys()];
}

function automaticParts(): Map<string, Outcome> {
  const out = new Map<string, Outcome>();
  const walk = (trialId: string, rule: CompiledRule): void => {
    if ('of' in rule) rule.of.forEach((r) => walk(trialId, r));
    // A part whose finding is for the investigator to grade ("severe"?) shows "review" where others show "met".
    else if (rule.kind !== 'review') out.set(`${trialId}/${rule.id}`, (rule.spec as { onMatch?: string }).onMatch === 'review' ? 'review' : 'met');
  };
  for (const t of realMappings().trials) for (const c of t.criteria) walk(t.id, c.rule);
  return out;
}

function record(seen: Map<string, Set<Outcome>>, evaluations: TrialEvaluation[]): void {
  const walk = (trialId: string, p: PartResult): void => {
    if (p.parts) p.parts.forEach((x) => walk(trialId, x));
    else {
      const key = `${trialId}/${p.id}`;
      if (!seen.has(key)) seen.set(key, new Set());
      seen.get(key)?.add(p.outcome);
      // What the record gave before a window rule held it back (src/engine/window-guard.ts) counts as reached.
      if (p.recordOutcome) seen.get(key)?.add(p.recordOutcome);
    }
  };
  for (const e of evaluations) for (const c of e.criteria) c.parts.forEach((p) => walk(e.trialId, p));
}

/** A record none of whose data could be read: every automatic part must then be unknown, never decided. */
function unreadable(): TrialEvaluation[] {
  const m = realMappings();
  const unavailable = new Map([...CLINICAL_TYPES, 'Patient' as const].map((t) => [t, `${t} could not be read`]));
  return evaluateTrials(m.trials, buildPatientRecord(undefined, [], unavailable), ANCHOR, m.engine).evaluations;
}

describe('criteria coverage', () => {
  // The renal-definition records (test/clinical/kinds-belimumab-renal.test.ts) reach its met outcome.
  const bundles: Bundle[] = [...exampleIds().map(exampleBundle), ...coveragePatients(), clinicalRecord('kinds-renal-persistent-proteinuria')];

  it('drives every automatic part of every trial to met, not met and unknown', () => {
    const seen = new Map<string, Set<Outcome>>();
    for (const b of bundles) record(seen, evaluate(b));
    record(seen, unreadable());
    const gaps = [...automaticParts()]
      .filter(([leaf]) => !NO_CODES.includes(leaf))
      .map(([leaf, found]) => [leaf, [found, CONFIRM_ONLY.includes(leaf) ? 'review' : 'not-met', 'unknown'].filter((o) => !seen.get(leaf)?.has(o as Outcome))] as const)
      .filter(([, missing]) => missing.length > 0)
      .map(([leaf, missing]) => `${leaf}: never ${missing.join(', ')}`);
    expect(gaps).toEqual([]);
  });

  it('names every part that cannot be decided for want of codes, and those are never decided', () => {
    const m = realMappings();
    const empty: string[] = [];
    const walk = (trialId: string, rule: CompiledRule): void => {
      if ('of' in rule) rule.of.forEach((r) => walk(trialId, r));
      else if (rule.reads.some(({ valueSet: vs }) => vs && vs.exact.size === 0 && vs.prefixes.length === 0 && vs.names.length === 0)) empty.push(`${trialId}/${rule.id}`);
    };
    for (const t of m.trials) for (const c of t.criteria) walk(t.id, c.rule);
    expect(empty.sort()).toEqual([...NO_CODES].sort());
    const seen = new Map<string, Set<Outcome>>();
    for (const b of bundles) record(seen, evaluate(b));
    for (const leaf of NO_CODES) expect([...(seen.get(leaf) ?? [])].every((o) => o === 'unknown' || o === 'review'), leaf).toBe(true);
  });

  it('never decides a part when no data could be read', () => {
    const seen = new Map<string, Set<Outcome>>();
    record(seen, unreadable());
    const decided = [...seen].filter(([leaf, o]) => automaticLeaves().includes(leaf) && (o.has('met') || o.has('not-met')));
    expect(decided.map(([leaf]) => leaf)).toEqual([]);
  });
});
