/**
 * Detail 'full' against detail 'decision' (src/engine/types.ts EvaluationDetail, issue #21 item 5), interleaved
 * in one process so the machine's load moves both alike: CPU ms per patient (process.cpuUsage, steadier than
 * wall time on a shared machine) over the population cohort's mix (scripts/build-cohort.ts: Synthea records
 * with dates moved, 5% lupus example patients), the way population screening evaluates them; and the
 * population job's whole step per patient in one thread (screenPatient: parse, digest, evaluate, entries).
 *   tsx bench/evaluator-detail.ts            BENCH_DETAIL_PATIENTS (default 400), BENCH_MIN_MS (default 8000)
 *   BENCH_DETAIL_MODES=decision node --cpu-prof --cpu-prof-dir=bench/profiles --import tsx bench/evaluator-detail.ts
 *                                            one mode alone, for a profile
 *   BENCH_BASE=/path/to/other/checkout tsx bench/evaluator-detail.ts
 *                                            adds that checkout's evaluator (its src/ and fhir-mappings/, as
 *                                            `git archive <commit> src fhir-mappings package.json` gives them,
 *                                            with node_modules beside) as mode "base", interleaved with these
 */
import { loadavg } from 'node:os';
import { join } from 'node:path';
import type { Patient, Resource } from '@medplum/fhirtypes';
import { COHORT_NOW, cohortPatients, cohortTemplates } from '../scripts/build-cohort.js';
import { evaluateTrials } from '../src/engine/evaluate-trial.js';
import { loadMappings } from '../src/mappings/load-mappings.js';
import { buildPatientRecord } from '../src/patient/patient-record.js';
import { screenPatient } from '../src/population/screen-patient.js';
import { MAPPINGS_DIR } from './fixtures.js';
import { median } from './statistics.js';

const mappings = loadMappings({ dir: MAPPINGS_DIR });
const count = Number(process.env.BENCH_DETAIL_PATIENTS ?? 400);
const minMs = Number(process.env.BENCH_MIN_MS ?? 8000);
const cohort = [...cohortPatients(cohortTemplates(mappings), { patients: count, seed: 19 })];
const cohortLines = cohort.map((p) => p.lines.map((l) => l.text));
const patients = cohort.map((p) => {
  const resources = p.lines.map((l) => JSON.parse(l.text) as Resource);
  return { patient: resources.find((r): r is Patient => r.resourceType === 'Patient'), others: resources.filter((r) => r.resourceType !== 'Patient') };
});

type Evaluate = (p: (typeof patients)[number]) => unknown;
const evaluators = new Map<string, Evaluate>();
for (const detail of ['full', 'decision'] as const) {
  evaluators.set(detail, (p) => evaluateTrials(mappings.trials, buildPatientRecord(p.patient, p.others), COHORT_NOW, mappings.engine, { detail }));
}
// The population job's whole step per patient in this thread (src/population/screen-patient.ts): parse the
// NDJSON lines, digest, make readable, evaluate (detail 'decision'), the entries.
const screenCtx = { mappings, now: COHORT_NOW, fhirServer: 'http://bench.example/fhir', jobId: 'bench' };
const lineSets = new Map(patients.map((p, i) => [p, { patientId: cohort[i]!.patientId, lines: cohortLines[i]! }]));
evaluators.set('screen', (p) => {
  // A fault (a record it could not read) would be cheap and measure nothing: the bench's patients have none.
  if (screenPatient(lineSets.get(p)!, screenCtx).fault) throw new Error('a cohort patient was not screened');
});
const base = process.env.BENCH_BASE;
if (base) {
  // Another build's own modules and mappings, loaded beside these: its evaluateTrials takes no detail (full).
  const load = (await import(join(base, 'src/mappings/load-mappings.ts'))) as { loadMappings: typeof loadMappings };
  const evaluate = (await import(join(base, 'src/engine/evaluate-trial.ts'))) as { evaluateTrials: typeof evaluateTrials };
  const records = (await import(join(base, 'src/patient/patient-record.ts'))) as { buildPatientRecord: typeof buildPatientRecord };
  const m = load.loadMappings({ dir: join(base, 'fhir-mappings') });
  evaluators.set('base', (p) => evaluate.evaluateTrials(m.trials, records.buildPatientRecord(p.patient, p.others), COHORT_NOW, m.engine));
  const screen = (await import(join(base, 'src/population/screen-patient.ts'))) as { screenPatient: typeof screenPatient };
  const baseCtx = { ...screenCtx, mappings: m };
  evaluators.set('base-screen', (p) => {
    if (screen.screenPatient(lineSets.get(p)!, baseCtx).fault) throw new Error('a cohort patient was not screened');
  });
}

/** One pass over the cohort: index each record and evaluate every trial, as screenPatient does after parsing. */
function pass(mode: string): { cpuMs: number; wallMs: number } {
  const evaluate = evaluators.get(mode)!;
  const cpu = process.cpuUsage();
  const t0 = performance.now();
  for (const p of patients) evaluate(p);
  const used = process.cpuUsage(cpu);
  return { cpuMs: (used.user + used.system) / 1000 / patients.length, wallMs: (performance.now() - t0) / patients.length };
}

const modes = (process.env.BENCH_DETAIL_MODES ?? `${base ? 'base,' : ''}full,decision${base ? ',base-screen' : ''},screen`).split(',');
for (const m of modes) pass(m); // warm the JIT on both
const samples = new Map(modes.map((m) => [m, { cpu: [] as number[], wall: [] as number[] }]));
const started = performance.now();
let round = 0;
while (performance.now() - started < minMs || round < 6) {
  // Alternate which mode runs first, so neither always follows the other's garbage.
  for (const m of round % 2 === 0 ? modes : [...modes].reverse()) {
    const r = pass(m);
    samples.get(m)!.cpu.push(r.cpuMs);
    samples.get(m)!.wall.push(r.wallMs);
  }
  round++;
}
console.log(`${patients.length} cohort patients x ${mappings.trials.length} trials, ${round} interleaved rounds; load average ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);
for (const m of modes) {
  const s = samples.get(m)!;
  const cpu = median(s.cpu);
  console.log(`  ${m.padEnd(8)} CPU ${cpu.toFixed(3)} ms/patient (${(1000 / cpu).toFixed(0)} patients/s per core), wall ${median(s.wall).toFixed(3)} ms/patient`);
}
const ratio = (a: string, b: string): void => {
  if (samples.has(a) && samples.has(b)) console.log(`  ${a} / ${b} CPU: ${(median(samples.get(a)!.cpu) / median(samples.get(b)!.cpu)).toFixed(2)}`);
};
ratio('full', base ? 'base' : 'full');
ratio('decision', base ? 'base' : 'full');
ratio('screen', 'base-screen');
