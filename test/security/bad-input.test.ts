import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { FastifyInstance } from 'fastify';
import type { Resource } from '@medplum/fhirtypes';
import { EXTENSION_KEY } from '../../src/cds/render-cards.js';
import { exampleBundle, testApp } from '../support/app.js';
import { expectValidCard } from '../support/card-rules.js';
import { hookRequest, patientIdOf, prefetchFor } from '../support/hook-request.js';

/**
 * Bad input, tried systematically (issue #6): fast-check generates malformed and hostile hook requests and
 * FHIR resources. Whatever arrives, the service answers 400 (or another 4xx with an OperationOutcome) or 200
 * with valid cards, never a 5xx, never a crash, and the next good request still gets the right cards.
 */
const SERVICE = '/cds-services/trialmatch-sle';
const GOOD = exampleBundle('sle-child-likely');
const PATIENT = patientIdOf(GOOD);
const RUNS = Number(process.env.BAD_INPUT_RUNS ?? 300);
let generated = 0;
/** How often a good request checks that nothing was poisoned (every Nth generated input). */
const GOOD_EVERY = Number(process.env.BAD_INPUT_GOOD_EVERY ?? 25);

const clone = <T>(v: T): T => structuredClone(v);

/** Deeply nested objects and arrays (bounded so the request stays under the body limit). */
const deep = (depth: number): unknown => {
  let v: unknown = { leaf: 'x' };
  for (let i = 0; i < depth; i++) v = i % 2 ? [v] : { nested: v };
  return v;
};

/** Values that do not belong where they are put. */
const hostile: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom(null, true, false, 0, -1, 1e308, -1e308, 5e-324, Number.MAX_SAFE_INTEGER + 2, 'NaN', 'Infinity', '-Infinity', '', ' ', '11.2', '1e999', '0x1F', '{}', '[]', 'null', 'undefined'),
  fc.constantFrom('9999-12-31', '2999-01-01T00:00:00Z', '0000-00-00', '2026-13-45', '2026-02-30', 'yesterday', '-271821-04-20', '+275760-09-13T00:00:00.000Z', '2026', '2026-11'),
  fc.constantFrom('__proto__', 'constructor', 'toString', '\u0000', '\ud800', '‮RTL', '<script>alert(1)</script>', '../../etc/passwd', 'Patient/../../x', 'http://169.254.169.254/'),
  fc.double(),
  fc.integer(),
  fc.string({ maxLength: 40 }),
  fc.string({ unit: 'binary', maxLength: 20 }),
  fc.array(fc.oneof(fc.string({ maxLength: 5 }), fc.integer(), fc.constant(null)), { maxLength: 5 }),
  fc.dictionary(fc.string({ maxLength: 6 }), fc.oneof(fc.string({ maxLength: 6 }), fc.integer(), fc.constant(null)), { maxKeys: 4 }),
  fc.integer({ min: 50, max: 400 }).map(deep),
);

/** Where in a FHIR resource the hostile value goes: the fields the engine reads, and some it does not. */
const RESOURCE_PATHS = [
  ['resourceType'], ['id'], ['meta'], ['status'], ['subject'], ['subject', 'reference'], ['patient', 'reference'], ['code'], ['code', 'coding'],
  ['code', 'coding', 0], ['code', 'coding', 0, 'system'], ['code', 'coding', 0, 'code'], ['code', 'text'], ['valueQuantity'], ['valueQuantity', 'value'],
  ['valueQuantity', 'unit'], ['valueQuantity', 'code'], ['valueQuantity', 'system'], ['valueQuantity', 'comparator'], ['valueString'], ['valueCodeableConcept'],
  ['valueCodeableConcept', 'coding', 0, 'code'], ['valueInteger'], ['valueBoolean'], ['valueRange'], ['valueRatio'], ['interpretation'], ['referenceRange'],
  ['component'], ['effectiveDateTime'], ['effectivePeriod'], ['effectivePeriod', 'start'], ['issued'], ['onsetDateTime'], ['recordedDate'],
  ['abatementDateTime'], ['clinicalStatus'], ['clinicalStatus', 'coding', 0, 'code'], ['verificationStatus'], ['category'], ['medicationCodeableConcept'],
  ['medicationCodeableConcept', 'coding', 0, 'code'], ['medicationReference'], ['dosage'], ['birthDate'], ['gender'], ['deceasedBoolean'],
  ['deceasedDateTime'], ['extension'], ['contained'], ['performedDateTime'], ['occurrenceDateTime'], ['authoredOn'], ['dataAbsentReason'],
] as const;

function setPath(target: Record<string, unknown>, path: readonly (string | number)[], value: unknown): void {
  let cur: any = target;
  for (const [i, k] of path.slice(0, -1).entries()) {
    if (cur[k] === null || typeof cur[k] !== 'object') cur[k] = typeof path[i + 1] === 'number' ? [] : {};
    cur = cur[k];
  }
  cur[path[path.length - 1] as string | number] = value;
}

