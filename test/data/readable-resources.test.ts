import { describe, expect, it } from 'vitest';
import type { Observation, Resource } from '@medplum/fhirtypes';
import { gatherPatientData } from '../../src/data/gather-patient-data.js';
import { PrefetchSource } from '../../src/data/prefetch-source.js';
import type { PrefetchKey } from '../../src/data/prefetch-key.js';
import { OperationOutcomeError } from '../../src/fhir/outcomes.js';
import { statusOf } from '../../src/http/error-handler.js';

const KEYS: PrefetchKey[] = [{ key: 'observations', resourceType: 'Observation', template: 'Observation?patient={{context.patientId}}' }];

/** The Observations as the engine sees them after gathering (malformed fields removed). */
async function readable(...observations: unknown[]): Promise<Observation[]> {
  const bundle = { resourceType: 'Bundle', type: 'searchset', entry: observations.map((resource) => ({ resource })) };
  const { record } = await gatherPatientData(KEYS, [new PrefetchSource({ observations: bundle })], 'p1');
  return [...new Set([...record.byCode.values()].flat())] as Observation[];
}

const obs = (extra: Record<string, unknown>): Record<string, unknown> => ({
  resourceType: 'Observation',
  id: 'o1',
  status: 'final',
  subject: { reference: 'Patient/p1' },
  code: { coding: [{ system: 'http://loinc.org', code: '718-7' }] },
  ...extra,
});

describe('malformed FHIR made readable before use', () => {
  it('removes blank strings, whatever the whitespace, and keeps strings that only start with a space', async () => {
    const [o] = await readable(obs({ effectiveDateTime: '   ', issued: '\u3000\t', valueString: ' 12 g/dL', note: [{ text: '' }, { text: ' a' }] }));
    expect(o).toBeDefined();
    expect(o!.effectiveDateTime).toBeUndefined();
    expect(o!.issued).toBeUndefined();
    expect(o!.valueString).toBe(' 12 g/dL');
    expect(o!.note).toEqual([{}, { text: ' a' }]);
  });

  it('removes a concept that is not an object, but keeps a Coding or Quantity code string', async () => {
    const [o] = await readable(
      obs({ valueCodeableConcept: 7, valueQuantity: { value: 1, code: 'g/L' }, interpretation: [{ coding: [{ code: 'H' }] }] }),
    );
    expect(o!.valueCodeableConcept).toBeUndefined();
    expect(o!.valueQuantity).toEqual({ value: 1, code: 'g/L' });
    expect(o!.interpretation).toEqual([{ coding: [{ code: 'H' }] }]);
  });

  it('removes contained that is not a list, and codings that are not objects', async () => {
    const [o] = await readable(obs({ contained: 'x', code: { coding: [null, 'x', { system: 'http://loinc.org', code: '718-7' }] } }));
    expect((o as Resource & { contained?: unknown }).contained).toBeUndefined();
    expect(o!.code.coding).toEqual([{ system: 'http://loinc.org', code: '718-7' }]);
  });

  it('refuses data nested deeper than any real resource with a 400, and accepts real depth', async () => {
    const nest = (depth: number): unknown => (depth === 0 ? 'leaf' : { extension: [nest(depth - 1)] });
    await expect(readable(obs({ extension: [nest(20)] }))).resolves.toHaveLength(1);
    const refused = await readable(obs({ extension: [nest(60)] })).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(OperationOutcomeError);
    const { outcome } = refused as OperationOutcomeError;
    expect(outcome.issue?.[0]).toMatchObject({ code: 'invalid', expression: ['prefetch'] });
    expect(statusOf(outcome)).toBe(400);
  });
});
