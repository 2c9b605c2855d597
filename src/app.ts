import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import cors from '@fastify/cors';
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify';
import { serializerCompiler, validatorCompiler } from 'fastify-type-provider-zod';
import type { Config } from './config.js';
import type { EngineDeps } from './cds/handle-patient-view.js';
import { loadServiceDefinitions, type ServiceDefinition } from './cds/service-definition.js';
import { registerErrorHandler } from './http/error-handler.js';
import { cdsServicesRoutes } from './http/routes/cds-services.js';
import { trialsRoutes } from './http/routes/trials.js';
import { examplesRoutes } from './http/routes/examples.js';
import { demoRoutes } from './http/routes/demo.js';
import { devTokenRoutes } from './http/routes/dev-token.js';
import { smartRoutes } from './http/routes/smart.js';
import { loadExamples } from './examples/example-patients.js';
import { loadMappings } from './mappings/load-mappings.js';
import { loggerOptions } from './logger.js';
import { registerClientAuth } from './security/client-auth.js';
import { createDevTokenSigner, devTokenIssuer } from './security/dev-token.js';
import { loadTrustConfig, type LoadedTrust } from './security/trust-config.js';
import { createSharedState } from './store/create-shared-state.js';
import type { SharedState } from './store/shared-state.js';
import { SmartTokenVerifier } from './security/smart-token.js';

declare module 'fastify' {
  interface FastifyInstance {
    engine: EngineDeps;
    services: ServiceDefinition[];
    /** Feedback, suppressions, the replay store and the audit trail (embedded journal, or PostgreSQL). */
    state: SharedState;
    /** The HMAC key for suppression keys (security/suppression-key.ts). */
    suppressionSecret: string;
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
  /**
   * The shared state; defaults to what the config selects (DATABASE_URL: PostgreSQL, else the journal at
   * config.feedbackFile). A state passed in is closed with the app.
   */
  state?: SharedState;
  /** Trusted issuers and FHIR servers; defaults to the file at config.trustFile. */
  trust?: LoadedTrust;
}

/**
 * Builds the service: mappings validated and compiled once (a broken mapping throws here, naming the file
 * and criterion), routes registered, one error handler. server.ts only starts it.
 */
export function buildApp(options: AppOptions): FastifyInstance {
  const { config } = options;
  const mappings = loadMappings({ dir: config.mappingsDir, ...(config.localCodesFile ? { localCodesFile: config.localCodesFile } : {}) });
  const services = loadServiceDefinitions(config.cdsHooksDir, mappings);
  const trust = options.trust ?? loadTrustConfig(config.trustFile);
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
    fhir: {
      timeoutMs: config.fhirTimeoutMs,
      maxPages: config.fhirMaxPages,
      maxResources: config.fhirMaxResources,
      maxResponseBytes: config.fhirMaxResponseBytes,
      ...(options.fetch ? { fetch: options.fetch } : {}),
    },
    limits: { hookTimeoutMs: config.hookTimeoutMs, maxResources: config.maxResourcesPerHook },
    // The cards' app and source links (issue #11): the first URL the service is reached at.
    publicBaseUrl: config.publicBaseUrls[0] ?? `http://localhost:${config.port}`,
  };
  app.decorate('engine', engine);
  app.decorate('services', services);
  // Opened asynchronously (the journal is streamed, the database migrated) before any route can run; set on
  // the root instance, which every plugin's instance reads through.
  app.decorate('state', null as unknown as SharedState);
  app.decorate('suppressionSecret', '');
  void app.register(async () => {
    const opened = options.state
      ? { state: options.state, suppressionSecret: config.suppressionSecret ?? randomBytes(32).toString('hex') }
      : await createSharedState(config, app.log);
    app.state = opened.state;
    app.suppressionSecret = opened.suppressionSecret;
  });
  app.addHook('onClose', async () => app.state?.close());
  app.decorate('clock', options.clock ?? (() => new Date()));
  registerErrorHandler(app);
  // CDS Hooks 2.0: browser-based EHRs call the service directly; allow Authorization and Content-Type.
  void app.register(cors, { origin: true, methods: ['GET', 'POST', 'OPTIONS'], allowedHeaders: ['Authorization', 'Content-Type'], maxAge: 600 });
  // After CORS, so a refusal still carries the CORS headers a browser-based EHR needs to read it.
  app.after((err) => {
    // The shared state could not be opened (journal locked, database down): stop here, with that error.
    if (err) throw err;
    registerClientAuth(app, config, trust, app.state.replay);
  });
  const devIssuer = devTokenIssuer(trust.issuers);
  if (devIssuer) void app.register(devTokenRoutes, { signer: createDevTokenSigner(devIssuer), publicBaseUrls: config.publicBaseUrls });
  void app.register(cdsServicesRoutes, { suppressionDays: config.suppressionDays });
  void app.register(trialsRoutes);
  void app.register(examplesRoutes, { examples: loadExamples(join(config.cdsHooksDir, 'examples')) });
  void app.register(demoRoutes);
  // Issue #11 item 4: the SMART app and its one call, checked against the trust file's SMART servers.
  const clock = options.clock ?? ((): Date => new Date());
  const smartVerifier = new SmartTokenVerifier({
    servers: trust.smartServers ?? [],
    cacheSeconds: config.smartIntrospectionCacheSeconds,
    timeoutMs: config.fhirTimeoutMs,
    clock,
    ...(options.fetch ? { fetch: options.fetch } : {}),
  });
  void app.register(smartRoutes, { verifier: smartVerifier });
  app.get('/healthz', async () => ({ status: 'ok', trials: mappings.trials.length }));
  return app;
}