type Mutation =
  | { kind: 'set'; resource: number; path: readonly (string | number)[]; value: unknown }
  | { kind: 'delete'; resource: number; path: readonly (string | number)[] }
  | { kind: 'duplicate-id'; resource: number; value: unknown }
  | { kind: 'wrong-type'; resource: number; type: string }
  | { kind: 'flood'; resource: number; copies: number }
  | { kind: 'raw-entry'; value: unknown };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('set' as const), resource: fc.nat(), path: fc.constantFrom(...RESOURCE_PATHS), value: hostile }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('delete' as const), resource: fc.nat(), path: fc.constantFrom(...RESOURCE_PATHS) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('duplicate-id' as const), resource: fc.nat(), value: hostile }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('wrong-type' as const), resource: fc.nat(), type: fc.constantFrom('Patient', 'Bundle', 'OperationOutcome', 'Encounter', 'Observation', 'Condition', 'Binary', '') }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('flood' as const), resource: fc.nat(), copies: fc.integer({ min: 100, max: 3000 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('raw-entry' as const), value: hostile }) },
);

/** The example's resources with the mutations applied, as a prefetch. */
function mutatedPrefetch(mutations: Mutation[]): Record<string, unknown> {
  const bundle = clone(GOOD);
  const entries = bundle.entry ?? [];
  for (const m of mutations) {
    const entry = entries[m.kind === 'raw-entry' ? 0 : m.resource % entries.length];
    const r = entry?.resource as unknown as Record<string, unknown> | undefined;
    if (!r) continue;
    switch (m.kind) {
      case 'set':
        setPath(r, m.path, clone(m.value));
        break;
      case 'delete': {
        let cur: any = r;
        for (const k of m.path.slice(0, -1)) cur = cur?.[k];
        if (cur && typeof cur === 'object') delete cur[m.path[m.path.length - 1] as string | number];
        break;
      }
      case 'duplicate-id':
        entries.push({ resource: { ...clone(r), valueQuantity: { value: m.value, unit: 'g/dL' } } as unknown as Resource });
        break;
      case 'wrong-type':
        r.resourceType = m.type;
        break;
      case 'flood':
        for (let i = 0; i < m.copies; i++) entries.push({ resource: clone(r) as unknown as Resource });
        break;
      case 'raw-entry':
        entries.push(m.value as never);
        break;
    }
  }
  // Each key gets the entries of its type; everything else (wrong types, raw entries) rides in observations.
  const typeOf = (e: unknown) => (e as { resource?: { resourceType?: unknown } } | null)?.resource?.resourceType;
  const searchset = (list: unknown[]) => ({ resourceType: 'Bundle', type: 'searchset', entry: list });
  const keyed = ['Patient', 'Condition', 'MedicationStatement'];
  return {
    patient: (entries.find((e) => typeOf(e) === 'Patient')?.resource) ?? null,
    conditions: searchset(entries.filter((e) => typeOf(e) === 'Condition')),
    observations: searchset(entries.filter((e) => !keyed.includes(typeOf(e) as string))),
    medicationStatements: searchset(entries.filter((e) => typeOf(e) === 'MedicationStatement')),
    medicationRequests: searchset([]),
    procedures: null,
    immunizations: null,
  };
}

/** Hostile changes to the hook request itself. */
const requestMutation: fc.Arbitrary<[readonly (string | number)[], unknown]> = fc.tuple(
  fc.constantFrom<readonly (string | number)[]>(
    ['hook'], ['hookInstance'], ['fhirServer'], ['fhirAuthorization'], ['fhirAuthorization', 'access_token'], ['fhirAuthorization', 'expires_in'],
    ['context'], ['context', 'patientId'], ['context', 'userId'], ['context', 'encounterId'], ['prefetch'], ['prefetch', 'patient'],
    ['prefetch', 'observations'], ['prefetch', 'conditions'], ['prefetch', 'observations', 'entry'], ['prefetch', 'observations', 'resourceType'],
    ['prefetch', 'patient', 'resourceType'], ['prefetch', 'patient', 'id'], ['prefetch', 'patient', 'birthDate'], ['extension'], ['__proto__'], ['constructor'],
  ),
  hostile,
);

/** The last generated input, named when a good request after it fails (state leaking between requests). */
let lastInput = '';

async function expectSane(app: FastifyInstance, payload: unknown): Promise<{ status: number; body: any }> {
  generated++;
  const text = JSON.stringify(payload) ?? '';
  lastInput = (JSON.stringify(payload, (_k, v: unknown) => (typeof v === 'string' && v.length > 200 ? `${v.slice(0, 200)}…` : v)) ?? String(payload)).slice(0, 4000);
  const res = await app.inject({ method: 'POST', url: SERVICE, headers: { 'content-type': 'application/json' }, payload: text });
  expect(res.statusCode, res.body.slice(0, 500)).toBeLessThan(500);
  expect([200, 400, 403, 412, 413]).toContain(res.statusCode);
  const body = res.json();
  if (res.statusCode === 200) {
    expect(Array.isArray(body.cards)).toBe(true);
    for (const card of body.cards) expectValidCard(card);
  } else {
    expect(body.resourceType).toBe('OperationOutcome');
    expect(body.issue[0].diagnostics.length).toBeGreaterThan(0);
  }
  return { status: res.statusCode, body };
}

