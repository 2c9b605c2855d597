/**
 * Prototype keys in the hook's patient data (issue #21 item 5): the hook route parses its JSON without
 * secure-json-parse's second scan of the whole body, and the sanitiser that visits every key of the patient
 * data refuses `__proto__` and `constructor.prototype` there (400), as the parser did before. Nothing is
 * polluted, and the rest of the request is rebuilt by zod, which skips `__proto__`.
 */
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exampleBundle, testApp } from '../support/app.js';
import { hookRequest, patientIdOf, prefetchFor } from '../support/hook-request.js';

const SERVICE = '/cds-services/trialmatch-sle';
const BUNDLE = exampleBundle('sle-child-likely');
const PATIENT = patientIdOf(BUNDLE);

/** The hook's JSON with `inject` written into the first Observation of the prefetch, as raw text. */
function withKey(inject: string): string {
  const text = JSON.stringify(hookRequest(PATIENT, { prefetch: prefetchFor(BUNDLE) }));
  const at = text.indexOf('{"resourceType":"Observation"') + 1;
  return `${text.slice(0, at)}${inject},${text.slice(at)}`;
}

describe('prototype keys in the patient data', () => {
  let app: FastifyInstance;
  beforeAll(async () => {
    app = testApp();
    await app.ready();
  });
  afterAll(() => app.close());

  const post = (payload: string): Promise<LightMyRequestResponse> => app.inject({ method: 'POST', url: SERVICE, headers: { 'content-type': 'application/json' }, payload });

  for (const [name, inject] of [
    ['__proto__', '"__proto__":{"polluted":"yes"}'],
    ['constructor.prototype', '"constructor":{"prototype":{"polluted":"yes"}}'],
    ['__proto__ deep in a coding', '"bodySite":{"coding":[{"__proto__":{"polluted":"yes"},"system":"http://snomed.info/sct","code":"368208006"}]}'],
  ] as const) {
    it(`refuses ${name} in a prefetch resource with a 400 OperationOutcome, and pollutes nothing`, async () => {
      const res = await post(withKey(inject));
      expect(res.statusCode, res.body).toBe(400);
      expect(res.json()).toMatchObject({ resourceType: 'OperationOutcome', issue: [{ diagnostics: expect.stringMatching(/__proto__/), expression: ['prefetch'] }] });
      expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    });
  }

  it('ignores __proto__ outside the patient data (zod rebuilds the request without it) and answers', async () => {
    const text = JSON.stringify(hookRequest(PATIENT, { prefetch: prefetchFor(BUNDLE) }));
    const res = await post(`{"__proto__":{"polluted":"yes"},${text.slice(1)}`);
    expect(res.statusCode, res.body).toBe(200);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});
