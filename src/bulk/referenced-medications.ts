import { createReadStream, createWriteStream } from 'node:fs';
import { rename } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { finished } from 'node:stream/promises';
import type { Medication } from '@medplum/fhirtypes';
import type { BulkClient } from './bulk-client.js';

/**
 * A Patient-level export holds the patient compartment, and Medication is not in it (FHIR R4 CompartmentDefinition
 * patient; HAPI refuses `_type=Medication` there, HAPI-0512). A medication record that names its drug by
 * `medicationReference: {reference: "Medication/x"}` would then reach the engine without its code, where the
 * hook reads it through `_include`. So the Medications the exported records reference are read from the server
 * by id and put inside each record that references them, as a contained resource (`#x`, FHIR R4 §References to
 * contained resources), which the record builder reads (src/patient/patient-record.ts referencedMedication).
 * A Medication the server does not give stays a plain reference: the engine then reads its display, or nothing
 * (unknown, never a guess).
 */
const MEDICATION_TYPES = new Set(['MedicationRequest', 'MedicationStatement', 'MedicationAdministration', 'MedicationDispense']);
const REFERENCE = /^(?:.*\/)?Medication\/([A-Za-z0-9\-.]{1,64})$/;
const IDS_PER_SEARCH = 50;

interface MedicationRecordLine {
  resourceType: string;
  medicationReference?: { reference?: string; display?: string };
  contained?: unknown[];
}

function referencedId(r: MedicationRecordLine): string | undefined {
  const ref = r.medicationReference?.reference;
  return typeof ref === 'string' ? REFERENCE.exec(ref)?.[1] : undefined;
}

async function* records(file: string): AsyncGenerator<{ line: string; record?: MedicationRecordLine }> {
  for await (const line of createInterface({ input: createReadStream(file, 'utf8'), crlfDelay: Infinity })) {
    if (!line.includes('"medicationReference"')) {
      yield { line };
      continue;
    }
    try {
      yield { line, record: JSON.parse(line) as MedicationRecordLine };
    } catch {
      yield { line };
    }
  }
}

/** Inlines the referenced Medications into the medication files among `files` (type from `types`, same order). */
export async function inlineReferencedMedications(files: readonly { path: string; type: string }[], client: BulkClient): Promise<{ referenced: number; found: number }> {
  const medicationFiles = files.filter((f) => MEDICATION_TYPES.has(f.type));
  const ids = new Set<string>();
  for (const f of medicationFiles) for await (const { record } of records(f.path)) if (record && MEDICATION_TYPES.has(record.resourceType)) ids.add(referencedId(record) ?? '');
  ids.delete('');
  if (ids.size === 0) return { referenced: 0, found: 0 };
  const found = new Map<string, Medication>();
  const all = [...ids];
  for (let i = 0; i < all.length; i += IDS_PER_SEARCH) {
    const part = all.slice(i, i + IDS_PER_SEARCH);
    // A search the server refuses leaves those references as they are (read as their display, or unknown).
    const got = await client.searchByIds<Medication>('Medication', part).catch(() => []);
    for (const m of got) if (m.resourceType === 'Medication' && m.id && ids.has(m.id)) found.set(m.id, m);
  }
  if (found.size === 0) return { referenced: ids.size, found: 0 };
  for (const f of medicationFiles) {
    const out = createWriteStream(`${f.path}.tmp`);
    for await (const { line, record } of records(f.path)) {
      const id = record ? referencedId(record) : undefined;
      const medication = id ? found.get(id) : undefined;
      let text = line;
      if (record && medication && id) {
        const contained = Array.isArray(record.contained) ? record.contained : [];
        const inUse = contained.some((c) => (c as { id?: unknown }).id === id);
        if (!inUse) text = JSON.stringify({ ...record, contained: [...contained, medication], medicationReference: { ...record.medicationReference, reference: `#${id}` } });
      }
      if (!out.write(`${text}\n`)) await new Promise<void>((r) => out.once('drain', () => r()));
    }
    out.end();
    await finished(out);
    await rename(`${f.path}.tmp`, f.path);
  }
  return { referenced: ids.size, found: found.size };
}
