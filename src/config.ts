import { dirname, resolve } from 'node:path';
import { z } from 'zod';
import { PROJECT_ROOT } from './paths.js';
import { FHIR_SERVER_HTTPS_HELP, FHIR_SERVER_PATTERN_HELP, isFhirServerPattern, isSecureFhirServerPattern } from './security/fhir-server-allowlist.js';

/** A positive whole number with its default (most settings: counts, sizes, durations). */
export const num = (def: number): z.ZodDefault<z.ZodCoercedNumber> => z.coerce.number().int().positive().default(def);

// The same folder whether running from src/ (tsx) or dist/src/ (the production image).
const ROOT = PROJECT_ROOT;

/** The development trust file: trusts a committed key and FHIR servers on this machine. DEV_TRUST=1 only. */
export const DEV_TRUST_FILE = resolve(ROOT, 'config', 'trust.example.json');

/** The example site file (issue #19 item 3): example contacts, every trial open; used with DEMO=1 when SITE_FILE is unset. */
export const SITE_EXAMPLE_FILE = resolve(ROOT, 'config', 'site.example.json');

/** An on/off switch from the environment: 1/true/on/yes, 0/false/off/no, or absent. */
const flag = (name: string, value: string | undefined): boolean | undefined => {
  if (value === undefined || value === '') return undefined;
  if (/^(1|true|on|yes)$/i.test(value)) return true;
  if (/^(0|false|off|no)$/i.test(value)) return false;
  throw new Error(`${name}=${value}: give 1 or 0`);
};

/**
 * One setting: the environment variable it is read from and what docs/configuration.md says of it (issue #21
 * item 2: that page is generated from here by `npm run docs:config`, and a test fails when it is stale). A
 * setting added to the schema below with `setting(...)` is read by loadConfig and documented with no other change.
 */
export interface SettingDoc {
  env: string;
  /** What it does, for the person deploying the service. */
  doc: string;
  /** What NODE_ENV=production requires of it (the rules in configSchema's superRefine). */
  production?: string;
  /**
   * How the variable's text becomes the value: as written (`text`, the default), an on/off switch (`flag`), a
   * comma-separated list (`list`), a base URL without its trailing slashes (`base-url`), or whether it says
   * `production` (`node-env`). An empty variable is the same as an unset one.
   */
  read?: 'text' | 'flag' | 'list' | 'base-url' | 'node-env';
  /** The default as the page shows it, when the schema's own is computed (a path beside another setting). */
  shownDefault?: string;
}

/** Every setting's environment variable and documentation, keyed by its schema. */
export const settingDocs = z.registry<SettingDoc>();

/** Declares a setting: its schema, registered with its environment variable and documentation. */
export const setting = <T extends z.ZodType>(schema: T, meta: SettingDoc): T => {
  settingDocs.add(schema, meta);
  return schema;
};