async function expectGoodStillWorks(app: FastifyInstance): Promise<void> {
  const fresh = exampleBundle('sle-child-likely');
  const res = await app.inject({ method: 'POST', url: SERVICE, payload: hookRequest(PATIENT, { prefetch: prefetchFor(fresh) }) });
  expect(res.statusCode, `after ${lastInput}`).toBe(200);
  expect(res.json().cards, `after ${lastInput}`).toHaveLength(3);
}

describe('bad input, generated', () => {
  let app: FastifyInstance;
  beforeAll(async () => {
    app = testApp();
    await app.ready();
  });
  afterAll(async () => {
    await expectGoodStillWorks(app);
    await app.close();
    console.info(`bad-input: ${generated} generated hostile requests tried`);
  });

  it('answers hostile FHIR resources in prefetch with 200 and valid cards or a 4xx, never a 5xx', { timeout: 180_000 }, async () => {
    let i = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(mutation, { minLength: 1, maxLength: 6 }), async (mutations) => {
        await expectSane(app, hookRequest(PATIENT, { prefetch: mutatedPrefetch(mutations) }));
        if (++i % GOOD_EVERY === 0) await expectGoodStillWorks(app);
      }),
      { numRuns: RUNS },
    );
  });

  it('answers malformed hook requests with 400 (or another 4xx), never a 5xx', { timeout: 180_000 }, async () => {
    let i = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(requestMutation, { minLength: 1, maxLength: 4 }), async (changes) => {
        const request = clone(hookRequest(PATIENT, { prefetch: prefetchFor(GOOD) }));
        for (const [path, value] of changes) setPath(request, path, clone(value));
        await expectSane(app, request);
        if (++i % GOOD_EVERY === 0) await expectGoodStillWorks(app);
      }),
      { numRuns: RUNS },
    );
  });

  it('answers arbitrary JSON bodies with a 4xx', { timeout: 180_000 }, async () => {
    await fc.assert(
      fc.asyncProperty(fc.oneof(fc.jsonValue({ maxDepth: 6 }), fc.anything({ maxDepth: 4, withNullPrototype: true, withBigInt: false, withDate: true, withMap: false, withSet: false, withTypedArray: false, withSparseArray: true })), async (value) => {
        const { status } = await expectSane(app, value);
        expect(status).toBeGreaterThanOrEqual(400);
      }),
      { numRuns: RUNS },
    );
  });

  it('reads a hemoglobin it cannot interpret as unknown, never as met or not met', { timeout: 180_000 }, async () => {
    const badQuantity = fc.oneof(
      fc.record({ value: fc.oneof(fc.constantFrom('NaN', '11.2', 'Infinity', '', null, true), fc.string({ maxLength: 8 }), fc.constant({ value: 11.2 }), fc.constant([11.2])), unit: fc.constant('g/dL'), system: fc.constant('http://unitsofmeasure.org'), code: fc.constant('g/dL') }),
      fc.record({ value: fc.double({ min: 1, max: 1000, noNaN: true }), unit: fc.constantFrom('furlong', '%', 'kg', 'mL', 's', 'bananas', '{beats}/min'), code: fc.constantFrom('furlong', '%', 'kg', 'mL', 's', 'bananas', '{beats}/min'), system: fc.constant('http://unitsofmeasure.org') }),
      fc.record({ value: fc.double({ min: 1, max: 1000, noNaN: true }) }, { requiredKeys: [] }),
    );
    await fc.assert(
      fc.asyncProperty(badQuantity, async (valueQuantity) => {
        const bundle = clone(GOOD);
        const hb = bundle.entry!.map((e) => e.resource as any).find((r) => r.code?.coding?.[0]?.code === '718-7');
        hb.valueQuantity = valueQuantity;
        const { status, body } = await expectSane(app, hookRequest(PATIENT, { prefetch: prefetchFor(bundle) }));
        expect(status).toBe(200);
        const blina = body.cards.find((c: any) => c.source.topic.code === 'nct06789107-blinatumomab');
        expect(blina, 'the blinatumomab card stays (possibly eligible)').toBeDefined();
        const inc7 = blina.extension[EXTENSION_KEY].criteria.find((c: any) => c.id === 'inc-7');
        expect(inc7.result).toBe('unknown');
        expect(blina.extension[EXTENSION_KEY].status).toBe('possibly-eligible');
      }),
      { numRuns: Math.ceil(RUNS / 3) },
    );
  });
});
