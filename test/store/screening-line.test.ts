import { describe, expect, it } from 'vitest';
import { readScreeningLine, screeningLine } from '../../src/store/embedded/screening-entries.js';

/**
 * The screening journal's hottest line is read back at start by its own check (readScreeningLine), not by
 * zod: it must accept and refuse exactly what the schema does, or a journal the schema would refuse (a hand
 * edit) is read into the worklist, or a good one is skipped.
 */
const good = {
  t: 'screening',
  trialId: 'nct06934447-bcma-cd70-car-t',
  patientId: 'p-1',
  fhirServer: 'https://ehr.example/fhir',
  jobId: 'job-1',
  status: 'possibly-eligible',
  statusReason: 'judgement-open',
  v: '0123456789abcdef0123456789abcdef',
  lastDataSeen: '2026-11-20',
  dataDigest: 'a'.repeat(64),
  screenedAt: '2026-11-23T09:00:00.000Z',
  isNew: true,
};

const { lastDataSeen: _seen, ...withoutSeen } = good;
const variants: [string, unknown][] = [
  ['a whole line', good],
  ['a line without lastDataSeen', withoutSeen],
  ['not an object', 'screening'],
  ['null', null],
  ['an array', [good]],
  ['another kind', { ...good, t: 'state' }],
  ['an unknown key', { ...good, extra: 1 }],
  ['an unknown key in place of lastDataSeen', { ...withoutSeen, lastSeen: '2026-11-20' }],
  ['lastDataSeen null', { ...good, lastDataSeen: null }],
  ['lastDataSeen empty', { ...good, lastDataSeen: '' }],
  ['lastDataSeen too long', { ...good, lastDataSeen: 'x'.repeat(65) }],
  ['an unknown status', { ...good, status: 'eligible' }],
  ['an unknown reason', { ...good, statusReason: 'because' }],
  ['a digest of upper case', { ...good, v: good.v.toUpperCase() }],
  ['a digest too short', { ...good, v: '0123456789abcde' }],
  ['a digest too long', { ...good, v: 'a'.repeat(65) }],
  ['a digest of 64', { ...good, v: 'a'.repeat(64) }],
  ['isNew as a string', { ...good, isNew: 'true' }],
  ['a number for an id', { ...good, patientId: 17 }],
  ['an empty id', { ...good, patientId: '' }],
  ['an id of 128', { ...good, patientId: 'x'.repeat(128) }],
  ['an id of 129', { ...good, patientId: 'x'.repeat(129) }],
  ['a server of 2048', { ...good, fhirServer: 'x'.repeat(2048) }],
  ['a server of 2049', { ...good, fhirServer: 'x'.repeat(2049) }],
  ['a data digest of 129', { ...good, dataDigest: 'x'.repeat(129) }],
  ['screenedAt of 65', { ...good, screenedAt: 'x'.repeat(65) }],
];
for (const key of Object.keys(good)) {
  const { [key]: _gone, ...missing } = good as Record<string, unknown>;
  variants.push([`a line without ${key}`, missing]);
  variants.push([`${key} as a number`, { ...good, [key]: 1 }]);
}

describe('the screening line check', () => {
  it.each(variants)('answers as the schema does for %s', (_name, value) => {
    // Through JSON, as start-up reads it.
    const raw: unknown = JSON.parse(JSON.stringify(value));
    const schema = screeningLine.safeParse(raw);
    const fast = readScreeningLine(raw);
    expect(fast !== undefined).toBe(schema.success);
    if (schema.success) expect(fast).toEqual(schema.data);
  });

  it('accepts the whole line and refuses a missing key, so the cases above test both ways', () => {
    expect(readScreeningLine(good)).toBeDefined();
    expect(readScreeningLine(withoutSeen)).toBeDefined();
    expect(readScreeningLine({ ...good, isNew: undefined })).toBeUndefined();
  });
});
