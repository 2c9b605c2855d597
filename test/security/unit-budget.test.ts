import type { Bundle, Observation } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { exampleBundle, testApp } from '../support/app.js';
import { hookRequest, patientIdOf, prefetchFor } from '../support/hook-request.js';
import { MAX_UNIT_CONVERSIONS_PER_REQUEST } from '../../src/engine/units.js';

/**
 * Issue #20 item 3: unit conversions are bounded per request, not only per string. 22,000 results, each with a
 * different short UCUM unit ("2.g/dL", "3.g/dL", ...: a factor times g/dL, each a unit ucum-lhc parses anew)
 * blocked the event loop for 3 to 8 s by prefetch. Past the request's budget a value is unknown, with a reason
 * that says so (never not met). On main every one of them was parsed and read.
 */
const RESULTS = 22_000;

/**
 * The example child's record with `RESULTS` more quantitative anti-dsDNA and HBsAg results taken the same day
 * (criteria read every one of them: "any" and "ever"), each in its own unit and with its reference range in
 * [IU]/mL, so each result is one more unit conversion.
 */
function manyUnitsBundle(distinct = true): Bundle {
  const bundle = exampleBundle('sle-child-likely');
  const patient = { reference: `Patient/${patientIdOf(bundle)}` };
  const tests = [
    { code: '5130-0', value: 210, high: 30 },
    { code: '5196-1', value: 0.01, high: 0.05 },
  ];
  const extra: Observation[] = [];
  for (let i = 0; i < RESULTS; i++) {
    const t = tests[i % tests.length]!;
    const factor = i + 2;
    const unit = distinct ? `${factor}.[IU]/mL` : '[IU]/mL';
    extra.push({
      resourceType: 'Observation',
      id: `many-units-${i}`,
      status: 'final',
      code: { coding: [{ system: 'http://loinc.org', code: t.code }] },
      subject: patient,
      effectiveDateTime: '2026-11-13T08:00:00Z',
      valueQuantity: { value: distinct ? t.value / factor : t.value, unit, system: 'http://unitsofmeasure.org', code: unit },
      referenceRange: [{ high: { value: t.high, unit: '[IU]/mL', system: 'http://unitsofmeasure.org', code: '[IU]/mL' } }],
    });
  }
  return { ...bundle, entry: [...(bundle.entry ?? []), ...extra.map((resource) => ({ fullUrl: `urn:uuid:${resource.id}`, resource }))] };
}

interface Part { outcome?: string; reason?: string; parts?: Part[] }
interface Criterion { id: string; result: string; parts?: Part[]; reason?: string; evidence: { note?: string }[] }

/** Every reason the trace gives, at any depth. */
function reasons(value: unknown, out: string[] = []): string[] {
  if (Array.isArray(value)) for (const v of value) reasons(v, out);
  else if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      if (typeof v === 'string' && (k === 'reason' || k === 'note' || k === 'detail')) out.push(v);
      else reasons(v, out);
    }
  }
  return out;
}

describe('unit conversions per request (issue #20 item 3)', () => {
  let app: FastifyInstance;
  beforeAll(async () => {
    app = testApp({}, { BODY_LIMIT_BYTES: String(32 * 1024 * 1024) });
    await app.ready();
  });
  afterAll(async () => app.close());

  it(`answers ${RESULTS.toLocaleString('en')} results in as many units quickly, the values past the budget unknown with the reason`, async () => {
    const hook = async (b: Bundle): Promise<number> => {
      const payload = JSON.stringify(hookRequest(patientIdOf(b), { prefetch: prefetchFor(b) }));
      const started = performance.now();
      const res = await app.inject({ method: 'POST', url: '/cds-services/trialmatch-sle', payload, headers: { 'content-type': 'application/json' } });
      expect(res.statusCode, res.body.slice(0, 300)).toBe(200);
      return performance.now() - started;
    };
    // The same record with one unit for all: what reading and evaluating 22,000 results costs on this machine now.
    const sameUnit = await hook(manyUnitsBundle(false));
    const bundle = manyUnitsBundle();
    const took = await hook(bundle);
    // Measured alone: 2.6 s either way with the budget; 7.4 s against 2.5 s on main (22,000 UCUM parses on top).
    expect(took, `${took.toFixed(0)} ms in 22,000 units, ${sameUnit.toFixed(0)} ms in one`).toBeLessThan(1.6 * sameUnit + 1000);

    const evaluated = await app.inject({ method: 'POST', url: '/trials/$evaluate', payload: JSON.stringify(bundle), headers: { 'content-type': 'application/json' } });
    expect(evaluated.statusCode).toBe(200);
    const trials = evaluated.json<{ trials: { trialId: string; criteria: Criterion[] }[] }>().trials;
    const said = reasons(trials);
    expect(said.some((r) => r.includes(`unit budget (${MAX_UNIT_CONVERSIONS_PER_REQUEST} distinct unit conversions) was used up`))).toBe(true);
    // Unknown, never not met, for a reason of the budget.
    for (const t of trials) {
      for (const c of t.criteria) {
        if (c.result === 'not-met' && reasons(c).every((r) => r.includes('unit budget'))) throw new Error(`${t.trialId} ${c.id} is not met only for the unit budget`);
      }
    }
    // Three hooks of 22,000 results each (2.6 s apiece alone): the unit project's 20 s bound is too tight on a
    // shared machine (21.5 s at load average 20). The speed asserted is the ratio above, not this bound.
  }, 90_000);
});
