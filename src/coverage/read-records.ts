import { createReadStream } from 'node:fs';
import { readFile, readdir, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { createInterface } from 'node:readline';
import type { Resource } from '@medplum/fhirtypes';

/**
 * Reads a site's FHIR records from a folder (or one file): `.json` files holding a Bundle or one resource, and
 * `.ndjson` files (a Bulk Data export) read line by line, never whole. Within a file, and across NDJSON files,
 * Medications come first so the records that reference them can be read with them. A line or file that is not
 * FHIR JSON is counted and skipped: the tally reads what it can and says what it could not.
 */
export interface ReadResult {
  files: number;
  skipped: { file: string; reason: string }[];
}

export async function readRecords(path: string, onResource: (r: Resource) => void): Promise<ReadResult> {
  const files = await listFiles(path);
  const result: ReadResult = { files: files.length, skipped: [] };
  for (const file of files) {
    try {
      if (file.endsWith('.ndjson')) await readNdjson(file, onResource, result);
      else for (const r of medicationsFirst(resourcesOf(JSON.parse(await readFile(file, 'utf8'))))) onResource(r);
    } catch (err) {
      result.skipped.push({ file, reason: (err as Error).message.slice(0, 200) });
    }
  }
  return result;
}

async function listFiles(path: string): Promise<string[]> {
  if (!(await stat(path)).isDirectory()) return [path];
  const out: string[] = [];
  for (const entry of (await readdir(path, { withFileTypes: true })).sort((a, b) => a.name.localeCompare(b.name))) {
    const full = join(path, entry.name);
    if (entry.isDirectory()) out.push(...(await listFiles(full)));
    else if (/\.(nd)?json$/.test(entry.name)) out.push(full);
  }
  // Medication.ndjson before the records that reference it (Bulk Data writes one file per type).
  return out.sort((a, b) => Number(!isMedicationFile(a)) - Number(!isMedicationFile(b)));
}

function isMedicationFile(file: string): boolean {
  return /^Medication(\.|-\d|_)/.test(basename(file));
}

async function readNdjson(file: string, onResource: (r: Resource) => void, result: ReadResult): Promise<void> {
  const lines = createInterface({ input: createReadStream(file, 'utf8'), crlfDelay: Infinity });
  let n = 0;
  for await (const line of lines) {
    n++;
    if (line.trim() === '') continue;
    try {
      for (const r of resourcesOf(JSON.parse(line))) onResource(r);
    } catch (err) {
      result.skipped.push({ file: `${file}:${n}`, reason: (err as Error).message.slice(0, 200) });
    }
  }
}

function resourcesOf(json: unknown): Resource[] {
  if (!json || typeof json !== 'object' || typeof (json as { resourceType?: unknown }).resourceType !== 'string') {
    throw new Error('not a FHIR resource (no resourceType)');
  }
  const r = json as Resource;
  if (r.resourceType !== 'Bundle') return [r];
  return (r.entry ?? []).flatMap((e) => (e.resource ? resourcesOf(e.resource) : []));
}

function medicationsFirst(resources: Resource[]): Resource[] {
  return [...resources.filter((r) => r.resourceType === 'Medication'), ...resources.filter((r) => r.resourceType !== 'Medication')];
}
