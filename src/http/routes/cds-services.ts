import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { feedbackSchema, hookRequestSchema } from '../../cds/hook-request.js';
import { keepUnsuppressedCards, recordFeedback } from '../../cds/feedback.js';
import { handlePatientView } from '../../cds/handle-patient-view.js';
import { renderDiscovery, type ServiceDefinition } from '../../cds/service-definition.js';
import { notFound } from '../../fhir/outcomes.js';
import { NO_FHIR_SERVERS } from '../../security/fhir-server-allowlist.js';
import { auditEventFor } from '../audit-event.js';
import { JSON_BOUNDS, registerBoundedJson } from '../bounded-json.js';

const serviceParams = z.object({ id: z.string() });

/** CDS Hooks 2.0: discovery, the service call, and feedback. Thin: validate, call one function, answer. */
export interface CdsServicesOptions {
  /** Days an honoured override reason hides the trial's card for the patient (SUPPRESSION_DAYS). */
  suppressionDays: number;
}

export const cdsServicesRoutes: FastifyPluginAsyncZod<CdsServicesOptions> = async (app, options) => {
  const discovery = renderDiscovery(app.services);
  const findService = (id: string): ServiceDefinition => {
    const service = app.services.find((s) => s.id === id);
    if (!service) throw notFound(`no CDS service "${id}"; see GET /cds-services`);
    return service;
  };

  // Issue #21 item 5: the hook's JSON is parsed without secure-json-parse's scan for prototype keys (a second
  // walk of the whole body); the patient data is checked by the sanitiser that visits every key anyway
  // (src/data/readable-resource.ts), and zod builds the rest of the request anew, skipping `__proto__`.
  // Scoped to this plugin: every other route keeps the app's parser, which refuses them. The bounds on the body's
  // shape (depth, keys, values: issue #20 item 1) hold here as everywhere.
  registerBoundedJson(app, app.initialConfig.bodyLimit ?? 1024 * 1024 /* fastify's default */, JSON_BOUNDS, 'ignore');

  app.get('/cds-services', async () => discovery);

  app.post('/cds-services/:id', { schema: { params: serviceParams, body: hookRequestSchema } }, async (request) => {
    const service = findService(request.params.id);
    const started = performance.now();
    // The caller's FHIR servers: per issuer, or the unauthenticated allowlist when AUTH_MODE=off; none at all
    // when there is no caller identity (fail closed).
    const fhirServers = request.client?.fhirServers ?? NO_FHIR_SERVERS;
    const now = app.clock();
    const { patientId } = request.body.context;
    let result;
    try {
      // Issue #19 item 3: read per hook from the shared state, so a coordinator's pause holds at once on every replica.
      result = await handlePatientView(service, request.body, app.engine, now, { fhirServers }, await app.siteInfo.availability(now));
    } catch (err) {
      // Issue #20 item 5: reads made from the EHR's FHIR server with its token are audited whatever the hook's
      // outcome (a record too large for the hook answered 413 after its reads and wrote no audit event).
      if (request.body.fhirServer) await app.state.audit.record(auditEventFor(request, new Date(), 'patient-view', { patientId, fhirServer: request.body.fhirServer, trials: [] }));
      throw err;
    }
    // The mapping's rule id only (before the colon): never the fault's message.
    for (const fault of result.faults) app.metrics.evaluationFaults.inc({ rule: fault.slice(0, Math.max(0, fault.indexOf(':'))) || 'unknown' });
    const audience = { issuer: request.client?.issuer ?? 'anonymous', fhirServer: request.body.fhirServer, patientId };
    const cards = await keepUnsuppressedCards(app.state, app.suppressionSecret, audience, result.cards, now);
    const trials = cards.map((c) => c.source.topic.code);
    await app.state.audit.record(auditEventFor(request, new Date(), 'patient-view', { patientId, fhirServer: request.body.fhirServer, trials }));
    // Ids, counts, outcomes and durations only: never patient data or tokens (house rule 8). Written in the
    // request's one log line (src/http/request-log.ts).
    request.logLine = {
      message: 'patient-view evaluated',
      fields: {
        service: service.id,
        hookInstance: request.body.hookInstance,
        cards: cards.length,
        suppressed: result.cards.length - cards.length,
        statuses: Object.fromEntries(result.evaluations.map((e) => [e.trialId, e.status])),
        sources: result.provenance.map((p) => `${p.key}:${p.origin}:${p.count}`),
        faults: result.faults,
        evaluationMs: Math.round(performance.now() - started),
      },
    };
    return { cards };
  });

  app.post('/cds-services/:id/feedback', { schema: { params: serviceParams, body: feedbackSchema } }, async (request) => {
    const service = findService(request.params.id);
    const { answer, about, referred } = await recordFeedback(app.state, service.id, request.body.feedback, app.clock(), options.suppressionDays, {
      issuer: request.client?.issuer ?? 'anonymous',
      subject: request.client?.subject ?? 'anonymous',
    });
    // Issue #20 item 5: one event per patient the feedback was about, naming its cards and trials.
    for (const a of about) await app.state.audit.record(auditEventFor(request, new Date(), 'feedback', a));
    // Issue #19 item 4: an accepted referral sets the worklist state, audited as a coordinator's change is.
    for (const r of referred) {
      await app.state.audit.record({ ...auditEventFor(request, new Date(), 'coordinator-state', { patientId: r.patientId, fhirServer: r.fhirServer, trials: [r.trialId] }), state: r.state });
    }
    const { stored, unknownCards, duplicates } = answer;
    request.logLine = { message: 'feedback received', fields: { service: service.id, stored, unknownCards, duplicates, rejected: answer.rejected.length, suppressed: answer.suppressed.length } };
    return answer;
  });
};
