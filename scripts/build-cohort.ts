/**
 * A population for the screening benchmark (issue #19): at least 100,000 patients as NDJSON split by
 * resource type, as a FHIR Bulk Data 2.0 `Patient/$export` gives them, built from the Synthea records in
 * ../shared/data/synthea/ and the project's example patients (so some are lupus candidates), each copy with
 * its own identity (ids, name) and its dates moved by its own number of days. Deterministic: the same seed
 * gives the same files.
 *
 * The export asks only what the trials read (`_type`: the Patient, the record types the criteria read and the
 * Medication they reference) and filters Observation (and Procedure and Immunization when a token search can
 * express their lists) by the codes the criteria read (`_typeFilter`, the same codes the hook's prefetch asks:
 * src/cds/service-definition.ts), so the cohort is what such an export holds, not Synthea's whole record.
 *
 *   npx tsx scripts/build-cohort.ts [--patients 100000] [--seed 19] [--out DIR] [--changed 0.01]
 *
 * --changed F also writes DIR/changed/: the full records of a fraction F of the patients with one result
 * added (what an incremental job reads for the patients whose data changed since the last export).
 */
import { closeSync, mkdirSync, openSync, readFileSync, readdirSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Bundle, Coding, Resource } from '@medplum/fhirtypes';
import type { MappingSet } from '../src/mappings/compiled.js';
import { loadMappings } from '../src/mappings/load-mappings.js';
import { exportRequest, passesCodeFilter } from '../src/bulk/export-request.js';
import { CLINICAL_TYPES } from '../src/patient/patient-record.js';

const ROOT = resolve(import.meta.dirname, '..');
export const SYNTHEA_DIR = resolve(ROOT, '..', 'shared', 'data', 'synthea');
export const EXAMPLES_DIR = join(ROOT, 'cds-hooks', 'examples');
/** The examples are written against this date; the cohort is screened at it. */
export const COHORT_NOW = new Date('2026-11-23T09:00:00Z');

function codingsOf(r: Resource): Coding[] {
  const concept = (r as { code?: { coding?: Coding[] }; vaccineCode?: { coding?: Coding[] } }).code ?? (r as { vaccineCode?: { coding?: Coding[] } }).vaccineCode;
  return Array.isArray(concept?.coding) ? concept.coding : [];
}

/** A copy of a value with every `reference` the map names replaced. */
function withReferences(v: unknown, map: ReadonlyMap<string, string>): unknown {
  if (Array.isArray(v)) return v.map((x) => withReferences(x, map));
  if (!v || typeof v !== 'object') return v;
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) out[k] = k === 'reference' && typeof x === 'string' ? (map.get(x) ?? x) : withReferences(x, map);
  return out;
}

/** Every type a patient record is built from, and the Medications it references. */
const RECORD_TYPES: readonly string[] = ['Patient', ...CLINICAL_TYPES, 'Medication'];

/**
 * One patient's Bundle (a Synthea transaction, an example collection) as the resources a Bulk Data export of
 * it holds: only the job's export types and the Medications it reads by reference (src/bulk/export-request.ts),
 * filtered by `filters` (a token search's matching) when given, every reference to a resource of the
 * bundle written as a server writes it (`Patient/<id>`, not Synthea's `urn:uuid:`).
 */
export function exportResources(bundle: Bundle, filters?: ReadonlyMap<string, readonly string[]>, types: readonly string[] = RECORD_TYPES): Resource[] {
  const byUrl = new Map<string, string>();
  for (const e of bundle.entry ?? []) {
    const r = e.resource;
    if (r?.id && e.fullUrl) byUrl.set(e.fullUrl, `${r.resourceType}/${r.id}`);
  }
  const out: Resource[] = [];
  for (const e of bundle.entry ?? []) {
    const r = e.resource;
    if (!r || !types.includes(r.resourceType)) continue;
    const tokens = filters?.get(r.resourceType);
    // Kept as a server's token search keeps it (FHIR R4 §3.1.1.4.9): a bare code in any system, or system|code.
    if (tokens && !passesCodeFilter(tokens, codingsOf(r))) continue;
    out.push(withReferences(r, byUrl) as Resource);
  }
  return out;
}

/** mulberry32: a small seeded generator, so the cohort is the same on every machine. */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const PID = '@@P@@';
const FAMILY = '@@F@@';
const GIVEN = '@@G@@';

/** A base patient as NDJSON line templates: ids and references carry PID, the name FAMILY and GIVEN. */
export interface Template {
  name: string;
  lines: { type: string; text: string }[];
  /** Days the dates may move forward and still lie before COHORT_NOW. */
  maxShiftDays: number;
  candidate: boolean;
}

