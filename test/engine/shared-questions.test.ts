import { describe, expect, it } from 'vitest';
import type { Bundle, Patient, Resource } from '@medplum/fhirtypes';
import { ANCHOR } from '../../scripts/fhir-builders.js';
import { createContext, nameIn } from '../../src/engine/context.js';
import { matchName } from '../../src/terminology/value-set.js';
import { evaluateRule } from '../../src/engine/evaluate-rule.js';
import { evaluateTrials } from '../../src/engine/evaluate-trial.js';
import type { PartResult } from '../../src/engine/types.js';
import type { CompiledLeaf, CompiledRule } from '../../src/engine/compiled.js';
import { loadExamples } from '../../src/examples/example-patients.js';
import { buildPatientRecord } from '../../src/patient/patient-record.js';
import { resolve } from 'node:path';
import { ROOT } from '../support/app.js';
import { realMappings } from '../support/evaluate.js';
import { coveragePatients } from './coverage-patients.js';

function recordOf(bundle: Bundle): ReturnType<typeof buildPatientRecord> {
  const resources = (bundle.entry ?? []).map((e) => e.resource).filter((r): r is Resource => r !== undefined);
  const patient = resources.find((r): r is Patient => r.resourceType === 'Patient');
  return buildPatientRecord(patient, resources.filter((r) => r.resourceType !== 'Patient'));
}

/** Each compiled leaf beside the part the evaluation gave for it, walking rule and result trees together. */
function pairs(rule: CompiledRule, result: PartResult, out: [CompiledLeaf, PartResult][] = []): [CompiledLeaf, PartResult][] {
  if (!('of' in rule)) out.push([rule, result]);
  else rule.of.forEach((r, i) => pairs(r, result.parts![i]!, out));
  return out;
}

const patients: Bundle[] = [...loadExamples(resolve(ROOT, 'cds-hooks', 'examples')).patients.map((p) => p.bundle), ...coveragePatients()];

describe('questions the trials share are answered once per request', () => {
  it('gives every leaf exactly the result it gets when evaluated alone', () => {
    const mappings = realMappings();
    let compared = 0;
    for (const bundle of patients) {
      const record = recordOf(bundle);
      const { evaluations } = evaluateTrials(mappings.trials, record, ANCHOR, mappings.engine);
      mappings.trials.forEach((trial, t) => {
        trial.criteria.forEach((criterion, c) => {
          const root = evaluations[t]!.criteria[c]!;
          const result: PartResult = root.parts.length === 1 && !('of' in criterion.rule) ? root.parts[0]! : { ...root, id: criterion.rule.id, label: criterion.rule.label, kind: criterion.rule.kind, parts: root.parts };
          for (const [leaf, shared] of pairs(criterion.rule, result)) {
            const alone = evaluateRule(leaf, createContext(record, ANCHOR, mappings.engine), [], criterion.guards);
            expect(shared, `${trial.id} ${leaf.id}`).toEqual(alone);
            compared++;
          }
        });
      });
    }
    expect(compared).toBeGreaterThan(1000);
  });

  it('evaluates fewer leaves than the trials hold, and keeps each leaf its own id and label', () => {
    const mappings = realMappings();
    const record = recordOf(patients[0]!);
    const ctx = createContext(record, ANCHOR, mappings.engine);
    const leaves: CompiledLeaf[] = [];
    const walk = (r: CompiledRule): void => ('of' in r ? r.of.forEach(walk) : void leaves.push(r));
    for (const trial of mappings.trials) for (const c of trial.criteria) walk(c.rule);
    const keyed = leaves.filter((l) => l.memoKey !== undefined);
    const results = keyed.map((leaf) => [leaf, evaluateRule(leaf, ctx, [])] as const);
    expect(ctx.leafResults.size).toBeLessThan(keyed.length * 0.7);
    for (const [leaf, result] of results) expect(result).toMatchObject({ id: leaf.id, label: leaf.label, kind: leaf.kind });
    // Leaves that differ in anything but their names do not share a key: the window, for one.
    const windows = new Map<string, Set<string>>();
    for (const leaf of keyed) {
      const { id: _i, label: _l, note: _n, ...meaning } = leaf.spec as Record<string, unknown>;
      const key = leaf.memoKey!;
      windows.set(key, (windows.get(key) ?? new Set()).add(JSON.stringify(meaning)));
    }
    for (const specs of windows.values()) expect(specs.size).toBe(1);
  });
});

describe('medication and condition names are read once per request and list (issue #21 item 5)', () => {
  it('answers as matchName does, and asks each list about each text once', () => {
    const mappings = realMappings();
    const ctx = createContext(recordOf(patients[0]!), ANCHOR, mappings.engine);
    const lists = [...mappings.valueSets.values()].filter((vs) => vs.names.length > 0);
    expect(lists.length).toBeGreaterThan(3);
    const texts = ['mycophenolate mofetil 500 mg oral tablet', 'rituxan hycela', 'acetaminophen 325 mg', 'systemic lupus erythematosus', '泰它西普'];
    for (const vs of lists) {
      for (const text of texts) {
        expect(nameIn(ctx, vs, text)).toBe(matchName(vs, text));
        expect(nameIn(ctx, vs, text)).toBe(matchName(vs, text));
      }
      expect(ctx.names.get(vs)!.size).toBe(texts.length);
    }
  });
});
