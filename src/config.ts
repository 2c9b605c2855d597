import { dirname, resolve } from 'node:path';
import { z } from 'zod';
import { PROJECT_ROOT } from './paths.js';
import { FHIR_SERVER_HTTPS_HELP, FHIR_SERVER_PATTERN_HELP, isFhirServerPattern, isSecureFhirServerPattern } from './security/fhir-server-allowlist.js';

const num = (def: number): z.ZodDefault<z.ZodCoercedNumber> => z.coerce.number().int().positive().default(def);

// The same folder whether running from src/ (tsx) or dist/src/ (the production image).
const ROOT = PROJECT_ROOT;

/** The development trust file: trusts a committed key and FHIR servers on this machine. DEV_TRUST=1 only. */
export const DEV_TRUST_FILE = resolve(ROOT, 'config', 'trust.example.json');

/** An on/off switch from the environment: 1/true/on/yes, 0/false/off/no, or absent. */
const flag = (name: string, value: string | undefined): boolean | undefined => {
  if (value === undefined || value === '') return undefined;
  if (/^(1|true|on|yes)$/i.test(value)) return true;
  if (/^(0|false|off|no)$/i.test(value)) return false;
  throw new Error(`${name}=${value}: give 1 or 0`);
};

/** Everything the service reads from its environment, validated once at start-up. */
export const configSchema = z
  .object({
    port: num(3000),
    /** Loopback unless HOST says otherwise (issue #12 item 1); the Docker image sets HOST=0.0.0.0. */
    host: z.string().default('127.0.0.1'),
    /** NODE_ENV=production: no development trust, and a real TRUST_CONFIG and PUBLIC_BASE_URL are required. */
    production: z.boolean().default(false),
    /**
     * DEV_TRUST=1: the development trust (config/trust.example.json unless TRUST_CONFIG names another) and
     * GET /dev/token. Never honoured with NODE_ENV=production (issue #12 item 1).
     */
    devTrust: z.boolean().default(false),
    /**
     * DEMO=1: the demo EHR page (/demo/) and the bundled example patients (/examples), for trying the service
     * (`npm start` sets it). Off by default, so a production process serves neither (issue #20 item 6).
     */
    demo: z.boolean().default(false),
    logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    /** fhir-mappings/: trials and code lists. */
    mappingsDir: z.string().default(resolve(ROOT, 'fhir-mappings')),
    /** A site's own codes added to the code lists (JSON); optional. */
    localCodesFile: z.string().optional(),
    /**
     * A site's local codes as a FHIR R4 ConceptMap (JSON): each local code is read as its mapped target(s),
     * by the map's equivalence (src/terminology/concept-map.ts); optional, beside or instead of LOCAL_CODES_FILE.
     */
    localConceptMapFile: z.string().optional(),
    /**
     * A site's FHIR R4 terminology server (base URL): codes of the record that the lists' own codes do not
     * place are settled there ($validate-code, $subsumes, $translate; src/terminology/server-client.ts),
     * with the timeouts and answer limits of FHIR_TIMEOUT_MS and FHIR_MAX_RESPONSE_BYTES. Optional.
     */
    terminologyServer: z
      .string()
      .refine(isFhirServerPattern, { message: FHIR_SERVER_PATTERN_HELP })
      .refine(isSecureFhirServerPattern, { message: FHIR_SERVER_HTTPS_HELP })
      .optional(),
    /** Questions (code and list, or local code to translate) sent to the terminology server per hook at most. */
    terminologyMaxLookups: num(64),
    /** Total time per hook for the terminology server; what is still unanswered then stays unplaced. */
    terminologyBudgetMs: num(1500),
    /** How long a terminology server's answer is reused (shared by replicas with DATABASE_URL). */
    terminologyCacheSeconds: num(86_400),
    /** Answers kept in memory in the embedded mode (the oldest are forgotten first). */
    terminologyCacheSize: num(100_000),
    /** cds-hooks/: the service descriptors. */
    cdsHooksDir: z.string().default(resolve(ROOT, 'cds-hooks')),
    /** Largest request body accepted, in bytes. */
    bodyLimit: num(10 * 1024 * 1024),
    /** Time allowed for one call to the EHR's FHIR server. */
    fhirTimeoutMs: num(8000),
    /**
     * Bundle pages followed per search before giving up (a looping `next` link stops here). Every search asks
     * for _count=200 (HAPI's maximum page size, hapi-fhir-jpaserver-starter application.yaml max_page_size),
     * and real Synthea lupus patients hold up to 2,900 Procedures: 15 pages. 200 pages reach
     * FHIR_MAX_RESOURCES (20,000) on a server that serves only 100 a page, so the resource cap and the
     * hook's time decide before this does; at the old 50 a server paging at 20 stopped at 1,000 resources.
     * Measured on HAPI 8.8.0 (test/integration/large-and-paged-records.test.ts): about 0.4 s a page of 200,
     * pages one after another.
     */
    fhirMaxPages: num(200),
    /** Resources accepted per search, across its pages. */
    fhirMaxResources: num(20000),
    /**
     * Requests one hook has in flight at once on the EHR's FHIR server (issue #21 item 4): its searches run side
     * by side up to this many, the rest wait their turn, so a few large records at once do not open one
     * connection per search each. 6: the nine searches of the service definition and the Procedure filter's two
     * counts in two rounds; browsers allow 6 connections per host (Fetch standard's common practice).
     */
    fhirSearchConcurrency: num(6),
    /** Largest answer read from the FHIR server, per page, in bytes. */
    fhirMaxResponseBytes: num(50 * 1024 * 1024),
    /** Resources accepted per hook call, prefetch and fetched together; more is a 413. */
    maxResourcesPerHook: num(50000),
    /** Total time for gathering one hook's data; keys still outstanding then become unknown ("took longer"). */
    hookTimeoutMs: num(10000),
    /**
     * CDS Hooks 2.0 §Trusting CDS Clients: `on` verifies the EHR's JWT on every protected route; `off` is a
     * development mode that accepts unsigned calls (and says so loudly at start-up).
     */
    authMode: z.enum(['on', 'off']).default('on'),
    /**
     * Trusted issuers, FHIR servers and CORS origins (JSON, see config/trust.example.json). Absent: the
     * development file with DEV_TRUST=1, else an empty trust (every protected call is a 401).
     */
    trustFile: z.string().optional(),
    /**
     * The URLs the service is reached at, without a trailing slash: a token's `aud` must be one of these plus
     * the path called. Comma-separated in PUBLIC_BASE_URL; default http://localhost:PORT and http://127.0.0.1:PORT.
     */
    publicBaseUrls: z.array(z.url({ protocol: /^https?$/ })).optional(),
    /** Clock skew allowed on `exp`, `iat` and `nbf`. */
    jwtLeewaySeconds: z.coerce.number().int().nonnegative().default(60),
    /** Tokens whose `exp` is further ahead than this are refused (bounds the replay cache). */
    jwtMaxLifetimeSeconds: num(3600),
    /** Live `jti`s remembered to refuse replays; when full of unexpired ones, new tokens get a 503. */
    jtiCacheSize: num(200_000),
    /**
     * Live `jti`s one issuer may hold in the replay store (issue #12 item 3): one issuer filling it gets 503s,
     * the others keep working. Capped by JTI_CACHE_SIZE.
     */
    jtiIssuerQuota: num(100_000),
    /**
     * Server timeouts and connection caps (issue #12 item 2: a slow body must not hold a socket forever).
     * requestTimeout: the whole request, headers and body, must arrive within it (408); above HOOK_TIMEOUT_MS.
     */
    requestTimeoutMs: num(30_000),
    /** Node's headersTimeout: the request's headers must arrive within it. */
    headersTimeoutMs: num(10_000),
    /** fastify's connectionTimeout: an idle socket is closed after it. */
    connectionTimeoutMs: num(60_000),
    /** How long an idle keep-alive connection is kept open. */
    keepAliveTimeoutMs: num(5_000),
    /** Open connections accepted at once; more are refused by the socket (server.maxConnections). */
    maxConnections: num(1024),
    /**
     * Open connections one client address may hold (issue #20 item 3: one address's trickling sockets must not
     * starve the others); more are closed as they open. Trusted proxies (TRUST_PROXY) are exempt.
     */
    maxConnectionsPerAddress: num(64),
    /** Requests served on one keep-alive connection before it is closed. */
    maxRequestsPerSocket: num(10_000),
    /**
     * The reverse proxies in front of the service (issue #20 item 2): their addresses or CIDR ranges, or
     * `loopback` / `linklocal` / `uniquelocal`, comma-separated in TRUST_PROXY (fastify's trustProxy, read by
     * proxy-addr). A request that comes through one of them is judged by the client address its
     * X-Forwarded-For names, so one client's bad tokens or request rate no longer throttle every EHR behind the
     * proxy. Unset: X-Forwarded-For is ignored (anyone could write it).
     */
    trustProxy: z
      .array(z.string().regex(/^(loopback|linklocal|uniquelocal|[0-9a-fA-F.:]+(\/\d{1,3})?)$/, 'TRUST_PROXY lists addresses, CIDR ranges or loopback / linklocal / uniquelocal'))
      .optional(),
    /** RATE_LIMIT=off turns off the request and failure limits below (for the bench only). */
    rateLimit: z.boolean().default(true),
    /** Requests per minute per verified issuer on protected routes, per client IP on the others. */
    rateLimitPerMinute: num(1200),
    /** Refused tokens per minute per client IP; past it the service answers 429 without verifying (cheap refusal). */
    authFailuresPerMinute: num(60),
    /** GET /metrics (Prometheus text); METRICS=off removes the route. */
    metrics: z.boolean().default(true),
    /**
     * When set, /metrics needs `Authorization: Bearer <METRICS_TOKEN>`, and /readyz says why it is not ready only
     * to that bearer (anonymous callers learn up or down). Required in production while METRICS is on.
     */
    metricsToken: z.string().min(16, 'METRICS_TOKEN must be at least 16 characters').optional(),
    /** Durable feedback journal (JSON lines). */
    feedbackFile: z.string().default(resolve(ROOT, 'data', 'feedback.jsonl')),
    /** Card uuid -> trial mappings kept (in memory and in the journal) to attribute feedback. */
    feedbackMaxCards: num(100_000),
    /**
     * PostgreSQL for the shared state (feedback, card -> trial map, suppressions, replay store, audit trail),
     * so several replicas share it (docs/deployment.md). Unset: the embedded journal, one process only.
     */
    databaseUrl: z.string().min(1).optional(),
    /** The audit trail in the embedded mode (JSON lines, never the operational log); default beside the journal. */
    auditFile: z.string().optional(),
    /** Days a card stays hidden for a patient after an override reason that `suppresses` (cds/override-reasons.ts). */
    suppressionDays: num(90),
    /**
     * HMAC-SHA256 key for suppression keys (security/suppression-key.ts), so no raw patient id is stored.
     * Required with DATABASE_URL (every replica needs the same one); in the embedded mode, when unset, a random
     * one is generated once and kept in a 0600 file beside the journal.
     */
    suppressionSecret: z.string().min(16, 'SUPPRESSION_SECRET must be at least 16 characters').optional(),
    /**
     * POST /smart/$evaluate (issue #11 item 4): an active answer from the SMART server's token introspection
     * is reused this long at most (never past the token's exp), so one app load asks once, not per call.
     */
    smartIntrospectionCacheSeconds: num(60),
  })
  .superRefine((c, ctx) => {
    // Issue #12 item 1: a production process never runs on the development key, a default trust or guessed audiences.
    if (!c.production) return;
    if (c.devTrust) ctx.addIssue({ code: 'custom', path: ['DEV_TRUST'], message: 'DEV_TRUST is refused with NODE_ENV=production: the development key is public' });
    if (!c.trustFile) ctx.addIssue({ code: 'custom', path: ['TRUST_CONFIG'], message: 'NODE_ENV=production needs TRUST_CONFIG, the trust file naming the EHRs this service trusts' });
    if (!c.publicBaseUrls) ctx.addIssue({ code: 'custom', path: ['PUBLIC_BASE_URL'], message: 'NODE_ENV=production needs PUBLIC_BASE_URL, the URL EHRs call this service at (tokens\' aud)' });
    if (c.authMode === 'off') ctx.addIssue({ code: 'custom', path: ['AUTH_MODE'], message: 'AUTH_MODE=off is refused with NODE_ENV=production' });
    // Issue #20 item 6: route names, counts and failure kinds are for the site's monitoring, not for anyone.
    if (c.metrics && !c.metricsToken) ctx.addIssue({ code: 'custom', path: ['METRICS_TOKEN'], message: 'NODE_ENV=production needs METRICS_TOKEN for /metrics (or METRICS=off)' });
  })
  .transform((c) => ({
    ...c,
    auditFile: c.auditFile ?? resolve(dirname(c.feedbackFile), 'audit.jsonl'),
    trustFile: c.trustFile ?? (c.devTrust ? DEV_TRUST_FILE : undefined),
    publicBaseUrls: (c.publicBaseUrls ?? [`http://localhost:${c.port}`, `http://127.0.0.1:${c.port}`]).map((u) => u.replace(/\/+$/, '')),
  }));

