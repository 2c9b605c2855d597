/**
 * The patients and mapping sets the benchmark drives, built from the repository's own data so the bench
 * measures what the service really receives: the example patients (as an EHR would prefetch them), the
 * largest Synthea bundle, and scaled copies of both.
 */
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import type { Bundle, Observation, Patient, Resource } from '@medplum/fhirtypes';
import { daysSinceAnchor, exampleHookRequest, loadExamples, prefetchFromBundle, shiftDates, type ExamplePatient } from '../src/examples/example-patients.js';

export const ROOT = resolve(import.meta.dirname, '..');
export const MAPPINGS_DIR = join(ROOT, 'fhir-mappings');
export const EXAMPLES_DIR = join(ROOT, 'cds-hooks', 'examples');
export const SYNTHEA_DIR = resolve(ROOT, '..', 'shared', 'data', 'synthea');
/** The examples are written against this date; evaluating at it keeps the evaluator's results fixed. */
export const ANCHOR = new Date('2026-11-23T09:00:00Z');
export const TYPICAL_ID = 'sle-child-likely';

export function examplePatients(): ExamplePatient[] {
  return loadExamples(EXAMPLES_DIR).patients;
}

export function typicalExample(): ExamplePatient {
  const p = examplePatients().find((x) => x.id === TYPICAL_ID);
  if (!p) throw new Error(`example ${TYPICAL_ID} not found in ${EXAMPLES_DIR}`);
  return p;
}

export interface SyntheaPatient {
  file: string;
  bytes: number;
  bundle: Bundle;
  patientId: string;
}

/** Every Synthea bundle, largest file first. */
export function syntheaPatients(): SyntheaPatient[] {
  return readdirSync(SYNTHEA_DIR)
    .filter((f) => f.endsWith('.json'))
    .map((file) => {
      const path = join(SYNTHEA_DIR, file);
      const bundle = JSON.parse(readFileSync(path, 'utf8')) as Bundle;
      const patient = bundle.entry?.find((e) => e.resource?.resourceType === 'Patient')?.resource as Patient | undefined;
      if (!patient?.id) throw new Error(`${file} has no Patient id`);
      return { file, bytes: statSync(path).size, bundle, patientId: patient.id };
    })
    .sort((a, b) => b.bytes - a.bytes);
}

export function largestSynthea(): SyntheaPatient {
  const [largest] = syntheaPatients();
  if (!largest) throw new Error(`no Synthea bundles in ${SYNTHEA_DIR}`);
  return largest;
}

/**
 * A patient-view request with full prefetch, as the service's discovery document asks for it. The
 * typical patient's dates are moved to `now` the way GET /examples/:id/hook-request does.
 */
export function typicalHookRequest(now: Date): Record<string, unknown> {
  const set = loadExamples(EXAMPLES_DIR);
  const example = set.patients.find((x) => x.id === TYPICAL_ID);
  if (!example) throw new Error(`example ${TYPICAL_ID} not found in ${EXAMPLES_DIR}`);
  return exampleHookRequest(example, daysSinceAnchor(set.anchorDate, now));
}

export function syntheaHookRequest(p: SyntheaPatient): Record<string, unknown> {
  return {
    hook: 'patient-view',
    hookInstance: '5f2b8a3c-1d4e-4f6a-9b7c-2e8d0f1a3b5c',
    context: { userId: 'Practitioner/example', patientId: p.patientId },
    prefetch: prefetchFromBundle(p.bundle),
  };
}

export function bundleResources(bundle: Bundle): Resource[] {
  return (bundle.entry ?? []).map((e) => e.resource).filter((r): r is Resource => r !== undefined);
}

/**
 * The bundle with its Observations repeated `factor` times: each copy gets a new id and every date moved
 * back by whole weeks, so the copies are older than the originals (the latest result, which criteria read,
 * stays the same) while the evaluator still has to read and sort all of them.
 */
export function scaleObservations(bundle: Bundle, factor: number): Bundle {
  const entries = bundle.entry ?? [];
  const copies: NonNullable<Bundle['entry']> = [];
  for (let k = 1; k < factor; k++) {
    for (const e of entries) {
      const r = e.resource;
      if (r?.resourceType !== 'Observation') continue;
      const moved: Observation = shiftDates(r, -7 * k);
      copies.push({ resource: { ...moved, id: `${r.id ?? 'obs'}-copy${k}` } });
    }
  }
  return { ...bundle, entry: [...entries, ...copies] };
}

/**
 * A temporary fhir-mappings directory with the five trials copied `copies` times under changed ids (the
 * value sets are the same directory), so the evaluator's cost can be read against the number of trials.
 */
export function scaledMappingsDir(copies: number): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'trialmatch-bench-mappings-'));
  const trialsDir = join(dir, 'trials');
  mkdirSync(trialsDir);
  symlinkSync(join(MAPPINGS_DIR, 'valuesets'), join(dir, 'valuesets'), 'dir');
  const sources = readdirSync(join(MAPPINGS_DIR, 'trials')).filter((f) => f.endsWith('.json'));
  for (const file of sources) {
    const src = join(MAPPINGS_DIR, 'trials', file);
    copyFileSync(src, join(trialsDir, file));
    const trial = JSON.parse(readFileSync(src, 'utf8')) as { id: string };
    for (let i = 1; i < copies; i++) {
      writeFileSync(join(trialsDir, `${basename(file, '.json')}-copy${i}.json`), JSON.stringify({ ...trial, id: `${trial.id}-copy${i}` }));
    }
  }
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}
