import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { feedbackSchema, hookRequestSchema } from '../../cds/hook-request.js';
import { handlePatientView } from '../../cds/handle-patient-view.js';
import { renderDiscovery, type ServiceDefinition } from '../../cds/service-definition.js';
import { notFound } from '../../fhir/outcomes.js';
import { NO_FHIR_SERVERS } from '../../security/fhir-server-allowlist.js';

const serviceParams = z.object({ id: z.string() });

/** CDS Hooks 2.0: discovery, the service call, and feedback. Thin: validate, call one function, answer. */
export const cdsServicesRoutes: FastifyPluginAsyncZod = async (app) => {
  const discovery = renderDiscovery(app.services);
  const findService = (id: string): ServiceDefinition => {
    const service = app.services.find((s) => s.id === id);
    if (!service) throw notFound(`no CDS service "${id}"; see GET /cds-services`);
    return service;
  };

  app.get('/cds-services', async () => discovery);

  app.post('/cds-services/:id', { schema: { params: serviceParams, body: hookRequestSchema } }, async (request) => {
    const service = findService(request.params.id);
    const started = performance.now();
    // The caller's FHIR servers: per issuer, or the unauthenticated allowlist when AUTH_MODE=off; none at all
    // when there is no caller identity (fail closed).
    const fhirServers = request.client?.fhirServers ?? NO_FHIR_SERVERS;
    const result = await handlePatientView(service, request.body, app.engine, app.clock(), { fhirServers });
    app.feedback.rememberCards(result.cards.map((card) => ({ uuid: card.uuid, trialId: card.source.topic.code })));
    // Ids, counts, outcomes and durations only: never patient data or tokens (house rule 8).
    request.log.info(
      {
        service: service.id,
        hookInstance: request.body.hookInstance,
        cards: result.cards.length,
        statuses: Object.fromEntries(result.evaluations.map((e) => [e.trialId, e.status])),
        sources: result.provenance.map((p) => `${p.key}:${p.origin}:${p.count}`),
        faults: result.faults,
        ms: Math.round(performance.now() - started),
      },
      'patient-view evaluated',
    );
    return { cards: result.cards };
  });

  app.post('/cds-services/:id/feedback', { schema: { params: serviceParams, body: feedbackSchema } }, async (request, reply) => {
    const service = findService(request.params.id);
    const { stored, unknownCards, duplicates } = await app.feedback.record(service.id, request.body.feedback);
    request.log.info({ service: service.id, stored, unknownCards, duplicates }, 'feedback received');
    return reply.status(200).send();
  });
};