export type Config = z.output<typeof configSchema>;

/** Reads the configuration from environment variables (PORT, HOST, LOG_LEVEL, ...). */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = configSchema.safeParse({
    port: env.PORT,
    host: env.HOST || undefined,
    production: env.NODE_ENV === 'production',
    devTrust: flag('DEV_TRUST', env.DEV_TRUST),
    demo: flag('DEMO', env.DEMO),
    logLevel: env.LOG_LEVEL,
    mappingsDir: env.MAPPINGS_DIR,
    localCodesFile: env.LOCAL_CODES_FILE || undefined,
    localConceptMapFile: env.LOCAL_CONCEPT_MAP_FILE || undefined,
    terminologyServer: env.TERMINOLOGY_SERVER?.replace(/\/+$/, '') || undefined,
    terminologyMaxLookups: env.TERMINOLOGY_MAX_LOOKUPS,
    terminologyBudgetMs: env.TERMINOLOGY_BUDGET_MS,
    terminologyCacheSeconds: env.TERMINOLOGY_CACHE_SECONDS,
    terminologyCacheSize: env.TERMINOLOGY_CACHE_SIZE,
    cdsHooksDir: env.CDS_HOOKS_DIR,
    bodyLimit: env.BODY_LIMIT_BYTES,
    fhirTimeoutMs: env.FHIR_TIMEOUT_MS,
    fhirMaxPages: env.FHIR_MAX_PAGES,
    fhirMaxResources: env.FHIR_MAX_RESOURCES,
    fhirSearchConcurrency: env.FHIR_SEARCH_CONCURRENCY,
    fhirMaxResponseBytes: env.FHIR_MAX_RESPONSE_BYTES,
    maxResourcesPerHook: env.MAX_RESOURCES_PER_HOOK,
    hookTimeoutMs: env.HOOK_TIMEOUT_MS,
    authMode: env.AUTH_MODE || undefined,
    trustFile: env.TRUST_CONFIG || undefined,
    publicBaseUrls: env.PUBLIC_BASE_URL ? env.PUBLIC_BASE_URL.split(',').map((s) => s.trim()).filter(Boolean) : undefined,
    jwtLeewaySeconds: env.JWT_LEEWAY_SECONDS,
    jwtMaxLifetimeSeconds: env.JWT_MAX_LIFETIME_SECONDS,
    jtiCacheSize: env.JTI_CACHE_SIZE,
    feedbackFile: env.FEEDBACK_FILE || undefined,
    feedbackMaxCards: env.FEEDBACK_MAX_CARDS,
    jtiIssuerQuota: env.JTI_ISSUER_QUOTA,
    databaseUrl: env.DATABASE_URL || undefined,
    auditFile: env.AUDIT_FILE || undefined,
    suppressionDays: env.SUPPRESSION_DAYS,
    suppressionSecret: env.SUPPRESSION_SECRET || undefined,
    smartIntrospectionCacheSeconds: env.SMART_INTROSPECTION_CACHE_SECONDS,
    requestTimeoutMs: env.REQUEST_TIMEOUT_MS,
    headersTimeoutMs: env.HEADERS_TIMEOUT_MS,
    connectionTimeoutMs: env.CONNECTION_TIMEOUT_MS,
    keepAliveTimeoutMs: env.KEEP_ALIVE_TIMEOUT_MS,
    maxConnections: env.MAX_CONNECTIONS,
    maxRequestsPerSocket: env.MAX_REQUESTS_PER_SOCKET,
    maxConnectionsPerAddress: env.MAX_CONNECTIONS_PER_ADDRESS,
    trustProxy: env.TRUST_PROXY ? env.TRUST_PROXY.split(',').map((s) => s.trim()).filter(Boolean) : undefined,
    rateLimit: flag('RATE_LIMIT', env.RATE_LIMIT),
    rateLimitPerMinute: env.RATE_LIMIT_PER_MINUTE,
    authFailuresPerMinute: env.AUTH_FAILURES_PER_MINUTE,
    metrics: flag('METRICS', env.METRICS),
    metricsToken: env.METRICS_TOKEN || undefined,
  });
  if (!parsed.success) {
    throw new Error(`invalid configuration: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`);
  }
  return parsed.data;
}