export const configShape = {
  port: setting(num(3000), { env: 'PORT', doc: 'TCP port the service listens on.' }),
  host: setting(z.string().default('127.0.0.1'), {
    env: 'HOST',
    doc: 'Address the service binds to: loopback unless HOST says otherwise (issue #12 item 1); the Docker image sets HOST=0.0.0.0.',
  }),
  production: setting(z.boolean().default(false), {
    env: 'NODE_ENV',
    read: 'node-env',
    shownDefault: 'unset (development)',
    doc: '`production` turns on the production rules (the last column): no development trust, and a real TRUST_CONFIG, PUBLIC_BASE_URL and METRICS_TOKEN are required. Any other value is development.',
  }),
  devTrust: setting(z.boolean().default(false), {
    env: 'DEV_TRUST',
    read: 'flag',
    doc: 'The development trust (config/trust.example.json, unless TRUST_CONFIG names another: a committed key, FHIR servers on this machine only) and GET /dev/token. `npm start` sets it.',
    production: 'refused: the development key is public',
  }),
  demo: setting(z.boolean().default(false), {
    env: 'DEMO',
    read: 'flag',
    doc: 'The demo EHR page (/demo/) and the bundled example patients (/examples), for trying the service (`npm start` sets it). Off, a process serves neither and / names the routes (issue #20 item 6).',
  }),
  logLevel: setting(z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'), {
    env: 'LOG_LEVEL',
    doc: 'pino log level of the operational log (which never holds patient data or tokens, at any level).',
  }),
  mappingsDir: setting(z.string().default(resolve(ROOT, 'fhir-mappings')), {
    env: 'MAPPINGS_DIR',
    doc: 'The folder of trials and code lists (trials/, valuesets/, expansions/, orderables.json; fhir-mappings/README.md). `npm run check-trial` reads the same folder.',
  }),
  localCodesFile: setting(z.string().optional(), {
    env: 'LOCAL_CODES_FILE',
    doc: 'A site\'s own codes added to the code lists (JSON; fhir-mappings/local-codes.example.json). Optional.',
  }),
  localConceptMapFile: setting(z.string().optional(), {
    env: 'LOCAL_CONCEPT_MAP_FILE',
    doc: 'A site\'s local codes as a FHIR R4 ConceptMap (JSON): each local code is read as its mapped target(s), by the map\'s equivalence (src/terminology/concept-map.ts); beside or instead of LOCAL_CODES_FILE. Optional.',
  }),
  terminologyServer: setting(
    z
      .string()
      .refine(isFhirServerPattern, { message: FHIR_SERVER_PATTERN_HELP })
      .refine(isSecureFhirServerPattern, { message: FHIR_SERVER_HTTPS_HELP })
      .optional(),
    {
      env: 'TERMINOLOGY_SERVER',
      read: 'base-url',
      doc: 'A site\'s FHIR R4 terminology server (base URL; https, or http on this machine): codes of the record the lists do not place are settled there ($validate-code, $subsumes, $translate; src/terminology/server-client.ts), with the limits of FHIR_TIMEOUT_MS and FHIR_MAX_RESPONSE_BYTES. Optional.',
    },
  ),
  terminologyMaxLookups: setting(num(64), {
    env: 'TERMINOLOGY_MAX_LOOKUPS',
    doc: 'Questions (a code and a list, or a local code to translate) sent to the terminology server per hook at most; the rest stay unplaced (counted on /metrics).',
  }),
  terminologyBudgetMs: setting(num(1500), {
    env: 'TERMINOLOGY_BUDGET_MS',
    doc: 'Total time per hook for the terminology server, in milliseconds; what is still unanswered then stays unplaced.',
  }),
  terminologyCacheSeconds: setting(num(86_400), {
    env: 'TERMINOLOGY_CACHE_SECONDS',
    doc: 'How long a terminology server\'s answer is reused (shared by the replicas with DATABASE_URL: table terminology_cache).',
  }),
  terminologyCacheSize: setting(num(100_000), {
    env: 'TERMINOLOGY_CACHE_SIZE',
    doc: 'Terminology answers kept in memory in the embedded mode (the oldest are forgotten first).',
  }),
  siteFile: setting(z.string().optional(), {
    env: 'SITE_FILE',
    shownDefault: 'config/site.example.json with DEMO=1, else unset',
    doc: 'The site file (JSON; config/site.example.json shows the shape, src/trials/site-file.ts reads it): per trial, the site\'s default status (open, paused, closed, not-participating) and its study contact, shown on cards and in the apps. A coordinator changes the status at run time (PUT /trials/{id}/site-status). Unset: the example file with DEMO=1, else every trial open at this site with no contact (the registry decides).',
  }),
  registryRecordsDir: setting(z.string().optional(), {
    env: 'REGISTRY_RECORDS_DIR',
    doc: 'A folder of ClinicalTrials.gov API v2 study records (`GET https://clinicaltrials.gov/api/v2/studies/{nctId}` saved as <anything>.json; src/trials/ctgov-record.ts): each refreshes its trial\'s registry status when verified on or after the protocol document\'s date. Read at start (a new file needs a restart). Optional.',
  }),
  cdsHooksDir: setting(z.string().default(resolve(ROOT, 'cds-hooks')), {
    env: 'CDS_HOOKS_DIR',
    doc: 'The folder of CDS Hooks service descriptors and, under examples/, the example patients.',
  }),
  bodyLimit: setting(num(10 * 1024 * 1024), { env: 'BODY_LIMIT_BYTES', doc: 'Largest request body accepted, in bytes (10 MiB); a larger one is a 413.' }),
  fhirTimeoutMs: setting(num(8000), { env: 'FHIR_TIMEOUT_MS', doc: 'Time allowed for one call to the EHR\'s FHIR server (or the terminology server), in milliseconds; past it that data is unknown.' }),
  fhirMaxPages: setting(num(200), {
    env: 'FHIR_MAX_PAGES',
    // Every search asks for _count=200 (HAPI's maximum page size, hapi-fhir-jpaserver-starter application.yaml
    // max_page_size), and real Synthea lupus patients hold up to 2,900 Procedures: 15 pages. 200 pages reach
    // FHIR_MAX_RESOURCES (20,000) on a server that serves only 100 a page, so the resource cap and the hook's
    // time decide before this does; at the old 50 a server paging at 20 stopped at 1,000 resources. Measured
    // on HAPI 8.8.0 (test/integration/large-and-paged-records.test.ts): about 0.4 s a page of 200.
    doc: 'Bundle pages followed per search before giving up (a looping `next` link stops here); every search asks for 200 a page. Past it that data is unknown.',
  }),
  fhirMaxResources: setting(num(20000), { env: 'FHIR_MAX_RESOURCES', doc: 'Resources accepted per search, across its pages; past it that data is unknown.' }),
  fhirMaxResponseBytes: setting(num(50 * 1024 * 1024), { env: 'FHIR_MAX_RESPONSE_BYTES', doc: 'Largest answer read from the FHIR server (or the terminology server), per page, in bytes (50 MiB); past it that data is unknown.' }),
  maxResourcesPerHook: setting(num(50000), { env: 'MAX_RESOURCES_PER_HOOK', doc: 'Resources accepted per hook call, prefetch and fetched together; more is a 413.' }),
  fhirSearchConcurrency: setting(num(6), {
    env: 'FHIR_SEARCH_CONCURRENCY',
    doc: 'Requests one hook has in flight at once on the EHR\'s FHIR server (issue #21 item 4): its searches run side by side up to this many, the rest wait their turn, so a few large records at once do not open one connection per search each.',
  }),
  hookTimeoutMs: setting(num(10000), {
    env: 'HOOK_TIMEOUT_MS',
    doc: 'Total time for gathering one hook\'s data, in milliseconds; the hook then answers with what it has, and the keys still outstanding are unknown ("took longer").',
  }),
  authMode: setting(z.enum(['on', 'off']).default('on'), {
    env: 'AUTH_MODE',
    doc: 'CDS Hooks 2.0 §Trusting CDS Clients: `on` verifies the EHR\'s JWT on every protected route; `off` is a development mode that accepts unsigned calls (and says so loudly at start-up).',
    production: '`off` is refused',
  }),
  trustFile: setting(z.string().optional(), {
    env: 'TRUST_CONFIG',
    shownDefault: 'unset: config/trust.example.json with DEV_TRUST=1, else no issuer is trusted',
    doc: 'The trust file: trusted issuers, the FHIR servers each may name, CORS origins, SMART servers (JSON, validated at start; config/trust.example.json, docs/security.md). With no trust every protected call is a 401.',
    production: 'required',
  }),
  publicBaseUrls: setting(z.array(z.url({ protocol: /^https?$/ })).optional(), {
    env: 'PUBLIC_BASE_URL',
    read: 'list',
    shownDefault: 'http://localhost:PORT, http://127.0.0.1:PORT',
    doc: 'The URLs the service is reached at, comma-separated, without a trailing slash: a token\'s `aud` must be one of these plus the path called, and cards link to the app under the first.',
    production: 'required',
  }),
  jwtLeewaySeconds: setting(z.coerce.number().int().nonnegative().default(60), { env: 'JWT_LEEWAY_SECONDS', doc: 'Clock skew allowed on a client JWT\'s `exp`, `iat` and `nbf`, in seconds.' }),
  jwtMaxLifetimeSeconds: setting(num(3600), { env: 'JWT_MAX_LIFETIME_SECONDS', doc: 'Tokens whose `exp` is further ahead than this are refused (bounds the replay cache), in seconds.' }),
  jtiCacheSize: setting(num(200_000), { env: 'JTI_CACHE_SIZE', doc: 'Live `jti`s remembered to refuse replays; when full of unexpired ones, new tokens get a 503.' }),
  jtiIssuerQuota: setting(num(100_000), {
    env: 'JTI_ISSUER_QUOTA',
    doc: 'Live `jti`s one issuer may hold in the replay store (issue #12 item 3): one issuer filling it gets 503s, the others keep working. Capped by JTI_CACHE_SIZE.',
  }),
  requestTimeoutMs: setting(num(30_000), {
    env: 'REQUEST_TIMEOUT_MS',
    doc: 'The whole request, headers and body, must arrive within it, else 408 (issue #12 item 2: a slow body must not hold a socket forever); above HOOK_TIMEOUT_MS.',
  }),
  headersTimeoutMs: setting(num(10_000), { env: 'HEADERS_TIMEOUT_MS', doc: 'Node\'s headersTimeout: the request\'s headers must arrive within it, in milliseconds.' }),
  connectionTimeoutMs: setting(num(60_000), { env: 'CONNECTION_TIMEOUT_MS', doc: 'fastify\'s connectionTimeout: an idle socket is closed after it, in milliseconds.' }),
  keepAliveTimeoutMs: setting(num(5_000), { env: 'KEEP_ALIVE_TIMEOUT_MS', doc: 'How long an idle keep-alive connection is kept open, in milliseconds.' }),
  maxConnections: setting(num(1024), { env: 'MAX_CONNECTIONS', doc: 'Open connections accepted at once; more are refused by the socket (server.maxConnections).' }),
  maxConnectionsPerAddress: setting(num(64), {
    env: 'MAX_CONNECTIONS_PER_ADDRESS',
    doc: 'Open connections one client address may hold (issue #20 item 3: one address\'s trickling sockets must not starve the others); more are closed as they open. Trusted proxies (TRUST_PROXY) are exempt.',
  }),
  maxRequestsPerSocket: setting(num(10_000), { env: 'MAX_REQUESTS_PER_SOCKET', doc: 'Requests served on one keep-alive connection before it is closed.' }),
  trustProxy: setting(
    z.array(z.string().regex(/^(loopback|linklocal|uniquelocal|[0-9a-fA-F.:]+(\/\d{1,3})?)$/, 'TRUST_PROXY lists addresses, CIDR ranges or loopback / linklocal / uniquelocal')).optional(),
    {
      env: 'TRUST_PROXY',
      read: 'list',
      doc: 'The reverse proxies in front of the service (issue #20 item 2): addresses or CIDR ranges, or `loopback` / `linklocal` / `uniquelocal`, comma-separated (fastify\'s trustProxy, read by proxy-addr). A request through one of them is judged by the client address its X-Forwarded-For names, so one client\'s bad tokens or request rate no longer throttle every EHR behind the proxy. Unset: X-Forwarded-For is ignored (anyone could write it).',
    },
  ),
  rateLimit: setting(z.boolean().default(true), { env: 'RATE_LIMIT', read: 'flag', doc: '`off` turns off the request and failure limits below (for the bench and soak only).' }),
  rateLimitPerMinute: setting(num(1200), {
    env: 'RATE_LIMIT_PER_MINUTE',
    doc: 'Requests per minute per verified issuer on protected routes, per client address on the others; past it a 429 OperationOutcome.',
  }),
  authFailuresPerMinute: setting(num(60), {
    env: 'AUTH_FAILURES_PER_MINUTE',
    doc: 'Refused tokens per minute per client address; past it the service answers 429 without verifying (a cheap refusal).',
  }),
  metrics: setting(z.boolean().default(true), { env: 'METRICS', read: 'flag', doc: 'GET /metrics (Prometheus text); `off` removes the route.' }),
  metricsToken: setting(z.string().min(16, 'METRICS_TOKEN must be at least 16 characters').optional(), {
    env: 'METRICS_TOKEN',
    doc: 'When set (16 characters or more), /metrics needs `Authorization: Bearer <METRICS_TOKEN>`, and /readyz says why it is not ready only to that bearer (anonymous callers learn up or down).',
    production: 'required while METRICS is on',
  }),
  feedbackFile: setting(z.string().default(resolve(ROOT, 'data', 'feedback.jsonl')), {
    env: 'FEEDBACK_FILE',
    doc: 'The embedded mode\'s durable journal (JSON lines, fsync\'d): feedback, the card -> trial map, suppressions, the replay store. One process per file (a lock file beside it).',
  }),
  feedbackMaxCards: setting(num(100_000), { env: 'FEEDBACK_MAX_CARDS', doc: 'Card uuid -> trial mappings kept (in memory and in the journal) to attribute feedback.' }),
  databaseUrl: setting(z.string().min(1).optional(), {
    env: 'DATABASE_URL',
    doc: 'PostgreSQL for the shared state (feedback, card -> trial map, suppressions, replay store, audit trail, terminology cache), so several replicas share it; migrations are applied at start (docs/deployment.md). Unset: the embedded journal, one process only.',
  }),
  feedbackRetentionDays: setting(num(30), {
    env: 'FEEDBACK_RETENTION_DAYS',
    doc: 'Days a feedback item is kept item by item (embedded journal line, PostgreSQL row); older items live on only in the per-issuer counts, and their cards are forgotten (feedback on them is an unknown card). Keeps the journal, and so start-up, from growing with history (issue #20 item 4).',
  }),
  auditFile: setting(z.string().optional(), {
    env: 'AUDIT_FILE',
    shownDefault: 'audit.jsonl beside FEEDBACK_FILE',
    doc: 'The audit trail in the embedded mode (JSON lines, never the operational log): who evaluated which patient, when (docs/deployment.md, "The audit trail").',
  }),
  screeningFile: setting(z.string().optional(), {
    env: 'SCREENING_FILE',
    shownDefault: 'screening.jsonl beside FEEDBACK_FILE',
    doc: 'Population screening results and the coordinator\'s patient states in the embedded mode (issue #19), a journal of their own. With DATABASE_URL they are in PostgreSQL.',
  }),
  referralSuggestions: setting(z.boolean().default(true), {
    env: 'REFERRAL_SUGGESTIONS',
    read: 'flag',
    doc: 'Each likely or possibly eligible card offers "Refer to the study team" (issue #19 item 4): a draft ServiceRequest (category Patient referral) to the study contact; an accepted one marks the patient "referred" on the trial\'s worklist. On by default; `0` leaves it off the cards (about 700 bytes a card).',
  }),
  bulkWorkDir: setting(z.string().optional(), {
    env: 'BULK_WORK_DIR',
    shownDefault: 'a folder under the system\'s temporary directory',
    doc: 'Population screening (issue #19 item 1, src/bulk/): where a job\'s Bulk Data export files are written while it runs (removed when it ends).',
  }),
  populationJobsFile: setting(z.string().optional(), {
    env: 'POPULATION_JOBS_FILE',
    shownDefault: 'population-jobs.json beside FEEDBACK_FILE',
    doc: 'The embedded mode\'s population jobs (their watermarks for the next incremental job, `_since`). With DATABASE_URL they are in PostgreSQL.',
  }),
  bulkJobTimeoutMs: setting(num(3_600_000), { env: 'BULK_JOB_TIMEOUT_MS', doc: 'A whole Bulk Data export, kick-off to manifest, at most this long (milliseconds); past it the export is cancelled (DELETE on its status URL).' }),
  bulkPollMinMs: setting(num(1000), { env: 'BULK_POLL_MIN_MS', doc: 'Status polls of an export: the server\'s Retry-After is honoured, but never sooner than this (milliseconds).' }),
  bulkPollMaxMs: setting(num(30_000), { env: 'BULK_POLL_MAX_MS', doc: 'Status polls of an export: the server\'s Retry-After is honoured, but never later than this (milliseconds).' }),
  bulkMaxFileBytes: setting(num(4 * 1024 ** 3), { env: 'BULK_MAX_FILE_BYTES', doc: 'The largest export file accepted, in bytes (4 GiB); a larger one fails the job.' }),
  bulkClientId: setting(z.string().min(1).optional(), {
    env: 'BULK_CLIENT_ID',
    doc: 'SMART Backend Services (SMART App Launch 2.x, Backend Services) for a FHIR server not on this machine: the client id registered with its authorization server. A job against a server not on loopback is refused without it and BULK_PRIVATE_KEY_FILE.',
  }),
  bulkPrivateKeyFile: setting(z.string().min(1).optional(), {
    env: 'BULK_PRIVATE_KEY_FILE',
    doc: 'The Backend Services client\'s private key as a JWK file (RS384 or ES384, with its `kid`).',
  }),
  bulkScope: setting(z.string().min(1).optional(), {
    env: 'BULK_SCOPE',
    shownDefault: 'system/<Type>.read for each type exported',
    doc: 'The scopes a population job asks the authorization server for.',
  }),
  bulkBuckets: setting(num(16), { env: 'BULK_BUCKETS', doc: 'With DATABASE_URL, a job\'s patients are split into this many buckets, each screened as a chunk of the PostgreSQL job queue (pg-boss) by whichever replica takes it.' }),
  bulkChunkExpireSeconds: setting(num(900), { env: 'BULK_CHUNK_EXPIRE_SECONDS', doc: 'A chunk not finished within this many seconds is taken as lost (its replica died) and given to another.' }),
  bulkChunkRetries: setting(num(3), { env: 'BULK_CHUNK_RETRIES', doc: 'Retries of a chunk that failed or was lost, before the job fails.' }),
  bulkQueuePollSeconds: setting(num(2), { env: 'BULK_QUEUE_POLL_SECONDS', doc: 'How often (seconds) a replica looks for chunks of the job queue, and for lost ones.' }),
  suppressionDays: setting(num(90), {
    env: 'SUPPRESSION_DAYS',
    doc: 'Days a card stays hidden for a patient after an override reason that suppresses (src/cds/override-reasons.ts).',
  }),
  suppressionSecret: setting(z.string().min(16, 'SUPPRESSION_SECRET must be at least 16 characters').optional(), {
    env: 'SUPPRESSION_SECRET',
    shownDefault: 'generated once (embedded mode)',
    doc: 'HMAC-SHA256 key of suppression keys (src/security/suppression-key.ts), so no raw patient id is stored; 16 characters or more. Required with DATABASE_URL (every replica needs the same one); in the embedded mode, when unset, a random one is generated once and kept in a 0600 file beside the journal.',
  }),
  smartIntrospectionCacheSeconds: setting(num(60), {
    env: 'SMART_INTROSPECTION_CACHE_SECONDS',
    doc: 'POST /smart/$evaluate (issue #11 item 4): an active answer from the SMART server\'s token introspection is reused this long at most (never past the token\'s exp), so one app load asks once, not per call.',
  }),
};

