/**
 * `npm run terminology:expand`: builds the committed expansion of every code list
 * (fhir-mappings/expansions/<id>.json, an R4 ValueSet with compose and expansion) from the authoring files
 * (fhir-mappings/valuesets/) and the public descendant tables (fhir-mappings/terminology-sources/).
 * `--check` writes nothing and exits 1 when a committed expansion is stale. The service loads the
 * expansions at start (src/mappings/load-mappings.ts).
 */
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ValueSet } from '@medplum/fhirtypes';
import { expandValueSet, parseDescendantTable, type DescendantTable } from '../src/terminology/expand.js';
import { toFhirValueSet } from '../src/terminology/fhir-value-set.js';
import { valueSetSchema } from '../src/terminology/value-set-input.js';

export const MAPPINGS_DIR = fileURLToPath(new URL('../fhir-mappings', import.meta.url));

export function readDescendantTables(dir: string): DescendantTable[] {
  const folder = join(dir, 'terminology-sources');
  if (!existsSync(folder)) return [];
  return readdirSync(folder)
    .filter((f) => f.endsWith('.tsv'))
    .sort()
    .map((f) => parseDescendantTable(`terminology-sources/${f}`, readFileSync(join(folder, f), 'utf8')));
}

/** The committed expansion file's text for an expansion (2-space JSON, one trailing newline). */
export function expansionText(vs: ValueSet): string {
  return `${JSON.stringify(vs, null, 2)}\n`;
}

/** Reads an expansion file, if any. */
function readCommitted(file: string): ValueSet | undefined {
  return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as ValueSet) : undefined;
}

/**
 * Every list's expansion as the files should hold it. The timestamp of an unchanged expansion is kept, so
 * running the command twice changes nothing; a changed one is stamped `now`.
 */
export function expectedExpansions(dir: string, now: string): Map<string, { file: string; text: string }> {
  const tables = readDescendantTables(dir);
  const out = new Map<string, { file: string; text: string }>();
  const folder = join(dir, 'valuesets');
  for (const name of readdirSync(folder).filter((f) => f.endsWith('.json')).sort()) {
    const input = valueSetSchema.parse(JSON.parse(readFileSync(join(folder, name), 'utf8')));
    const file = join(dir, 'expansions', `${input.id}.json`);
    const committed = readCommitted(file);
    const definition = toFhirValueSet(input);
    const stamped = expandValueSet(definition, tables, committed?.expansion?.timestamp ?? now);
    const fresh = committed && expansionText(committed) === expansionText(stamped) ? stamped : expandValueSet(definition, tables, now);
    out.set(input.id, { file, text: expansionText(fresh) });
  }
  for (const t of tables) {
    const used = [...out.values()].some((e) => e.text.includes(`"${t.file}"`));
    if (!used) throw new Error(`${t.file} is read by no hierarchy rule`);
  }
  return out;
}

function main(): void {
  const check = process.argv.includes('--check');
  const expected = expectedExpansions(MAPPINGS_DIR, new Date().toISOString());
  const folder = join(MAPPINGS_DIR, 'expansions');
  const stale: string[] = [];
  for (const { file, text } of expected.values()) {
    if (existsSync(file) && readFileSync(file, 'utf8') === text) continue;
    stale.push(file);
    if (!check) {
      mkdirSync(folder, { recursive: true });
      writeFileSync(file, text);
    }
  }
  const extra = existsSync(folder) ? readdirSync(folder).filter((f) => f.endsWith('.json') && !expected.has(f.slice(0, -5))) : [];
  for (const f of extra) {
    stale.push(join(folder, f));
    if (!check) rmSync(join(folder, f));
  }
  const verb = check ? 'stale' : 'written';
  console.log(`${expected.size} value sets; ${stale.length} ${verb}${stale.length > 0 ? `: ${stale.map((f) => f.slice(MAPPINGS_DIR.length + 1)).join(', ')}` : ''}`);
  if (check && stale.length > 0) process.exitCode = 1;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) main();
