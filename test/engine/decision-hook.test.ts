import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { handlePatientView } from '../../src/cds/handle-patient-view.js';
import { hookRequestSchema } from '../../src/cds/hook-request.js';
import type { EvaluationDetail } from '../../src/engine/types.js';
import { exampleBundle, exampleIds, syntheaBundles, testApp } from '../support/app.js';
import { hookRequest, patientIdOf, prefetchFor } from '../support/hook-request.js';

/**
 * The hook evaluates with detail 'decision' (issue #21 item 5): a trial that ends ineligible stops at its first
 * blocking criterion, since it gives no card. The cards must be exactly those of the full trace, for every
 * example patient and Synthea record, through the route as an EHR calls it.
 */

const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g;

/** Cards with their fresh ids (card uuid, draft order ids) made equal. */
function withoutIds(cards: unknown): unknown {
  return JSON.parse(JSON.stringify(cards).replace(UUID, '(id)'));
}

describe("the hook with detail 'decision'", () => {
  let app: FastifyInstance;
  beforeAll(async () => {
    app = testApp();
    await app.ready();
  });
  afterAll(() => app.close());

  it('gives the cards and statuses of the full trace', async () => {
    const service = app.services.find((s) => s.hook === 'patient-view')!;
    const patients = [...exampleIds().map((id) => exampleBundle(id)), ...syntheaBundles().map((s) => s.bundle)];
    let stopped = 0;
    for (const bundle of patients) {
      const payload = hookRequest(patientIdOf(bundle), { prefetch: prefetchFor(bundle) });
      const availability = await app.siteInfo.availability(app.clock());
      const run = (detail: EvaluationDetail): ReturnType<typeof handlePatientView> =>
        handlePatientView(service, hookRequestSchema.parse(payload), app.engine, app.clock(), { fhirServers: { allows: () => true } }, availability, detail);
      const full = await run('full');
      const decision = await run('decision');
      const at = patientIdOf(bundle);
      expect(decision.evaluations.map((e) => e.status), at).toEqual(full.evaluations.map((e) => e.status));
      expect(withoutIds(decision.cards), at).toEqual(withoutIds(full.cards));
      stopped += decision.evaluations.filter((e) => e.notEvaluated).length;
      // The route is the 'decision' path: the same cards reach the EHR.
      const res = await app.inject({ method: 'POST', url: '/cds-services/trialmatch-sle', payload });
      expect(res.statusCode).toBe(200);
      expect(withoutIds(res.json<{ cards: unknown[] }>().cards), at).toEqual(withoutIds(full.cards));
    }
    expect(stopped).toBeGreaterThan(10);
  }, 120_000);
});
