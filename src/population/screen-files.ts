import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import type { Resource } from '@medplum/fhirtypes';
import { screenPatients, type PatientResources, type ScreenOptions, type ScreenSummary, type Sink } from './screen-patients.js';

/*
 * A MINIMAL stand-in written by "bulk" (population contract, issue #19): "screen" owns this file, and its
 * version (bucketed on disk, under a memory bound) replaces this one at merge. This one streams each file
 * line by line but holds the grouped patients in memory, which is fine for a test cohort only.
 */

/** The patient a resource belongs to: the Patient itself, or its subject / patient / beneficiary reference. */
export function patientOf(r: Resource): string | undefined {
  if (r.resourceType === 'Patient') return r.id;
  const rec = r as unknown as Record<string, { reference?: string } | undefined>;
  const ref = rec.subject?.reference ?? rec.patient?.reference ?? rec.beneficiary?.reference;
  const m = typeof ref === 'string' ? /(?:^|\/)Patient\/([A-Za-z0-9\-.]{1,64})$/.exec(ref) : null;
  return m?.[1];
}

export async function screenNdjsonFiles(files: readonly string[], options: ScreenOptions, sink: Sink): Promise<ScreenSummary> {
  const byPatient = new Map<string, Resource[]>();
  let unplaced = 0;
  for (const file of files) {
    const lines = createInterface({ input: createReadStream(file, 'utf8'), crlfDelay: Infinity });
    for await (const line of lines) {
      if (line.trim() === '') continue;
      let r: Resource;
      try {
        r = JSON.parse(line) as Resource;
      } catch {
        unplaced++;
        continue;
      }
      const id = patientOf(r);
      if (!id) {
        unplaced++;
        continue;
      }
      let list = byPatient.get(id);
      if (!list) byPatient.set(id, (list = []));
      list.push(r);
    }
  }
  async function* patients(): AsyncGenerator<PatientResources> {
    // Only patients whose Patient resource is in the export: a record without it cannot be read for age.
    for (const [patientId, resources] of byPatient) if (resources.some((r) => r.resourceType === 'Patient')) yield { patientId, resources };
  }
  const summary = await screenPatients(patients(), options, sink);
  return { ...summary, faults: summary.faults + unplaced };
}
