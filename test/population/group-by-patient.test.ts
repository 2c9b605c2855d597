import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { groupByPatient, type GroupCounts, type PatientLines } from '../../src/population/group-by-patient.js';

const dir = mkdtempSync(join(tmpdir(), 'trialmatch-group-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function grouped(files: string[], bucketBytes?: number, maxPatientBytes?: number): Promise<{ patients: PatientLines[]; counts: GroupCounts }> {
  const counts: GroupCounts = { lines: 0, unreadable: 0, skipped: 0 };
  const patients: PatientLines[] = [];
  for await (const p of groupByPatient(files, counts, { ...(bucketBytes ? { bucketBytes } : {}), ...(maxPatientBytes ? { maxPatientBytes } : {}), tmpDir: dir })) patients.push(p);
  patients.sort((a, b) => a.patientId.localeCompare(b.patientId));
  return { patients, counts };
}

describe('grouping an export by patient', () => {
  it('gives each patient the same lines, byte for byte, through bucket files as in memory: multi-byte text, CRLF files, shared Medications', async () => {
    const patients = Array.from({ length: 300 }, (_, i) => `p-${i}`);
    const patientLines = patients.map((id, i) => JSON.stringify({ resourceType: 'Patient', id, name: [{ family: i % 3 === 0 ? 'Łukasiewicz-Ñúñez 日本' : `Family${i}` }] }));
    const observations = patients.flatMap((id, i) =>
      Array.from({ length: 1 + (i % 4) }, (_, k) => JSON.stringify({ resourceType: 'Observation', id: `o-${i}-${k}`, status: 'final', subject: { reference: `Patient/${id}` }, valueString: `${'x'.repeat(k * 50)}µ` })),
    );
    const requests = patients.map((id, i) => JSON.stringify({ resourceType: 'MedicationRequest', id: `mr-${i}`, subject: { reference: `Patient/${id}` }, medicationReference: { reference: `Medication/m-${i % 5}` } }));
    const medications = Array.from({ length: 5 }, (_, m) => JSON.stringify({ resourceType: 'Medication', id: `m-${m}`, code: { text: `médicament ${m}` } }));
    const files = [
      ['Patient.ndjson', patientLines, '\r\n'],
      ['Observation.ndjson', observations, '\n'],
      ['MedicationRequest.ndjson', requests, '\n'],
      ['Medication.ndjson', medications, '\r\n'],
      ['Encounter.ndjson', [JSON.stringify({ resourceType: 'Encounter', id: 'e-1', subject: { reference: 'Patient/p-1' } })], '\n'],
    ].map(([name, lines, eol]) => {
      const file = join(dir, name as string);
      writeFileSync(file, (lines as string[]).map((l) => `${l}${eol as string}`).join(''));
      return file;
    });
    const inMemory = await grouped(files);
    // Buckets of 4 KiB: dozens of bucket files, each read back as bytes.
    const bucketed = await grouped(files, 4 * 1024);
    expect(bucketed).toEqual(inMemory);
    expect(inMemory.patients).toHaveLength(300);
    const p0 = inMemory.patients.find((p) => p.patientId === 'p-0')!;
    expect(p0.lines).toContain(patientLines[0]);
    expect(p0.lines).toContain(medications[0]);
    expect(inMemory.counts).toEqual({ lines: patientLines.length + observations.length + requests.length + medications.length + 1, unreadable: 0, skipped: 1 });
  });

  it('gives a patient over maxPatientBytes without its lines, measured but never decoded, through bucket files as in memory', async () => {
    const line = (id: string, i: number, size: number): string => JSON.stringify({ resourceType: 'Observation', id: `o-${id}-${i}`, subject: { reference: `Patient/${id}` }, valueString: 'é'.repeat(size) });
    const small = ['a', 'b', 'c'].flatMap((id) => [JSON.stringify({ resourceType: 'Patient', id }), line(id, 0, 100)]);
    // 3 lines of 40,000 'é' (2 bytes each in UTF-8): about 240 KB, over the limit of 200,000 bytes.
    const giant = [JSON.stringify({ resourceType: 'Patient', id: 'giant' }), ...[0, 1, 2].map((i) => line('giant', i, 40_000))];
    const file = join(dir, 'giant.ndjson');
    writeFileSync(file, [...small, ...giant].map((l) => `${l}\n`).join(''));
    const bytes = giant.reduce((n, l) => n + Buffer.byteLength(l), 0);
    for (const bucketBytes of [undefined, 16 * 1024]) {
      const { patients } = await grouped([file], bucketBytes, 200_000);
      expect(patients.map((p) => p.patientId)).toEqual(['a', 'b', 'c', 'giant']);
      expect(patients[3]).toEqual({ patientId: 'giant', lines: [], tooLarge: { resources: 4, bytes } });
      for (const p of patients.slice(0, 3)) expect(p.lines).toHaveLength(2);
    }
  });
});
