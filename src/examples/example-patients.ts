import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Bundle, Resource } from '@medplum/fhirtypes';
import { z } from 'zod';
import { PROJECT_ROOT } from '../paths.js';

const indexSchema = z.object({
  anchorDate: z.iso.date(),
  patients: z.array(z.object({ id: z.string(), name: z.string(), summary: z.string(), file: z.string() })),
});

export interface ExamplePatient {
  id: string;
  name: string;
  summary: string;
  bundle: Bundle;
}

export interface ExampleSet {
  anchorDate: Date;
  patients: ExamplePatient[];
}

/** The example patients shipped in cds-hooks/examples/, written against a fixed anchor date. */
export function loadExamples(dir: string): ExampleSet {
  const index = indexSchema.parse(JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8')));
  return {
    anchorDate: new Date(`${index.anchorDate}T00:00:00Z`),
    patients: index.patients.map((p) => ({ id: p.id, name: p.name, summary: p.summary, bundle: JSON.parse(readFileSync(join(dir, p.file), 'utf8')) as Bundle })),
  };
}

const FHIR_DATE = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})?)?$/;

/**
 * Moves every full date in a resource by the same number of days, so an example written against its
 * anchor date reads the same "N days ago" today. Ages, windows and intervals are all preserved.
 */
export function shiftDates<T>(value: T, days: number): T {
  if (days === 0) return value;
  const shift = (v: unknown): unknown => {
    if (typeof v === 'string' && FHIR_DATE.test(v)) {
      const d = new Date(v.length === 10 ? `${v}T00:00:00Z` : v);
      const moved = new Date(d.getTime() + days * 86_400_000).toISOString();
      return v.length === 10 ? moved.slice(0, 10) : `${moved.slice(0, 19)}Z`;
    }
    if (Array.isArray(v)) return v.map(shift);
    if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, shift(x)]));
    return v;
  };
  return shift(value) as T;
}

/** Whole days from the anchor to now, so shifted examples land on today's date. */
export function daysSinceAnchor(anchor: Date, now: Date): number {
  return Math.floor((now.getTime() - anchor.getTime()) / 86_400_000);
}

/** Splits one patient's Bundle into the service's prefetch keys, as an EHR that fills prefetch would. */
export function prefetchFromBundle(bundle: Bundle): Record<string, Resource | Bundle | null> {
  const resources = (bundle.entry ?? []).map((e) => e.resource).filter((r): r is Resource => r !== undefined);
  // Medication resources the records point to (medicationReference) come with each medication search, as a
  // server answering `_include=<type>:medication` sends them (search mode "include", not counted in total).
  const medications = resources.filter((r) => r.resourceType === 'Medication');
  const search = (type: string): Bundle => ({
    resourceType: 'Bundle',
    type: 'searchset',
    total: resources.filter((r) => r.resourceType === type).length,
    entry: [
      ...resources.filter((r) => r.resourceType === type).map((resource) => ({ resource, search: { mode: 'match' as const } })),
      ...(type.startsWith('Medication') ? medications.map((resource) => ({ resource, search: { mode: 'include' as const } })) : []),
    ],
  });
  // The keys and their resource types come from the service descriptor, so a key added there is filled here.
  const out: Record<string, Resource | Bundle | null> = {};
  for (const [key, template] of Object.entries(DESCRIPTOR_PREFETCH)) {
    const type = template.split(/[/?]/)[0]!;
    out[key] = template.startsWith(`${type}/`) ? (resources.find((r) => r.resourceType === type) ?? null) : search(type);
  }
  return out;
}

/** The prefetch templates of cds-hooks/services.json (one service), read once. */
const DESCRIPTOR_PREFETCH: Readonly<Record<string, string>> = (
  z.object({ services: z.array(z.object({ prefetch: z.record(z.string(), z.string()) })).min(1) }).parse(
    JSON.parse(readFileSync(join(PROJECT_ROOT, 'cds-hooks', 'services.json'), 'utf8')),
  ).services[0]!
).prefetch;

/** A patient-view request for an example, with its data (dates moved by `days`) as prefetch. */
export function exampleHookRequest(example: ExamplePatient, days: number): Record<string, unknown> {
  return {
    hook: 'patient-view',
    hookInstance: randomUUID(),
    context: { userId: 'Practitioner/example', patientId: example.id },
    prefetch: prefetchFromBundle(shiftDates(example.bundle, days)),
  };
}
