import { writeFileSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Bundle, Resource } from '@medplum/fhirtypes';
import { PatientBuilder } from './fhir-builders.js';

/**
 * What the test-record scripts share (build-core-test-records.ts, build-results-test-records.ts): each record
 * is the likely-eligible example child (cds-hooks/examples/sle-child-likely.json) with one thing changed, as
 * an EHR would record it, written to test/clinical/records/<id>.json.
 */

const ROOT = resolve(import.meta.dirname, '..');
const exampleBundle = (id: string): Bundle => JSON.parse(readFileSync(resolve(ROOT, 'cds-hooks', 'examples', `${id}.json`), 'utf8')) as Bundle;
const valueSet = (vs: string): { codes: { system: string; code: string; display: string; exclude?: boolean }[] } =>
  JSON.parse(readFileSync(resolve(ROOT, 'fhir-mappings', 'valuesets', `${vs}.json`), 'utf8'));

export const codesOf = (vs: string): Set<string> => new Set(valueSet(vs).codes.map((c) => c.code));
export function first(vs: string): { system: string; code: string; display: string } {
  const c = valueSet(vs).codes.find((x) => !x.exclude);
  if (!c) throw new Error(`${vs} has no code`);
  return c;
}

export function derive(id: string, edit: (resources: Resource[], b: PatientBuilder) => Resource[]): void {
  const base = exampleBundle('sle-child-likely');
  const text = JSON.stringify(base).replaceAll('sle-child-likely', id);
  const bundle = JSON.parse(text) as Bundle;
  const resources = (bundle.entry ?? []).flatMap((e) => (e.resource ? [e.resource] : []));
  // New resources are built for a stand-in patient, then pointed at the record's own patient.
  const b = new PatientBuilder(`${id}-x`, {});
  const out = edit(resources, b);
  for (const e of b.bundle().entry ?? []) {
    if (!e.resource || e.resource.resourceType === 'Patient') continue;
    out.push(JSON.parse(JSON.stringify(e.resource).replaceAll(`Patient/${id}-x`, `Patient/${id}`)) as Resource);
  }
  const result: Bundle = { resourceType: 'Bundle', type: 'collection', entry: out.map((resource) => ({ fullUrl: `urn:uuid:${resource.resourceType}-${resource.id}`, resource })) };
  writeFileSync(resolve(ROOT, 'test', 'clinical', 'records', `${id}.json`), JSON.stringify(result, null, 1) + '\n');
}