function template(name: string, resources: readonly Resource[], candidate: boolean): Template {
  const ids = new Map<string, string>();
  resources.forEach((r, k) => ids.set(`${r.resourceType}/${r.id ?? ''}`, r.resourceType === 'Patient' ? `Patient/${PID}` : `${r.resourceType}/${PID}-${k}`));
  let latest = 0;
  const lines = resources.map((r) => {
    const copy = withReferences(r, ids) as Record<string, unknown>;
    copy.id = ids.get(`${r.resourceType}/${r.id ?? ''}`)!.split('/')[1];
    if (r.resourceType === 'Patient') {
      copy.name = [{ use: 'official', family: FAMILY, given: [GIVEN] }];
      copy.identifier = [{ system: 'urn:trialmatch-cds:cohort-mrn', value: PID }];
    }
    const text = JSON.stringify(copy);
    for (const m of text.matchAll(DATE)) latest = Math.max(latest, Date.parse(`${m[1]!}T00:00:00Z`));
    return { type: r.resourceType, text };
  });
  const maxShiftDays = Math.max(0, Math.floor((COHORT_NOW.getTime() - latest) / 86_400_000) - 1);
  return { name, lines, maxShiftDays, candidate };
}

const DATE = /"(\d{4}-\d{2}-\d{2})/g;
const FAMILIES = ['Garcia', 'Smith', 'Nguyen', 'Chen', 'Okafor', 'Müller', 'Rossi', 'Kowalski', 'Haddad', 'Silva', 'Tanaka', 'Johnson', 'Patel', 'Ivanova', 'Dubois', 'Kim'];
const GIVENS = ['Ana', 'Li', 'Maya', 'Omar', 'Sofia', 'Noah', 'Amara', 'Lucas', 'Yuki', 'Elena', 'Ravi', 'Zoe', 'Kwame', 'Ines', 'Leo', 'Mina'];

/** The base patients: every Synthea record and every example patient, as the export would hold them. */
export function cohortTemplates(mappings: MappingSet): Template[] {
  const { types: exported, codeFilters: filters } = exportRequest(mappings);
  // The job adds the Medications the records reference (src/bulk/referenced-medications.ts).
  const types = [...exported, 'Medication'];
  const synthea = readdirSync(SYNTHEA_DIR)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => template(f, exportResources(JSON.parse(readFileSync(join(SYNTHEA_DIR, f), 'utf8')) as Bundle, filters, types), false));
  const index = JSON.parse(readFileSync(join(EXAMPLES_DIR, 'index.json'), 'utf8')) as { patients: { id: string; file: string }[] };
  const examples = index.patients.map((p) => template(p.id, exportResources(JSON.parse(readFileSync(join(EXAMPLES_DIR, p.file), 'utf8')) as Bundle, filters, types), true));
  return [...synthea, ...examples];
}

/** One cohort patient's lines: the template with its id, name and dates (moved by `shift` days). */
export function renderPatient(t: Template, patientId: string, shift: number, family: string, given: string): { type: string; text: string }[] {
  const moved = new Map<string, string>();
  const move = (_m: string, day: string): string => {
    let to = moved.get(day);
    if (to === undefined) {
      to = new Date(Date.parse(`${day}T00:00:00Z`) + shift * 86_400_000).toISOString().slice(0, 10);
      moved.set(day, to);
    }
    return `"${to}`;
  };
  return t.lines.map((l) => {
    let text = l.text.replaceAll(PID, patientId);
    if (l.type === 'Patient') text = text.replace(FAMILY, family).replace(GIVEN, given);
    return { type: l.type, text: shift === 0 ? text : text.replace(DATE, move) };
  });
}

export interface CohortOptions {
  patients: number;
  seed: number;
  out: string;
  /** Fraction of lupus example patients among the cohort (default 0.05). */
  candidates?: number;
  /** Resources per NDJSON file before the next file of the type begins (as servers split large outputs). */
  perFile?: number;
  changed?: number;
}

export interface CohortPatient {
  patientId: string;
  lines: { type: string; text: string }[];
  candidate: boolean;
  /** In the changed set (--changed): the record an incremental job reads again, with one result added. */
  changed?: { type: string; text: string }[];
}

/**
 * The cohort's patients one at a time, from a seeded generator: a fraction `candidates` are copies of the
 * lupus example patients, the rest copies of the Synthea records.
 */
