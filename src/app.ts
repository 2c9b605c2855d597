import { randomBytes } from 'node:crypto';
import type { ServerOptions } from 'node:http';
import { join } from 'node:path';
import cors from '@fastify/cors';
import rateLimit from '@fastify/rate-limit';
import Fastify, { LogController, type FastifyInstance, type FastifyServerOptions } from 'fastify';
import { serializerCompiler, validatorCompiler } from 'fastify-type-provider-zod';
import type { Config } from './config.js';
import type { EngineDeps } from './cds/handle-patient-view.js';
import type { TerminologyServerUse } from './data/place-codes.js';
import type { MappingSet } from './mappings/compiled.js';
import { TerminologyServerClient } from './terminology/server-client.js';
import { planServerPlacements } from './terminology/server-placements.js';
import { loadServiceDefinitions, type ServiceDefinition } from './cds/service-definition.js';
import { registerErrorHandler } from './http/error-handler.js';
import { registerBoundedJson } from './http/bounded-json.js';
import { cdsServicesRoutes } from './http/routes/cds-services.js';
import { trialsRoutes } from './http/routes/trials.js';
import { examplesRoutes } from './http/routes/examples.js';
import { demoRoutes } from './http/routes/demo.js';
import { devTokenRoutes } from './http/routes/dev-token.js';
import { smartRoutes } from './http/routes/smart.js';
import { worklistRoutes } from './http/routes/worklist.js';
import { CoordinatorAuthenticator } from './security/coordinator-auth.js';
import { populationRoutes } from './http/routes/population.js';
import { createPopulationSetup } from './bulk/population-runner.js';
import { loadExamples } from './examples/example-patients.js';
import { loadMappings } from './mappings/load-mappings.js';
import { serviceUnavailable, tooManyRequests } from './fhir/outcomes.js';
import { createMetrics, type ServiceMetrics } from './observability/metrics.js';
import { trustKeysLoadable } from './security/trust-readiness.js';
import { loggerOptions } from './logger.js';
import { registerClientAuth } from './security/client-auth.js';
import { createDevTokenSigner, devTokenIssuer } from './security/dev-token.js';
import { CorsOriginAllowlist } from './security/cors-origins.js';
import { resolveTrust, type LoadedTrust } from './security/trust-config.js';
import { createSharedState } from './store/create-shared-state.js';
import type { SharedState } from './store/shared-state.js';
import { SmartTokenVerifier } from './security/smart-token.js';
import { capConnectionsPerAddress } from './security/connection-cap.js';
import { openSiteInfo } from './trials/open-site-info.js';
import type { SiteInfo } from './trials/site-info.js';
import { siteStatusRoutes } from './http/routes/site-status.js';
import { researchStudyRoutes } from './http/routes/research-study.js';
import { registerRequestLog } from './http/request-log.js';

