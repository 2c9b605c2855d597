import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLINICAL_TYPES } from '../patient/patient-record.js';
import { ndjsonLines } from './ndjson.js';

/** One patient's resources as NDJSON lines (the Patient among them when the export holds it). */
export interface PatientLines {
  patientId: string;
  lines: string[];
  /**
   * Set instead of `lines` (then empty) when the patient's NDJSON is over GroupOptions.maxPatientBytes: the
   * lines were counted and measured in the bucket file and never decoded (src/population/screen-patients.ts).
   */
  tooLarge?: { resources: number; bytes: number };
}

export interface GroupOptions {
  /**
   * Input above this many bytes is partitioned by patient into temporary bucket files of about this size,
   * then grouped one bucket at a time, so memory holds one bucket, never the export. Default 32 MiB.
   */
  bucketBytes?: number;
  /** Where the bucket files go (a fresh directory under it, removed at the end); default the OS temp dir. */
  tmpDir?: string;
  /**
   * A patient whose lines hold more UTF-8 bytes than this comes without them (PatientLines.tooLarge): a record
   * no screening thread could hold is not decoded onto the main thread's heap either. Default: no limit.
   */
  maxPatientBytes?: number;
}

export interface GroupCounts {
  /** Lines read from the files. */
  lines: number;
  /** Lines that are not JSON or not a resource: read as nothing, counted as faults. */
  unreadable: number;
  /** Resources of types the criteria never read (Encounter, Claim…) or with no patient: not screened. */
  skipped: number;
}

/** The resource types kept for a patient: what the record index reads (src/patient/patient-record.ts), the Patient, and Medication. */
const READ_TYPES: ReadonlySet<string> = new Set<string>(['Patient', 'Medication', ...CLINICAL_TYPES]);

/** A resource line as FHIR servers write it: resourceType first, then id (HAPI, Synthea, the Bulk Data reference server). */
const HEAD = /^\{\s*"resourceType"\s*:\s*"([A-Za-z]+)"\s*(?:,\s*"id"\s*:\s*"([A-Za-z0-9\-.]{1,64})")?/;
/**
 * The patient a resource belongs to, by the reference element FHIR R4's Patient compartment names for the
 * clinical types (subject; Immunization.patient; Coverage.beneficiary), relative or absolute. Only read from
 * the raw line when nothing is contained (a contained resource could carry its own subject); else parsed.
 */
const OWNER = /"(?:subject|patient|beneficiary)"\s*:\s*\{[^{}]*?"reference"\s*:\s*"([^"\\]*)"/;
const PATIENT_REF = /(?:^|\/)Patient\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/[^/]+)?$/;

type LineOwner =
  | { kind: 'patient'; patientId: string }
  | { kind: 'medication'; ref: string }
  | { kind: 'skip' }
  | { kind: 'unreadable' };

/** The patient a reference names, or undefined. */
export function patientIdOfReference(ref: unknown): string | undefined {
  return typeof ref === 'string' ? PATIENT_REF.exec(ref)?.[1] : undefined;
}

/** The patient (by the FHIR id) a parsed resource belongs to: itself for a Patient, else its compartment reference. */
export function ownerOfResource(r: Record<string, unknown>): string | undefined {
  if (r.resourceType === 'Patient') return typeof r.id === 'string' ? r.id : undefined;
  for (const key of ['subject', 'patient', 'beneficiary']) {
    const ref = (r[key] as { reference?: unknown } | undefined)?.reference;
    if (ref !== undefined) return patientIdOfReference(ref);
  }
  return undefined;
}

/**
 * Whose a line is, read from the raw text when the line is written as servers write it (the cost of a full
 * JSON.parse per line would be paid twice: the worker parses each line again), else by parsing it.
 */