export function* cohortPatients(templates: readonly Template[], options: Pick<CohortOptions, 'patients' | 'seed' | 'candidates' | 'changed'>): Generator<CohortPatient> {
  const synthea = templates.filter((t) => !t.candidate);
  const examples = templates.filter((t) => t.candidate);
  const random = seeded(options.seed);
  for (let i = 0; i < options.patients; i++) {
    const candidate = random() < (options.candidates ?? 0.05);
    const pool = candidate ? examples : synthea;
    const t = pool[Math.floor(random() * pool.length)]!;
    // Examples stay near the date they were written for (their results inside the trials' windows); Synthea
    // records (2019-2020) move forward by up to their distance from today.
    const shift = candidate ? -Math.floor(random() * 45) : Math.floor(random() * (t.maxShiftDays + 1));
    const patientId = `c${options.seed}-${i.toString(36).padStart(5, '0')}`;
    const family = FAMILIES[Math.floor(random() * FAMILIES.length)]!;
    const given = GIVENS[Math.floor(random() * GIVENS.length)]!;
    const lines = renderPatient(t, patientId, shift, family, given);
    const patient: CohortPatient = { patientId, lines, candidate };
    if (options.changed && random() < options.changed) {
      // A new result since the last export: a copy of the patient's latest Observation with a new id.
      const obs = lines.filter((l) => l.type === 'Observation').at(-1);
      patient.changed = obs ? [...lines, { type: 'Observation', text: obs.text.replace(`"id":"${patientId}-`, `"id":"${patientId}-new-`) }] : lines;
    }
    yield patient;
  }
}

/** NDJSON files per type, each split after `perFile` lines as servers split large outputs. */
class ExportWriter {
  readonly files: string[] = [];
  private readonly open = new Map<string, { fd: number; lines: number; part: number; buf: string[]; size: number }>();
  constructor(
    private readonly dir: string,
    private readonly perFile: number,
  ) {
    mkdirSync(dir, { recursive: true });
  }
  write(type: string, text: string): void {
    let w = this.open.get(type);
    if (!w || w.lines >= this.perFile) {
      const part = w ? w.part + 1 : 0;
      if (w) this.closeOne(w);
      const file = join(this.dir, `${type}.${String(part).padStart(3, '0')}.ndjson`);
      this.files.push(file);
      w = { fd: openSync(file, 'w'), lines: 0, part, buf: [], size: 0 };
      this.open.set(type, w);
    }
    w.buf.push(text, '\n');
    w.size += text.length + 1;
    w.lines++;
    if (w.size > 1 << 20) {
      writeSync(w.fd, w.buf.join(''));
      w.buf = [];
      w.size = 0;
    }
  }
  private closeOne(w: { fd: number; buf: string[] }): void {
    if (w.buf.length > 0) writeSync(w.fd, w.buf.join(''));
    closeSync(w.fd);
  }
  close(): void {
    for (const w of this.open.values()) this.closeOne(w);
    this.open.clear();
  }
}

/** Writes the cohort under `out` (and the changed set under out/changed/); returns the files and counts. */
export function buildCohort(mappings: MappingSet, options: CohortOptions): { files: string[]; changedFiles: string[]; patients: number; candidates: number; resources: number; bytes: number } {
  rmSync(options.out, { recursive: true, force: true });
  const all = new ExportWriter(options.out, options.perFile ?? 250_000);
  const changed = new ExportWriter(join(options.out, 'changed'), options.perFile ?? 250_000);
  let resources = 0;
  let bytes = 0;
  let candidates = 0;
  try {
    for (const p of cohortPatients(cohortTemplates(mappings), options)) {
      if (p.candidate) candidates++;
      for (const l of p.lines) {
        all.write(l.type, l.text);
        resources++;
        bytes += l.text.length + 1;
      }
      for (const l of p.changed ?? []) changed.write(l.type, l.text);
    }
  } finally {
    all.close();
    changed.close();
  }
  return { files: all.files, changedFiles: changed.files, patients: options.patients, candidates, resources, bytes };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const args = process.argv.slice(2);
  const opt = (name: string): string | undefined => {
    const i = args.indexOf(`--${name}`);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const mappings = loadMappings({ dir: join(ROOT, 'fhir-mappings') });
  const out = opt('out') ?? join(tmpdir(), 'trialmatch-cohort');
  const started = performance.now();
  const changed = opt('changed');
  const result = buildCohort(mappings, { patients: Number(opt('patients') ?? 100_000), seed: Number(opt('seed') ?? 19), out, ...(changed ? { changed: Number(changed) } : {}) });
  console.log(
    `${result.patients} patients, ${result.resources} resources, ${(result.bytes / 1024 ** 2).toFixed(0)} MiB in ${result.files.length} files under ${out}` +
      `${result.changedFiles.length ? ` (+ ${result.changedFiles.length} changed files)` : ''}, ${((performance.now() - started) / 1000).toFixed(1)} s`,
  );
}
