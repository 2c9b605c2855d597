import type { Bundle } from '@medplum/fhirtypes';
import { evaluateBundle } from '../../src/cds/handle-patient-view.js';
import type { PartResult, TrialEvaluation } from '../../src/engine/types.js';
import { loadMappings } from '../../src/mappings/load-mappings.js';
import type { MappingSet } from '../../src/mappings/compiled.js';
import { ANCHOR } from '../../scripts/fhir-builders.js';
import { resolve } from 'node:path';
import { ROOT } from './app.js';

let cached: MappingSet | undefined;

/** The real trials and code lists, loaded once per test file. */
export function realMappings(): MappingSet {
  cached ??= loadMappings({ dir: resolve(ROOT, 'fhir-mappings') });
  return cached;
}

/** Every trial's evaluation of one patient's Bundle, with the criteria that failed inside the engine (faults). */
export function evaluateWithFaults(bundle: Bundle, now: Date = ANCHOR, mappings: MappingSet = realMappings()): { evaluations: TrialEvaluation[]; faults: string[] } {
  const { evaluations, faults } = evaluateBundle(bundle, { mappings, fhir: { timeoutMs: 1000, maxPages: 1, maxResources: 1 } }, now);
  return { evaluations, faults };
}

export function evaluate(bundle: Bundle, now: Date = ANCHOR, mappings: MappingSet = realMappings()): TrialEvaluation[] {
  return evaluateWithFaults(bundle, now, mappings).evaluations;
}

export function trial(evaluations: TrialEvaluation[], trialId: string): TrialEvaluation {
  const t = evaluations.find((e) => e.trialId === trialId);
  if (!t) throw new Error(`no evaluation for ${trialId}`);
  return t;
}

function findPart(parts: readonly PartResult[], id: string): PartResult | undefined {
  for (const p of parts) {
    if (p.id === id) return p;
    const inner = p.parts ? findPart(p.parts, id) : undefined;
    if (inner) return inner;
  }
  return undefined;
}

/** One part (leaf or group) of a trial's evaluation, by its id in the mapping ("inc-7.hb"). */
export function part(evaluations: TrialEvaluation[], trialId: string, partId: string): PartResult {
  const t = trial(evaluations, trialId);
  for (const c of t.criteria) {
    if (c.id === partId) return { id: c.id, label: c.text, kind: 'criterion', outcome: c.outcome, reason: c.reason, evidence: c.evidence, parts: c.parts };
    const p = findPart(c.parts, partId);
    if (p) return p;
  }
  throw new Error(`no part ${partId} in ${trialId}`);
}