export function ownerOfLine(line: string): LineOwner {
  const head = HEAD.exec(line);
  if (head && !line.includes('"contained"')) {
    const type = head[1]!;
    if (!READ_TYPES.has(type)) return { kind: 'skip' };
    if (type === 'Patient' && head[2]) return { kind: 'patient', patientId: head[2] };
    if (type === 'Medication' && head[2]) return { kind: 'medication', ref: `Medication/${head[2]}` };
    if (type !== 'Patient' && type !== 'Medication') {
      const ref = OWNER.exec(line)?.[1];
      const id = ref === undefined ? undefined : patientIdOfReference(ref);
      if (id) return { kind: 'patient', patientId: id };
    }
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(line);
  } catch {
    return { kind: 'unreadable' };
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return { kind: 'unreadable' };
  const r = parsed as Record<string, unknown>;
  if (typeof r.resourceType !== 'string') return { kind: 'unreadable' };
  if (!READ_TYPES.has(r.resourceType)) return { kind: 'skip' };
  if (r.resourceType === 'Medication') return typeof r.id === 'string' ? { kind: 'medication', ref: `Medication/${r.id}` } : { kind: 'skip' };
  const owner = ownerOfResource(r);
  return owner ? { kind: 'patient', patientId: owner } : { kind: 'skip' };
}

/** FNV-1a (32 bit) of a patient id: spreads ids over buckets the same way in every run. */
function bucketOf(id: string, buckets: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < id.length; i++) {
    h ^= id.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0) % buckets;
}

const MEDICATION_REF = /"reference"\s*:\s*"(?:[^"\\]*\/)?(Medication\/[A-Za-z0-9\-.]{1,64})"/g;

/**
 * Medication resources are shared, not in a patient's compartment (FHIR R4 Medication has no subject): a
 * patient's group gets those its records reference (medicationReference "Medication/x"), as the hook's
 * `_include=MedicationRequest:medication` brings them.
 */
function withMedications(lines: string[], medications: ReadonlyMap<string, string>): string[] {
  if (medications.size === 0) return lines;
  let added: Set<string> | undefined;
  for (const line of lines) {
    if (!line.includes('Medication/')) continue;
    for (const m of line.matchAll(MEDICATION_REF)) {
      const med = medications.get(m[1]!);
      if (med) (added ??= new Set()).add(med);
    }
  }
  return added ? [...lines, ...added] : lines;
}

/** One output buffer per bucket, written when it holds 256 KiB (a hundred buckets buffer 25 MiB at most). */
class BucketWriter {
  private readonly fds: number[];
  private readonly pending: string[][];
  private readonly sizes: number[];
  constructor(readonly paths: readonly string[]) {
    this.fds = paths.map((p) => openSync(p, 'w'));
    this.pending = paths.map(() => []);
    this.sizes = paths.map(() => 0);
  }
  add(bucket: number, text: string): void {
    this.pending[bucket]!.push(text);
    this.sizes[bucket]! += text.length;
    if (this.sizes[bucket]! > 256 * 1024) this.flush(bucket);
  }
  private flush(bucket: number): void {
    writeSync(this.fds[bucket]!, this.pending[bucket]!.join(''));
    this.pending[bucket] = [];
    this.sizes[bucket] = 0;
  }
  close(): void {
    for (let b = 0; b < this.fds.length; b++) {
      if (this.sizes[b]! > 0) this.flush(b);
      closeSync(this.fds[b]!);
    }
  }
}

/**
 * The resources of NDJSON files (any mix of types, as a Bulk Data export gives them: one file per type,
 * a patient's resources spread over all of them) grouped by patient. Small input is grouped in memory; a
 * larger one is first partitioned by a hash of the patient id into bucket files on disk, then grouped bucket
 * by bucket, so memory holds about `bucketBytes` of text at a time whatever the export's size.
 */
