import { dirname, resolve } from 'node:path';
import { z } from 'zod';
import { PROJECT_ROOT } from './paths.js';

const num = (def: number): z.ZodDefault<z.ZodCoercedNumber> => z.coerce.number().int().positive().default(def);

// The same folder whether running from src/ (tsx) or dist/src/ (the production image).
const ROOT = PROJECT_ROOT;

/** Everything the service reads from its environment, validated once at start-up. */
export const configSchema = z
  .object({
    port: num(3000),
    host: z.string().default('0.0.0.0'),
    logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    /** fhir-mappings/: trials and code lists. */
    mappingsDir: z.string().default(resolve(ROOT, 'fhir-mappings')),
    /** A site's own codes added to the code lists (JSON); optional. */
    localCodesFile: z.string().optional(),
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
    /** Trusted issuers and FHIR servers (JSON, see config/trust.example.json). */
    trustFile: z.string().default(resolve(ROOT, 'config', 'trust.example.json')),
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
  .transform((c) => ({
    ...c,
    auditFile: c.auditFile ?? resolve(dirname(c.feedbackFile), 'audit.jsonl'),
    publicBaseUrls: (c.publicBaseUrls ?? [`http://localhost:${c.port}`, `http://127.0.0.1:${c.port}`]).map((u) => u.replace(/\/+$/, '')),
  }));

export type Config = z.output<typeof configSchema>;

/** Reads the configuration from environment variables (PORT, HOST, LOG_LEVEL, ...). */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  return configSchema.parse({
    port: env.PORT,
    host: env.HOST,
    logLevel: env.LOG_LEVEL,
    mappingsDir: env.MAPPINGS_DIR,
    localCodesFile: env.LOCAL_CODES_FILE || undefined,
    cdsHooksDir: env.CDS_HOOKS_DIR,
    bodyLimit: env.BODY_LIMIT_BYTES,
    fhirTimeoutMs: env.FHIR_TIMEOUT_MS,
    fhirMaxPages: env.FHIR_MAX_PAGES,
    fhirMaxResources: env.FHIR_MAX_RESOURCES,
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
  });
}
