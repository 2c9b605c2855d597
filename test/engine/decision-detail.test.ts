import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Bundle, Resource } from '@medplum/fhirtypes';
import { ANCHOR } from '../../scripts/fhir-builders.js';
import { COHORT_NOW, cohortPatients, cohortTemplates } from '../../scripts/build-cohort.js';
import { evaluateBundle } from '../../src/cds/handle-patient-view.js';
import type { CompiledLeaf, CompiledTrial } from '../../src/engine/compiled.js';
import { decisionPlan } from '../../src/engine/decision-order.js';
import { evaluateTrials } from '../../src/engine/evaluate-trial.js';
import { part } from '../../src/engine/part.js';
import type { EvaluationDetail, Outcome, TrialEvaluation } from '../../src/engine/types.js';
import { buildPatientRecord } from '../../src/patient/patient-record.js';
import { loadExamples } from '../../src/examples/example-patients.js';
import { ROOT, SYNTHEA_DIR } from '../support/app.js';
import { realMappings } from '../support/evaluate.js';
import { coveragePatients } from './coverage-patients.js';

/**
 * Detail 'decision' (issue #21 item 5) changes no status: each trial stops at its first blocking criterion,
 * which full detail blocks on too, and every criterion it did evaluate is exactly as full detail gives it.
 * Over every patient the repository holds: the bundled examples, the test records, the Synthea records, and
 * the population cohort's variations of them (dates moved, identities changed).
 */

function testBundles(dir: string, out: { name: string; bundle: Bundle }[] = []): { name: string; bundle: Bundle }[] {
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) testBundles(path, out);
    else if (name.endsWith('.json')) {
      const json = parseOrNothing(readFileSync(path, 'utf8'));
      if (json.resourceType === 'Bundle' && Array.isArray(json.entry)) out.push({ name: path.slice(ROOT.length + 1), bundle: json as Bundle });
    }
  }
  return out;
}

/** A test file that is not JSON (a broken trial file for check-trial) holds no patient. */
function parseOrNothing(text: string): { resourceType?: string; entry?: unknown[] } {
  try {
    return JSON.parse(text) as { resourceType?: string; entry?: unknown[] };
  } catch {
    return {};
  }
}

function cohort(n: number): { name: string; bundle: Bundle }[] {
  const templates = cohortTemplates(realMappings());
  const out: { name: string; bundle: Bundle }[] = [];
  for (const p of cohortPatients(templates, { patients: n, seed: 21, candidates: 0.3 })) {
    const entry = p.lines.map((l) => ({ resource: JSON.parse(l.text) as Resource }));
    out.push({ name: `cohort ${p.patientId}`, bundle: { resourceType: 'Bundle', type: 'collection', entry } });
  }
  return out;
}

function run(bundle: Bundle, now: Date, detail: EvaluationDetail): TrialEvaluation[] {
  return evaluateBundle(bundle, { mappings: realMappings(), fhir: { timeoutMs: 0, maxPages: 0, maxResources: 0 } }, now, detail).evaluations;
}

interface Tally {
  patients: number;
  trials: number;
  stopped: number;
  skipped: number;
  ineligible: number;
}

