import { join } from 'node:path';
import cors from '@fastify/cors';
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify';
import { serializerCompiler, validatorCompiler } from 'fastify-type-provider-zod';
import type { Config } from './config.js';
import { MemoryFeedbackStore, type FeedbackStore } from './cds/feedback-store.js';
import type { EngineDeps } from './cds/handle-patient-view.js';
import { loadServiceDefinitions, type ServiceDefinition } from './cds/service-definition.js';
import { registerErrorHandler } from './http/error-handler.js';
import { cdsServicesRoutes } from './http/routes/cds-services.js';
import { trialsRoutes } from './http/routes/trials.js';
import { examplesRoutes } from './http/routes/examples.js';
import { demoRoutes } from './http/routes/demo.js';
import { loadExamples } from './examples/example-patients.js';
import { loadMappings } from './mappings/load-mappings.js';
import { loggerOptions } from './logger.js';

declare module 'fastify' {
  interface FastifyInstance {
    engine: EngineDeps;
    services: ServiceDefinition[];
    feedback: FeedbackStore;
    clock: () => Date;
  }
}

export interface AppOptions {
  config: Config;
  /** The evaluation time source; tests pass a fixed clock. */
  clock?: () => Date;
  /** The HTTP client used to reach FHIR servers (tests may pass one bound to a local server). */
  fetch?: typeof fetch;
  /** A pino destination stream, for tests that read the log. */
  logStream?: NodeJS.WritableStream;
  feedbackStore?: FeedbackStore;
}

/**
 * Builds the service: mappings validated and compiled once (a broken mapping throws here, naming the file
 * and criterion), routes registered, one error handler. server.ts only starts it.
 */
export function buildApp(options: AppOptions): FastifyInstance {
  const { config } = options;
  const mappings = loadMappings({ dir: config.mappingsDir, ...(config.localCodesFile ? { localCodesFile: config.localCodesFile } : {}) });
  const services = loadServiceDefinitions(config.cdsHooksDir, mappings);
  const fastifyOptions: FastifyServerOptions = {
    logger: loggerOptions(config.logLevel, options.logStream),
    bodyLimit: config.bodyLimit,
    // CDS Hooks requests can be large; keep the default JSON parser but refuse prototype poisoning.
    onProtoPoisoning: 'error',
    onConstructorPoisoning: 'error',
  };
  const app = Fastify(fastifyOptions);
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  // JSON only (CDS Hooks 2.0); FHIR clients send application/fhir+json, parsed like JSON.
  app.removeContentTypeParser('text/plain');
  app.addContentTypeParser('application/fhir+json', { parseAs: 'string' }, app.getDefaultJsonParser('error', 'error'));
  const engine: EngineDeps = {
    mappings,
    fhir: { timeoutMs: config.fhirTimeoutMs, maxPages: config.fhirMaxPages, maxResources: config.fhirMaxResources, ...(options.fetch ? { fetch: options.fetch } : {}) },
  };
  app.decorate('engine', engine);
  app.decorate('services', services);
  app.decorate('feedback', options.feedbackStore ?? new MemoryFeedbackStore());
  app.decorate('clock', options.clock ?? (() => new Date()));
  registerErrorHandler(app);
  // CDS Hooks 2.0: browser-based EHRs call the service directly; allow Authorization and Content-Type.
  void app.register(cors, { origin: true, methods: ['GET', 'POST', 'OPTIONS'], allowedHeaders: ['Authorization', 'Content-Type'], maxAge: 600 });
  void app.register(cdsServicesRoutes);
  void app.register(trialsRoutes);
  void app.register(examplesRoutes, { examples: loadExamples(join(config.cdsHooksDir, 'examples')) });
  void app.register(demoRoutes);
  app.get('/healthz', async () => ({ status: 'ok', trials: mappings.trials.length }));
  return app;
}
