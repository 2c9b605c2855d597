/**
 * The evaluator alone, without HTTP: its time per patient, how that grows with the patient's resources and
 * with the number of trials, and a check that its results are exactly those recorded before any
 * optimisation (bench/expected-evaluations.json), so speed never changes an answer.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Bundle, Patient } from '@medplum/fhirtypes';
import { evaluateTrials } from '../src/engine/evaluate-trial.js';
import type { TrialEvaluation } from '../src/engine/types.js';
import { loadMappings } from '../src/mappings/load-mappings.js';
import type { MappingSet } from '../src/mappings/compiled.js';
import { buildPatientRecord } from '../src/patient/patient-record.js';
import {
  ANCHOR,
  MAPPINGS_DIR,
  bundleResources,
  examplePatients,
  largestSynthea,
  scaleObservations,
  scaledMappingsDir,
  syntheaPatients,
  typicalExample,
} from './fixtures.js';

import { median } from './statistics.js';

export const GOLDEN_FILE = join(import.meta.dirname, 'expected-evaluations.json');

/** One patient through the evaluator as the hook does it: index the record, evaluate every trial. */
export function evaluateBundleOnce(bundle: Bundle, mappings: MappingSet, now: Date = ANCHOR): TrialEvaluation[] {
  const resources = bundleResources(bundle);
  const patient = resources.find((r): r is Patient => r.resourceType === 'Patient');
  const record = buildPatientRecord(
    patient,
    resources.filter((r) => r.resourceType !== 'Patient'),
  );
  return evaluateTrials(mappings.trials, record, now, mappings.engine).evaluations;
}


/**
 * Median time of one evaluation of each case, in ms. The cases are timed in interleaved rounds, so a
 * change in the machine's load (other processes on 2 cores) moves all of them alike and their ratios hold;
 * each sample is a batch of about 5 ms so the timer's resolution does not matter.
 */
export function timeEvaluations(cases: readonly { bundle: Bundle; mappings: MappingSet }[], minMs = 1500): { medianMs: number; runs: number }[] {
  const batches = cases.map(({ bundle, mappings }) => {
    for (let i = 0; i < 30; i++) evaluateBundleOnce(bundle, mappings);
    const probe = performance.now();
    for (let i = 0; i < 5; i++) evaluateBundleOnce(bundle, mappings);
    return Math.max(1, Math.round(5 / Math.max((performance.now() - probe) / 5, 0.001)));
  });
  const samples: number[][] = cases.map(() => []);
  const runs = cases.map(() => 0);
  const started = performance.now();
  while (performance.now() - started < minMs * cases.length || samples[0]!.length < 15) {
    cases.forEach(({ bundle, mappings }, i) => {
      const t0 = performance.now();
      for (let k = 0; k < batches[i]!; k++) evaluateBundleOnce(bundle, mappings);
      samples[i]!.push((performance.now() - t0) / batches[i]!);
      runs[i]! += batches[i]!;
    });
  }
  return samples.map((xs, i) => ({ medianMs: median(xs), runs: runs[i]! }));
}

export interface EvaluatorRow {
  label: string;
  resources: number;
  trials: number;
  medianMs: number;
  /** Time relative to the row's x1 / 5-trial reference. */
  relative?: number;
  runs: number;
}

export interface EvaluatorResults {
  loadMappingsMs: number;
  perPatient: EvaluatorRow[];
  byResources: EvaluatorRow[];
  byTrials: EvaluatorRow[];
}

function countResources(bundle: Bundle): number {
  return bundleResources(bundle).length;
}

