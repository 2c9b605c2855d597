import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { startScreeningJob, type JobRunner } from '../../bulk/population-jobs.js';
import type { JobStore, ScreeningJob } from '../../bulk/screening-job.js';
import { FHIR_ID } from '../../fhir/fhir-id.js';
import { notFound } from '../../fhir/outcomes.js';

const startBody = z.object({
  /** The FHIR server to export from; the caller must be allowed to name it (the route guard checks it first). */
  fhirServer: z.url({ protocol: /^https?$/, message: 'fhirServer must be an http(s) URL' }),
  /** Export one Group's patients (Group/{id}/$export) instead of all patients (Patient/$export). */
  groupId: z.string().regex(FHIR_ID, 'groupId must be a FHIR id').optional(),
  /** The trials to screen; all when absent. A job for some trials is never incremental. */
  trialIds: z.array(z.string().min(1)).min(1).optional(),
  /** false: export everything even when an earlier job of this server and scope completed. */
  incremental: z.boolean().optional(),
});

/** The job as served: without the queue's export plan (the server's file URLs are for the chunks only). */
function jobView(job: ScreeningJob): Omit<ScreeningJob, 'plan'> {
  const { plan: _plan, ...view } = job;
  return view;
}

export interface PopulationRoutesOptions {
  jobs: JobStore;
  runner: JobRunner;
}

/**
 * Issue #19 item 1: population screening jobs. POST starts one (202, the job, Content-Location to follow),
 * GET shows its state and counts. Thin: the job's work is in src/bulk/.
 */
export const populationRoutes: FastifyPluginAsyncZod<PopulationRoutesOptions> = async (app, options) => {
  app.post('/population/jobs', { schema: { body: startBody } }, async (request, reply) => {
    const { fhirServer, groupId, trialIds, incremental } = request.body;
    const job = await startScreeningJob(
      { fhirServer, ...(groupId ? { groupId } : {}), ...(trialIds ? { trialIds } : {}), ...(incremental !== undefined ? { incremental } : {}) },
      { jobs: options.jobs, mappings: app.engine.mappings, clock: app.clock },
      options.runner,
    );
    request.log.info({ jobId: job.id, mode: job.mode, incremental: job.since !== undefined }, 'population screening job started');
    return reply.status(202).header('content-location', `/population/jobs/${job.id}`).send(jobView(job));
  });

  app.get('/population/jobs/:id', { schema: { params: z.object({ id: z.uuid() }) } }, async (request) => {
    const job = await options.jobs.get(request.params.id);
    if (!job) throw notFound(`no population job ${request.params.id}`);
    return jobView(job);
  });
};
