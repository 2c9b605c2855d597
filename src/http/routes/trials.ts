import { randomUUID } from 'node:crypto';
import type { Bundle } from '@medplum/fhirtypes';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { evaluateBundle, handlePatientView } from '../../cds/handle-patient-view.js';
import type { HookRequest } from '../../cds/hook-request.js';
import { patientIdSchema } from '../../fhir/fhir-id.js';
import { badRequest, notFound } from '../../fhir/outcomes.js';
import { NO_FHIR_SERVERS } from '../../security/fhir-server-allowlist.js';
import { summaryJson } from '../../cds/feedback.js';
import { auditEventFor } from '../audit-event.js';
import { withAvailability } from '../../trials/site-info.js';

const bundleSchema = z
  .object({ resourceType: z.literal('Bundle', { message: 'the body must be a FHIR Bundle' }), entry: z.array(z.unknown()).optional() })
  .loose();

const evaluateQuery = z.object({
  /** Evaluation time (ISO date or date-time); defaults to now. */
  at: z.string().optional(),
});

const fromServerBody = z.object({
  fhirServer: z.url({ protocol: /^https?$/, message: 'fhirServer must be an http(s) URL' }),
  patientId: patientIdSchema,
  /** A bearer token for the FHIR server, passed on as the hook's fhirAuthorization. */
  accessToken: z.string().min(1).optional(),
});

/** The trial list and the evaluation as JSON, for integrators and the demo page. */
export const trialsRoutes: FastifyPluginAsyncZod = async (app) => {
  app.get('/trials', async () => {
    const availability = await app.siteInfo.availability(app.clock());
    return {
    trials: app.engine.mappings.trials.map((t) => ({
      id: t.id,
      ...(t.nctId ? { nctId: t.nctId } : {}),
      title: t.title,
      shortTitle: t.shortTitle,
      phase: t.phase,
      studyType: t.studyType,
      registry: t.registry,
      // Issue #19 item 3: registry and site status, the study contact, and why no card when not recruiting.
      availability: availability.get(t.id),
      inclusionCriteria: t.criteria.filter((c) => c.type === 'inclusion').length,
      exclusionCriteria: t.criteria.filter((c) => c.type === 'exclusion').length,
    })),
    };
  });

  app.post('/trials/$evaluate', { schema: { body: bundleSchema, querystring: evaluateQuery } }, async (request) => {
    const at = request.query.at;
    const now = at ? new Date(at) : app.clock();
    if (Number.isNaN(now.getTime())) throw badRequest(`"at" is not a date: ${at}`, ['at']);
    const { evaluations, faults, patientId } = evaluateBundle(request.body as unknown as Bundle, app.engine, now);
    request.logLine = { message: 'bundle evaluated', fields: { trials: evaluations.length, faults } };
    await app.state.audit.record(auditEventFor(request, new Date(), 'evaluate', { patientId }));
    // Every trial is evaluated, ineligible and not recruiting alike; each carries its availability (issue #19 item 3).
    const availability = await app.siteInfo.availability(now);
    return { ...(patientId ? { patient: `Patient/${patientId}` } : {}), evaluatedAt: now.toISOString(), trials: withAvailability(evaluations, availability) };
  });

  // The criteria behind a patient-view call that fetches from the FHIR server (no prefetch), so the demo
  // page can show what the production path read; the same code as the hook, through handlePatientView.
  app.post('/trials/$evaluate-from-server', { schema: { body: fromServerBody } }, async (request) => {
    const { fhirServer, patientId, accessToken } = request.body;
    const service = app.services.find((s) => s.hook === 'patient-view');
    if (!service) throw notFound('no patient-view service is configured');
    const hook: HookRequest = { hook: 'patient-view', hookInstance: randomUUID(), fhirServer, context: { patientId } };
    if (accessToken) {
      hook.fhirAuthorization = { access_token: accessToken, token_type: 'Bearer', expires_in: 300, scope: 'patient/*.read', subject: 'trialmatch-cds-demo' };
    }
    const now = app.clock();
    // The same FHIR server policy as the hook route: only servers this caller may name are fetched.
    const fhirServers = request.client?.fhirServers ?? NO_FHIR_SERVERS;
    const availability = await app.siteInfo.availability(now);
    const { evaluations, faults, provenance } = await handlePatientView(service, hook, app.engine, now, { fhirServers }, availability, 'full');
    await app.state.audit.record(auditEventFor(request, new Date(), 'evaluate', { patientId, fhirServer }));
    request.logLine = { message: 'server patient evaluated', fields: { trials: evaluations.length, faults, sources: provenance.map((p) => `${p.key}:${p.origin}:${p.count}`) } };
    return { patient: `Patient/${patientId}`, evaluatedAt: now.toISOString(), trials: withAvailability(evaluations, availability) };
  });

  app.get('/trials/:trialId/feedback', { schema: { params: z.object({ trialId: z.string() }) } }, async (request) => {
    if (!app.engine.mappings.trials.some((t) => t.id === request.params.trialId)) throw notFound(`no trial "${request.params.trialId}"`);
    // Issue #20 item 4: the caller's own counts only ('anonymous' when AUTH_MODE=off).
    return summaryJson(await app.state.feedback.summary(request.params.trialId, request.client?.issuer ?? 'anonymous'));
  });
};