/** Everything the service reads from its environment, validated once at start-up. */
export const configSchema = z
  .object(configShape)
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
    screeningFile: c.screeningFile ?? resolve(dirname(c.feedbackFile), 'screening.jsonl'),
    populationJobsFile: c.populationJobsFile ?? resolve(dirname(c.feedbackFile), 'population-jobs.json'),
    siteFile: c.siteFile ?? (c.demo ? SITE_EXAMPLE_FILE : undefined),
    trustFile: c.trustFile ?? (c.devTrust ? DEV_TRUST_FILE : undefined),
    publicBaseUrls: (c.publicBaseUrls ?? [`http://localhost:${c.port}`, `http://127.0.0.1:${c.port}`]).map((u) => u.replace(/\/+$/, '')),
  }));

export type Config = z.output<typeof configSchema>;

/** One variable's text as its setting reads it (SettingDoc.read); empty is unset. */
function readSetting(meta: SettingDoc, value: string | undefined): unknown {
  if (meta.read === 'node-env') return value === 'production';
  if (value === undefined || value === '') return undefined;
  switch (meta.read ?? 'text') {
    case 'flag':
      return flag(meta.env, value);
    case 'list': {
      const items = value.split(',').map((s) => s.trim()).filter(Boolean);
      return items.length > 0 ? items : undefined;
    }
    case 'base-url':
      return value.replace(/\/+$/, '') || undefined;
    case 'text':
      return value;
  }
}