export function runEvaluatorBench(log: (line: string) => void, minMs = 1500): EvaluatorResults {
  const t0 = performance.now();
  const mappings = loadMappings({ dir: MAPPINGS_DIR });
  const loadMappingsMs = performance.now() - t0;
  log(`  loadMappings: ${loadMappingsMs.toFixed(1)} ms (start-up, once)`);

  const typical = typicalExample();
  const synthea = largestSynthea();
  // Warm the JIT on both shapes of patient first, so the first row timed is not the one that pays for it.
  const warmUntil = performance.now() + 1000;
  while (performance.now() < warmUntil) for (const b of [typical.bundle, synthea.bundle]) evaluateBundleOnce(b, mappings);
  const perPatient: EvaluatorRow[] = [];
  const patients = [
    { label: `typical (${typical.id})`, bundle: typical.bundle },
    { label: `Synthea ${synthea.file.split('_').slice(0, 2).join(' ')}`, bundle: synthea.bundle },
  ];
  timeEvaluations(patients.map((p) => ({ bundle: p.bundle, mappings })), minMs).forEach((t, i) => {
    const p = patients[i]!;
    perPatient.push({ label: p.label, resources: countResources(p.bundle), trials: mappings.trials.length, ...t });
    log(`  ${p.label}: ${t.medianMs.toFixed(3)} ms`);
  });

  const byResources: EvaluatorRow[] = [];
  for (const [name, base] of [
    ['typical', typical.bundle],
    ['Synthea', synthea.bundle],
  ] as const) {
    const scaled = [1, 4, 16].map((factor) => ({ factor, bundle: scaleObservations(base, factor), mappings }));
    const times = timeEvaluations(scaled, minMs);
    scaled.forEach(({ factor, bundle }, i) => {
      const t = times[i]!;
      const row = { label: `${name} x${factor} Observations`, resources: countResources(bundle), trials: mappings.trials.length, ...t, relative: t.medianMs / times[0]!.medianMs };
      byResources.push(row);
      log(`  ${row.label} (${row.resources} resources): ${t.medianMs.toFixed(3)} ms, x${row.relative.toFixed(2)}`);
    });
  }

  const byTrials: EvaluatorRow[] = [];
  const dirs = [1, 4, 16].map((copies) => scaledMappingsDir(copies));
  try {
    const bundle = scaleObservations(typical.bundle, 4);
    const sets = dirs.map((d) => loadMappings({ dir: d.dir }));
    const times = timeEvaluations(sets.map((m) => ({ bundle, mappings: m })), minMs);
    sets.forEach((m, i) => {
      const t = times[i]!;
      const row = { label: `${m.trials.length} trials (typical x4)`, resources: countResources(bundle), trials: m.trials.length, ...t, relative: t.medianMs / times[0]!.medianMs };
      byTrials.push(row);
      log(`  ${row.label}: ${t.medianMs.toFixed(3)} ms, x${row.relative.toFixed(2)}`);
    });
  } finally {
    for (const d of dirs) d.cleanup();
  }
  return { loadMappingsMs, perPatient, byResources, byTrials };
}

/** The evaluator's full output in a stable form: every status, criterion, reason and piece of evidence. */
function digest(evaluations: TrialEvaluation[]): { statuses: Record<string, string>; sha256: string } {
  return {
    statuses: Object.fromEntries(evaluations.map((e) => [e.trialId, e.status])),
    sha256: createHash('sha256').update(JSON.stringify(evaluations)).digest('hex'),
  };
}

/** Every example and Synthea patient, plus the scaled ones the bench times. */
function goldenCases(): [string, Bundle][] {
  const typical = typicalExample();
  const largest = largestSynthea();
  return [
    ...examplePatients().map((p): [string, Bundle] => [`example ${p.id}`, p.bundle]),
    ...syntheaPatients().map((p): [string, Bundle] => [`synthea ${p.file}`, p.bundle]),
    [`example ${typical.id} x16 Observations`, scaleObservations(typical.bundle, 16)],
    [`synthea ${largest.file} x16 Observations`, scaleObservations(largest.bundle, 16)],
  ];
}

export function currentDigests(): Record<string, ReturnType<typeof digest>> {
  const mappings = loadMappings({ dir: MAPPINGS_DIR });
  return Object.fromEntries(goldenCases().map(([name, bundle]) => [name, digest(evaluateBundleOnce(bundle, mappings))]));
}

export function writeGolden(): void {
  writeFileSync(GOLDEN_FILE, `${JSON.stringify(currentDigests(), null, 2)}\n`);
}

/** Compares with the recorded results; the list of differences is empty when nothing changed. */
export function checkGolden(): { ok: boolean; checked: number; differences: string[] } {
  if (!existsSync(GOLDEN_FILE)) return { ok: false, checked: 0, differences: [`${GOLDEN_FILE} is missing (run with --update-golden on a known-good tree)`] };
  const expected = JSON.parse(readFileSync(GOLDEN_FILE, 'utf8')) as Record<string, ReturnType<typeof digest>>;
  const actual = currentDigests();
  const differences: string[] = [];
  for (const [name, want] of Object.entries(expected)) {
    const got = actual[name];
    if (!got) differences.push(`${name}: not evaluated`);
    else if (JSON.stringify(got.statuses) !== JSON.stringify(want.statuses)) differences.push(`${name}: statuses ${JSON.stringify(got.statuses)} != ${JSON.stringify(want.statuses)}`);
    else if (got.sha256 !== want.sha256) differences.push(`${name}: same statuses, but criteria, reasons or evidence differ`);
  }
  return { ok: differences.length === 0, checked: Object.keys(expected).length, differences };
}
