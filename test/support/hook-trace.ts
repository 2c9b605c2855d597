import type { FastifyInstance } from 'fastify';
import { expect } from 'vitest';
import { handlePatientView, type PatientViewResult } from '../../src/cds/handle-patient-view.js';
import { hookRequestSchema } from '../../src/cds/hook-request.js';
import { EXTENSION_KEY } from '../../src/cds/render-cards.js';
import type { TrialEvaluation } from '../../src/engine/types.js';

/** The route has already applied the caller's FHIR server policy to the same request. */
const ROUTE_CHECKED = { allows: (): boolean => true };

/**
 * The full trace behind a hook call: the same request through handlePatientView, the one function the route
 * calls, with the app's own engine and clock. Cards carry results without evidence (issue #11); the
 * evidence, missing data and reasons a test checks come from here, as the app and `$evaluate` show them.
 */
export async function hookTrace(app: FastifyInstance, payload: Record<string, unknown>): Promise<PatientViewResult> {
  const service = app.services.find((s) => s.hook === 'patient-view');
  if (!service) throw new Error('no patient-view service');
  // 'full': the route asks 'decision' (an ineligible trial stops at its first blocking criterion), which gives
  // the same statuses and the same traces for the trials that get a card; tests read every trial's trace here.
  return handlePatientView(service, hookRequestSchema.parse(payload), app.engine, app.clock(), { fhirServers: ROUTE_CHECKED }, undefined, 'full');
}

/** Each card's trial trace, after checking that the card's compact results agree with it criterion by criterion. */
export function tracesOfCards(cards: readonly { extension: Record<string, any> }[], evaluations: readonly TrialEvaluation[]): TrialEvaluation[] {
  return cards.map((card) => {
    const ext = card.extension[EXTENSION_KEY];
    const trace = evaluations.find((e) => e.trialId === ext.trialId);
    if (!trace) throw new Error(`no trace for ${ext.trialId}`);
    expect(ext.status).toBe(trace.status);
    // The extension carries each criterion's result and, where the record holds one, its facts' words (issue 18 item 4).
    expect(ext.criteria).toEqual(
      trace.criteria.map((c) => ({ id: c.id, result: c.result, ...(c.review ? { review: true } : {}), ...(c.facts?.length ? { facts: c.facts.map((f) => f.text) } : {}) })),
    );
    return trace;
  });
}