declare module 'fastify' {
  interface FastifyInstance {
    metrics: ServiceMetrics;
    /** Checks GET /readyz runs; the database check is pushed here by the store (issue #12 item 6). */
    readinessChecks: Array<() => Promise<void>>;
    engine: EngineDeps;
    services: ServiceDefinition[];
    /** Feedback, suppressions, the replay store and the audit trail (embedded journal, or PostgreSQL). */
    state: SharedState;
    /** The HMAC key for suppression keys (security/suppression-key.ts). */
    suppressionSecret: string;
    clock: () => Date;
    /** Each trial's registry and site status and its study contact (issue #19 item 3). */
    siteInfo: SiteInfo;
    /** The site's name from the site file, when one is given. */
    siteName: string | undefined;
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
  const mappings = loadMappings({
    dir: config.mappingsDir,
    ...(config.localCodesFile ? { localCodesFile: config.localCodesFile } : {}),
    ...(config.localConceptMapFile ? { localConceptMapFile: config.localConceptMapFile } : {}),
  });
  const services = loadServiceDefinitions(config.cdsHooksDir, mappings);
  // The coordinators' settings live in the shared state, opened below before any route runs.
  const site = openSiteInfo(mappings.trials, config, { current: () => app.state.siteStatus.current(), set: (s) => app.state.siteStatus.set(s) });
  const trust = options.trust ?? resolveTrust(config);
  const fastifyOptions: FastifyServerOptions & { http: ServerOptions } = {
    logger: loggerOptions(config.logLevel, options.logStream),
    // One line per request, written by src/http/request-log.ts (issue #21 item 5), instead of fastify's two.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: config.bodyLimit,
    // CDS Hooks requests can be large; keep the default JSON parser but refuse prototype poisoning.
    onProtoPoisoning: 'error',
    onConstructorPoisoning: 'error',
    // Issue #12 item 2: a slow body or an idle socket must not be held forever (docs/security.md, Timeouts).
    requestTimeout: config.requestTimeoutMs,
    connectionTimeout: config.connectionTimeoutMs,
    keepAliveTimeout: config.keepAliveTimeoutMs,
    maxRequestsPerSocket: config.maxRequestsPerSocket,
    // Node checks headersTimeout and requestTimeout only every connectionsCheckingInterval (30 s by default), so
    // a 10 s header timeout cut at 29.4 s (issue #20 item 3). Checked each second, they cut within a second of
    // what docs/security.md states.
    http: { connectionsCheckingInterval: 1000 },
    // Issue #20 item 2: behind the listed proxies, request.ip is the client X-Forwarded-For names (the rate
    // limit and the refused-token budget key on it); elsewhere the socket's address, whatever the header says.
    ...(config.trustProxy ? { trustProxy: config.trustProxy } : {}),
  };
  const app = Fastify(fastifyOptions);
  app.server.headersTimeout = Math.min(config.headersTimeoutMs, config.requestTimeoutMs);
  app.server.maxConnections = config.maxConnections;
  capConnectionsPerAddress(app.server, config.maxConnectionsPerAddress, config.trustProxy);
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  // JSON only (CDS Hooks 2.0); FHIR clients send application/fhir+json, parsed like JSON. Issue #20 item 1: depth,
  // keys per object and values bounded as the body arrives (http/bounded-json.ts).
  app.removeContentTypeParser('text/plain');
  registerBoundedJson(app, config.bodyLimit);
  const engine: EngineDeps = {
    mappings,
    fhir: {
      timeoutMs: config.fhirTimeoutMs,
      maxPages: config.fhirMaxPages,
      maxResources: config.fhirMaxResources,
      concurrency: config.fhirSearchConcurrency,
      maxResponseBytes: config.fhirMaxResponseBytes,
      ...(options.fetch ? { fetch: options.fetch } : {}),
      // /metrics (issue #12 item 6): FHIR request latency and failures by kind; the metrics exist once the app is built.
      observe: (e) => app.metrics.fhirRequestSeconds.observe({ resource: e.resourceType, outcome: e.outcome }, e.seconds),
    },
    limits: { hookTimeoutMs: config.hookTimeoutMs, maxResources: config.maxResourcesPerHook },
    // The cards' app and source links (issue #11): the first URL the service is reached at.
    publicBaseUrl: config.publicBaseUrls[0] ?? `http://localhost:${config.port}`,
    ...(config.referralSuggestions ? { referrals: true } : {}),
  };
  if (config.terminologyServer) engine.terminologyServer = terminologyServerUse(app, config, config.terminologyServer, mappings, options.fetch);
  app.decorate('engine', engine);
  app.decorate('services', services);
  app.decorate('siteInfo', site.siteInfo);
  app.decorate('siteName', site.siteName);
  if (site.olderRecords.length > 0) app.log.warn({ records: site.olderRecords }, 'ClinicalTrials.gov records older than the protocol documents were ignored (REGISTRY_RECORDS_DIR)');
  // Opened asynchronously (the journal is streamed, the database migrated) before any route can run; set on
  // the root instance, which every plugin's instance reads through.
  app.decorate('state', null as unknown as SharedState);
  app.decorate('suppressionSecret', '');
  void app.register(async () => {
    const opened = options.state
      ? { state: options.state, suppressionSecret: config.suppressionSecret ?? randomBytes(32).toString('hex') }
      : await createSharedState(config, app.log, { onDatabaseError: (operation) => app.metrics.databaseErrors.inc({ operation }) });
    app.state = opened.state;
    app.suppressionSecret = opened.suppressionSecret;
    // /readyz fails while the database cannot be reached; /metrics shows the live jtis (issue #12 item 6).
    app.readinessChecks.push(() => opened.state.check());
    app.metrics.setReplayCacheSize(() => opened.state.replay.size());
  });
  app.addHook('onClose', async () => app.state?.close());
  const clock = options.clock ?? ((): Date => new Date());
  app.decorate('clock', clock);
  registerErrorHandler(app, config.rateLimit ? { unknownPathsPerMinute: config.rateLimitPerMinute } : {});
  registerRequestLog(app);
  if (!trust.file && config.authMode === 'on') {
    app.log.warn(
      { trustFile: null },
      '!!! NO TRUST CONFIGURATION (neither TRUST_CONFIG nor DEV_TRUST=1): no EHR is trusted, every protected call is refused (401). Give TRUST_CONFIG, or DEV_TRUST=1 on a developer machine. !!!',
    );
  }
  // CDS Hooks 2.0: browser-based EHRs call the service directly; allow Authorization and Content-Type, but
  // only from the EHR origins the trust file lists (issue #12 item 1; reflecting any origin let any page call).
  const corsOrigins = new CorsOriginAllowlist(trust.corsOrigins);
  void app.register(cors, { origin: (origin, cb) => cb(null, corsOrigins.allows(origin)), methods: ['GET', 'POST', 'OPTIONS'], allowedHeaders: ['Authorization', 'Content-Type'], maxAge: 600 });
  // After CORS, so a refusal still carries the CORS headers a browser-based EHR needs to read it.
  app.after((err) => {
    // The shared state could not be opened (journal locked, database down): stop here, with that error.
    if (err) throw err;
    registerClientAuth(app, config, trust, app.state.replay);
  });
  if (config.rateLimit) registerRateLimit(app, config);
  // GET /dev/token exists only when asked for (DEV_TRUST=1, never in production: config.ts refuses it).
  const devIssuer = config.devTrust && !config.production ? devTokenIssuer(trust.issuers) : undefined;
  if (devIssuer) void app.register(devTokenRoutes, { signer: createDevTokenSigner(devIssuer), publicBaseUrls: config.publicBaseUrls });
  void app.register(cdsServicesRoutes, { suppressionDays: config.suppressionDays });
  void app.register(trialsRoutes);
  void app.register(siteStatusRoutes, { coordinatorIssuers: new Set(trust.issuers.filter((i) => i.roles.includes('coordinator')).map((i) => i.issuer)), authOff: config.authMode === 'off' });
  void app.register(researchStudyRoutes);
  if (config.demo) {
    void app.register(examplesRoutes, { examples: loadExamples(join(config.cdsHooksDir, 'examples')) });
    void app.register(demoRoutes, { page: true });
  } else {
    void app.register(demoRoutes, { page: false });
    // Issue #20 item 6: without DEMO=1 no demo page and no example patients; the service's page (the cards'
    // source.url) says what the service is and where its routes are.
    app.get('/', async () => ({ service: 'TrialMatch CDS', discovery: '/cds-services', smartApp: '/smart/launch.html', health: '/healthz' }));
  }
  // Issue #11 item 4: the SMART app and its one call, checked against the trust file's SMART servers.
  const smartVerifier = new SmartTokenVerifier({
    servers: trust.smartServers ?? [],
    cacheSeconds: config.smartIntrospectionCacheSeconds,
    timeoutMs: config.fhirTimeoutMs,
    clock,
    ...(options.fetch ? { fetch: options.fetch } : {}),
  });
  void app.register(smartRoutes, { verifier: smartVerifier });
  // Issue #19 item 2: the coordinator's worklists, for a trust-file coordinator or a SMART user.
  const coordinatorAuth = new CoordinatorAuthenticator({
    trust,
    publicBaseUrls: config.publicBaseUrls,
    leewaySeconds: config.jwtLeewaySeconds,
    maxLifetimeSeconds: config.jwtMaxLifetimeSeconds,
    replay: () => app.state.replay,
    smart: smartVerifier,
  });
  void app.register(worklistRoutes, { auth: coordinatorAuth, smartServers: smartVerifier.fhirBaseUrls });
  // Issue #19 item 1: population screening jobs (Bulk Data export -> screen -> the screening store).
  void app.register(async (scoped) => {
    const population = await createPopulationSetup({
      config,
      mappings,
      screening: () => app.state.screening,
      clock,
      log: { info: (data, msg) => app.log.info(data, msg), warn: (data, msg) => app.log.warn(data, msg) },
      ...(options.fetch ? { fetch: options.fetch } : {}),
    });
    app.addHook('onClose', async () => population.close());
    await scoped.register(populationRoutes, { jobs: population.jobs, runner: population.runner });
  });
  app.get('/healthz', async () => ({ status: 'ok', trials: mappings.trials.length }));
  registerOperations(app, config, trust);
  return app;
}

/**
 * TERMINOLOGY_SERVER (issue #17 item 3): what to ask it (planned once from the mappings), the client with
 * the outgoing-call limits, the shared cache (read through app.state, opened before any route runs) and
 * the /metrics counters.
 */
function terminologyServerUse(app: FastifyInstance, config: Config, baseUrl: string, mappings: MappingSet, fetchImpl: typeof fetch | undefined): TerminologyServerUse {
  const t = mappings.terminology;
  return {
    plan: planServerPlacements(mappings.valueSets, t.listReads, t.localSources),
    deps: {
      client: new TerminologyServerClient({
        baseUrl,
        timeoutMs: config.fhirTimeoutMs,
        maxResponseBytes: config.fhirMaxResponseBytes,
        ...(fetchImpl ? { fetch: fetchImpl } : {}),
      }),
      cache: { get: (keys, now) => app.state.terminology.get(keys, now), put: (entries) => app.state.terminology.put(entries) },
      maxLookups: config.terminologyMaxLookups,
      budgetMs: config.terminologyBudgetMs,
      cacheSeconds: config.terminologyCacheSeconds,
      observe: {
        request: (outcome, seconds) => app.metrics.terminologyRequestSeconds.observe({ outcome }, seconds),
        answered: (source, result) => app.metrics.terminologyAnswers.inc({ source, result }),
        unsettled: (reason, count) => app.metrics.terminologyUnsettled.inc({ reason }, count),
      },
    },
  };
}

/** Probes a load balancer or Prometheus sends often; never rate limited. */
const UNLIMITED_ROUTES = new Set(['/healthz', '/readyz', '/metrics']);

/**
 * Issue #12 item 2: requests per minute per verified issuer on protected routes (after client-auth's
 * onRequest hook has set request.client), per client address elsewhere and when authentication is off.
 * Runs at preParsing, so a throttled call's body is never parsed. RATE_LIMIT=off removes it (the bench).
 */
function registerRateLimit(app: FastifyInstance, config: Config): void {
  void app.register(rateLimit, {
    global: true,
    hook: 'preParsing',
    max: config.rateLimitPerMinute,
    timeWindow: 60_000,
    cache: 10_000,
    allowList: (request) => UNLIMITED_ROUTES.has(request.routeOptions.url ?? ''),
    keyGenerator: (request) => (request.client?.issuer ? `iss:${request.client.issuer}` : `ip:${request.ip}`),
    errorResponseBuilder: (_request, context) => tooManyRequests(`more than ${context.max} requests a minute from this client; retry after ${context.after}`),
  });
}

/**
 * GET /metrics (Prometheus text, METRICS=off removes it; unauthenticated unless METRICS_TOKEN is set, as a
 * scraper usually reaches it on the service's port from inside the network) and GET /readyz (503 with an
 * OperationOutcome when a check fails: the trust file's key sets, then app.readinessChecks).
 */
function registerOperations(app: FastifyInstance, config: Config, trust: LoadedTrust): void {
  const metrics = createMetrics();
  app.decorate('metrics', metrics);
  app.decorate('readinessChecks', [() => trustKeysLoadable(trust)]);
  app.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url ?? 'unmatched';
    metrics.requests.inc({ route, method: request.method, status: String(reply.statusCode) });
    if (route === '/cds-services/:id' && request.method === 'POST') metrics.hookSeconds.observe({ status: String(reply.statusCode) }, reply.elapsedTime / 1000);
  });
  if (config.metrics) {
    app.get('/metrics', async (request, reply) => {
      if (config.metricsToken && request.headers.authorization !== `Bearer ${config.metricsToken}`) {
        return reply.status(401).type('text/plain').send('metrics need Authorization: Bearer <METRICS_TOKEN>\n');
      }
      return reply.type(metrics.registry.contentType).send(await metrics.registry.metrics());
    });
  }
  app.get('/readyz', async (request) => {
    for (const check of app.readinessChecks) {
      try {
        await check();
      } catch (err) {
        const why = err instanceof Error ? err.message : 'a readiness check failed';
        // Issue #20 item 6: why (a database address, a key set URL) only to the operator's bearer; up or down to anyone.
        const operator = config.metricsToken !== undefined && request.headers.authorization === `Bearer ${config.metricsToken}`;
        request.log.warn({ readiness: 'failed' }, why);
        throw serviceUnavailable(operator ? `not ready: ${why}` : 'not ready');
      }
    }
    return { status: 'ready' };
  });
}
