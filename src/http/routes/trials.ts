import type { Bundle } from '@medplum/fhirtypes';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { evaluateBundle } from '../../cds/handle-patient-view.js';
import { badRequest, notFound } from '../operation-outcome.js';

const bundleSchema = z
  .object({ resourceType: z.literal('Bundle', { message: 'the body must be a FHIR Bundle' }), entry: z.array(z.unknown()).optional() })
  .loose();

const evaluateQuery = z.object({
  /** Evaluation time (ISO date or date-time); defaults to now. */
  at: z.string().optional(),
});

/** The trial list and the evaluation as JSON, for integrators and the demo page. */
export const trialsRoutes: FastifyPluginAsyncZod = async (app) => {
  app.get('/trials', async () => ({
    trials: app.engine.mappings.trials.map((t) => ({
      id: t.id,
      ...(t.nctId ? { nctId: t.nctId } : {}),
      title: t.title,
      shortTitle: t.shortTitle,
      phase: t.phase,
      studyType: t.studyType,
      recruitmentStatus: t.recruitmentStatus,
      registry: t.registry,
      inclusionCriteria: t.criteria.filter((c) => c.type === 'inclusion').length,
      exclusionCriteria: t.criteria.filter((c) => c.type === 'exclusion').length,
    })),
  }));

  app.post('/trials/$evaluate', { schema: { body: bundleSchema, querystring: evaluateQuery } }, async (request) => {
    const at = request.query.at;
    const now = at ? new Date(at) : app.clock();
    if (Number.isNaN(now.getTime())) throw badRequest(`"at" is not a date: ${at}`, ['at']);
    const { evaluations, faults, patientId } = evaluateBundle(request.body as unknown as Bundle, app.engine, now);
    request.log.info({ trials: evaluations.length, faults }, 'bundle evaluated');
    return { ...(patientId ? { patient: `Patient/${patientId}` } : {}), evaluatedAt: now.toISOString(), trials: evaluations };
  });

  app.get('/trials/:trialId/feedback', { schema: { params: z.object({ trialId: z.string() }) } }, async (request) => {
    if (!app.engine.mappings.trials.some((t) => t.id === request.params.trialId)) throw notFound(`no trial "${request.params.trialId}"`);
    return app.feedback.summary(request.params.trialId);
  });
};