/** Compares both details for one patient; returns what decision detail skipped. */
function compare(name: string, bundle: Bundle, now: Date, tally: Tally): void {
  const full = run(bundle, now, 'full');
  const decision = run(bundle, now, 'decision');
  tally.patients++;
  expect(decision.map((e) => e.trialId), name).toEqual(full.map((e) => e.trialId));
  full.forEach((f, i) => {
    const d = decision[i]!;
    const at = `${name} ${f.trialId}`;
    tally.trials++;
    if (f.status === 'ineligible') tally.ineligible++;
    expect(d.status, at).toBe(f.status);
    if (!d.notEvaluated) {
      // Not stopped: every criterion evaluated, the whole evaluation as full detail gives it.
      expect(d, at).toEqual(f);
      return;
    }
    tally.stopped++;
    tally.skipped += d.notEvaluated.length;
    expect(d.status, at).toBe('ineligible');
    // Evaluated and not evaluated together are every criterion once, in protocol order.
    const ids = f.criteria.map((c) => c.id);
    const evaluated = d.criteria.map((c) => c.id);
    const skipped = d.notEvaluated.map((c) => c.id);
    expect([...evaluated, ...skipped].sort(), at).toEqual([...ids].sort());
    expect(evaluated, at).toEqual(ids.filter((id) => evaluated.includes(id)));
    expect(skipped, at).toEqual(ids.filter((id) => skipped.includes(id)));
    if (f.notScreened) {
      expect(evaluated, at).toEqual([]);
      expect(d.notScreened, at).toEqual(f.notScreened);
      expect(d.statusReason, at).toEqual(f.statusReason);
      return;
    }
    // Stopped at one blocking criterion, one of full detail's, carried whole and alone.
    expect(d.blocking, at).toHaveLength(1);
    expect(evaluated, at).toEqual(d.blocking);
    expect(f.blocking, at).toContain(d.blocking[0]);
    for (const c of d.criteria) expect(c, `${at} ${c.id}`).toEqual(f.criteria.find((x) => x.id === c.id));
    expect(['inclusion-not-met', 'exclusion-met'], at).toContain(d.statusReason.code);
    // Not evaluated is never shown as a result: those criteria are absent from `criteria`, named apart.
    for (const ref of d.notEvaluated) expect(Object.keys(ref).sort(), at).toEqual(['id', 'item', 'text', 'type']);
  });
}

describe("detail 'decision' gives full detail's statuses", () => {
  it('for every bundled example patient and every test record', () => {
    const tally: Tally = { patients: 0, trials: 0, stopped: 0, skipped: 0, ineligible: 0 };
    for (const p of loadExamples(resolve(ROOT, 'cds-hooks', 'examples')).patients) compare(`example ${p.id}`, p.bundle, ANCHOR, tally);
    coveragePatients().forEach((b, i) => compare(`coverage ${i}`, b, ANCHOR, tally));
    for (const { name, bundle } of testBundles(resolve(ROOT, 'test'))) compare(name, bundle, ANCHOR, tally);
    expect(tally.patients).toBeGreaterThan(100);
    // The property is not vacuous: many trials stop early, and skip criteria when they do.
    expect(tally.stopped).toBeGreaterThan(50);
    expect(tally.skipped).toBeGreaterThan(tally.stopped);
  }, 120_000);

  it('for the Synthea records and the population cohort built from them', () => {
    const tally: Tally = { patients: 0, trials: 0, stopped: 0, skipped: 0, ineligible: 0 };
    for (const file of readdirSync(SYNTHEA_DIR).filter((f) => f.endsWith('.json')).sort()) {
      compare(file, JSON.parse(readFileSync(join(SYNTHEA_DIR, file), 'utf8')) as Bundle, COHORT_NOW, tally);
    }
    for (const { name, bundle } of cohort(120)) compare(name, bundle, COHORT_NOW, tally);
    expect(tally.patients).toBe(125);
    expect(tally.stopped).toBeGreaterThan(0);
    // Every ineligible Synthea trial stops early: none of them needs its whole trace.
    expect(tally.stopped).toBe(tally.ineligible);
  }, 120_000);
});

/** A hand-built trial: each criterion one leaf giving a fixed outcome, or throwing (a fault). */
function leaf(id: string, outcome: Outcome | 'throws', reads: CompiledLeaf['reads'] = [{ resourceType: 'Condition' }]): CompiledLeaf {
  const l: CompiledLeaf = {
    kind: 'test',
    id,
    label: id,
    spec: {},
    reads,
    evaluate: () => {
      if (outcome === 'throws') throw new Error('bad data');
      return part(l, outcome, outcome);
    },
  };
  return l;
}