/** Each setting's environment variable and documentation, in the schema's order. */
export function settingsOf(shape: Readonly<Record<string, z.ZodType>> = configShape): { key: string; schema: z.ZodType; meta: SettingDoc }[] {
  return Object.entries(shape).flatMap(([key, schema]) => {
    const meta = settingDocs.get(schema);
    if (!meta) throw new Error(`setting ${key} has no environment variable: declare it with setting(schema, { env, doc })`);
    return [{ key, schema, meta }];
  });
}

/** Reads the configuration from its environment variables (docs/configuration.md lists them). */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const input = Object.fromEntries(settingsOf().map(({ key, meta }) => [key, readSetting(meta, env[meta.env])]));
  const parsed = configSchema.safeParse(input);
  if (!parsed.success) {
    throw new Error(`invalid configuration: ${parsed.error.issues.map((i) => `${issueName(i.path)}: ${i.message}`).join('; ')}`);
  }
  return parsed.data;
}

/** An issue's setting by its environment variable (the name a site sets), else its path. */
function issueName(path: readonly PropertyKey[]): string {
  const key = path[0];
  const setting = typeof key === 'string' ? (configShape as Record<string, z.ZodType | undefined>)[key] : undefined;
  const env = setting ? settingDocs.get(setting)?.env : undefined;
  return env ? [env, ...path.slice(1)].join('.') : path.join('.') || '(root)';
}