export async function* groupByPatient(files: readonly string[], counts: GroupCounts, options: GroupOptions = {}): AsyncGenerator<PatientLines> {
  const bucketBytes = options.bucketBytes ?? 32 * 1024 * 1024;
  const total = files.reduce((n, f) => n + statSync(f).size, 0);
  const buckets = Math.max(1, Math.ceil(total / bucketBytes));
  const medications = new Map<string, string>();
  // No patient's lines can be over the limit when all the files together are not: then nothing is measured.
  const maxBytes = options.maxPatientBytes !== undefined && options.maxPatientBytes < total ? options.maxPatientBytes : Infinity;
  if (buckets === 1) {
    const groups = new Map<string, string[]>();
    for (const file of files) {
      for await (const line of ndjsonLines(file)) {
        const owner = route(line, counts, medications);
        if (owner === undefined) continue;
        const list = groups.get(owner);
        if (list) list.push(line);
        else groups.set(owner, [line]);
      }
    }
    for (const [patientId, lines] of groups) {
      const bytes = maxBytes === Infinity ? 0 : lines.reduce((n, line) => n + Buffer.byteLength(line), 0);
      yield bytes > maxBytes ? { patientId, lines: [], tooLarge: { resources: lines.length, bytes } } : { patientId, lines: withMedications(lines, medications) };
    }
    return;
  }
  const dir = mkdtempSync(join(options.tmpDir ?? tmpdir(), 'trialmatch-screen-'));
  try {
    const writer = new BucketWriter(Array.from({ length: buckets }, (_, b) => join(dir, `bucket-${b}.tsv`)));
    try {
      for (const file of files) {
        for await (const line of ndjsonLines(file)) {
          const owner = route(line, counts, medications);
          // A patient id has no tab (FHIR R4 id: [A-Za-z0-9\-.]) and a JSON line has no raw tab or newline.
          if (owner !== undefined) writer.add(bucketOf(owner, buckets), `${owner}\t${line}\n`);
        }
      }
    } finally {
      writer.close();
    }
    for (const path of writer.paths) {
      // The bucket read as bytes, off the JS heap, and each patient's lines decoded only when the patient is
      // yielded: held as strings, a bucket's 32 MiB of text was live on the main thread's heap through the whole
      // screening, which V8 lets grow to about four times what is live (issue #19: peak RSS under 1 GiB).
      const bytes = readFileSync(path);
      rmSync(path, { force: true });
      // patient → the byte offsets (start, end, start, end…) of its lines in the bucket.
      const groups = new Map<string, number[]>();
      for (let start = 0; start < bytes.length; ) {
        let end = bytes.indexOf(0x0a, start);
        if (end === -1) end = bytes.length;
        // Rows as BucketWriter writes them: the patient id, a tab, the line.
        const tab = bytes.indexOf(0x09, start);
        if (tab !== -1 && tab < end) {
          const owner = bytes.toString('utf8', start, tab);
          const offsets = groups.get(owner);
          if (offsets) offsets.push(tab + 1, end);
          else groups.set(owner, [tab + 1, end]);
        }
        start = end + 1;
      }
      for (const [patientId, offsets] of groups) {
        let size = 0;
        for (let i = 0; i < offsets.length; i += 2) size += offsets[i + 1]! - offsets[i]!;
        if (size > maxBytes) {
          yield { patientId, lines: [], tooLarge: { resources: offsets.length / 2, bytes: size } };
          continue;
        }
        const lines: string[] = [];
        for (let i = 0; i < offsets.length; i += 2) lines.push(bytes.toString('utf8', offsets[i], offsets[i + 1]));
        yield { patientId, lines: withMedications(lines, medications) };
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The patient a line goes to, or undefined (counted) when it goes to none; Medication lines are kept aside. */
function route(line: string, counts: GroupCounts, medications: Map<string, string>): string | undefined {
  counts.lines++;
  const owner = ownerOfLine(line);
  switch (owner.kind) {
    case 'patient':
      return owner.patientId;
    case 'medication':
      medications.set(owner.ref, line);
      return undefined;
    case 'skip':
      counts.skipped++;
      return undefined;
    case 'unreadable':
      counts.unreadable++;
      return undefined;
  }
}