function handBuilt(criteria: [string, 'inclusion' | 'exclusion', CompiledLeaf][]): CompiledTrial {
  return {
    id: 'hand-built',
    title: 'Hand-built',
    shortTitle: 'Hand-built',
    phase: '2',
    studyType: 'interventional',
    registryStatus: { status: 'RECRUITING', asOf: '2026-01-01' } as CompiledTrial['registryStatus'],
    registry: { url: 'https://example.org', label: 'registry' },
    protocolSource: 'test',
    file: 'hand-built.json',
    criteria: criteria.map(([id, type, rule]) => ({ id, type, item: id, text: id, interpretation: '', anchor: 'screening', rule, guards: new Map() })),
  };
}

describe("detail 'decision' stops only on positive evidence", () => {
  const engine = realMappings().engine;
  const record = buildPatientRecord({ resourceType: 'Patient', id: 'p' }, []);
  const decide = (trial: CompiledTrial): TrialEvaluation => evaluateTrials([trial], record, ANCHOR, engine, { detail: 'decision' }).evaluations[0]!;

  it('never stops on a criterion that faults, is unknown, or waits on review', () => {
    const trial = handBuilt([
      ['inc-1', 'inclusion', leaf('inc-1', 'throws', [{ resourceType: 'Patient' }])],
      ['inc-2', 'inclusion', leaf('inc-2', 'unknown', [{ resourceType: 'Patient' }])],
      ['inc-3', 'inclusion', leaf('inc-3', 'review', [{ resourceType: 'Patient' }])],
      ['exc-1', 'exclusion', leaf('exc-1', 'throws', [{ resourceType: 'Patient' }])],
      ['exc-2', 'exclusion', leaf('exc-2', 'not-met')],
    ]);
    const e = decide(trial);
    expect(e.status).toBe('possibly-eligible');
    expect(e.notEvaluated).toBeUndefined();
    expect(e.criteria.map((c) => [c.id, c.outcome])).toEqual([['inc-1', 'unknown'], ['inc-2', 'unknown'], ['inc-3', 'review'], ['exc-1', 'unknown'], ['exc-2', 'not-met']]);
  });

  it('stops at an inclusion not met, evaluated cheaper first, and names the rest as not evaluated', () => {
    const trial = handBuilt([
      ['inc-1', 'inclusion', leaf('inc-1', 'met', [{ resourceType: 'MedicationRequest' }, { resourceType: 'MedicationStatement' }])],
      ['inc-2', 'inclusion', leaf('inc-2', 'not-met', [{ resourceType: 'Patient' }])],
      ['exc-1', 'exclusion', leaf('exc-1', 'met')],
    ]);
    const e = decide(trial);
    expect(e).toMatchObject({ status: 'ineligible', blocking: ['inc-2'], statusReason: { code: 'inclusion-not-met' } });
    expect(e.criteria.map((c) => c.id)).toEqual(['inc-2']);
    expect(e.notEvaluated).toEqual([
      { id: 'inc-1', type: 'inclusion', item: 'inc-1', text: 'inc-1' },
      { id: 'exc-1', type: 'exclusion', item: 'exc-1', text: 'exc-1' },
    ]);
  });

  it('orders criteria that can block first, inclusions before exclusions, cheaper reads first', () => {
    const trial = handBuilt([
      ['inc-1', 'inclusion', leaf('inc-1', 'review', [])],
      ['exc-1', 'exclusion', leaf('exc-1', 'met', [{ resourceType: 'Patient' }])],
      ['inc-2', 'inclusion', leaf('inc-2', 'met', [{ resourceType: 'Observation' }])],
      ['inc-3', 'inclusion', leaf('inc-3', 'met', [{ resourceType: 'Patient' }])],
    ]);
    expect(decisionPlan(trial.criteria).order).toEqual([3, 2, 1, 0]);
    // The loader works the plan out once for every trial.
    for (const t of realMappings().trials) expect(t.decisionPlan?.order, t.id).toEqual(decisionPlan(t.criteria).order);
  });
});
