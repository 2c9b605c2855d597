import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { z } from 'zod';
import { CORS_ORIGIN_HELP, isCorsOriginPattern } from './cors-origins.js';
import { FHIR_SERVER_HTTPS_HELP, FHIR_SERVER_PATTERN_HELP, isFhirServerPattern, isSecureFhirServerPattern } from './fhir-server-allowlist.js';

/** CDS Hooks 2.0 recommends ES384 / RS384; `none` and the symmetric HS* algorithms are never accepted. */
export const ALLOWED_ALGORITHMS = ['ES256', 'ES384', 'ES512', 'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512'] as const;

const comment = z.string().optional();

const fhirServerPattern = z
  .string()
  .refine(isFhirServerPattern, { message: FHIR_SERVER_PATTERN_HELP })
  .refine((p) => !isFhirServerPattern(p) || isSecureFhirServerPattern(p), { message: FHIR_SERVER_HTTPS_HELP });

/** A public signing key: asymmetric, with a `kid` (keys are picked by `kid`), without private parts. */
const publicJwk = z
  .object({
    kty: z.enum(['EC', 'RSA'], { message: 'only EC and RSA keys are trusted (symmetric "oct" keys are refused)' }),
    kid: z.string().min(1, 'every trusted key needs a kid'),
    alg: z.enum(ALLOWED_ALGORITHMS).optional(),
    use: z.literal('sig').optional(),
  })
  .loose()
  .refine((k) => !('d' in k) && !('p' in k) && !('q' in k), { message: 'a trusted key must be public: remove the private parts (d, p, q, ...)' });

const issuerSchema = z
  .strictObject({
    '//': comment,
    /** The `iss` the EHR puts in its tokens. */
    issuer: z.string().min(1),
    description: z.string().optional(),
    /** The issuer's public keys, inline ... */
    jwks: z.strictObject({ keys: z.array(publicJwk).min(1) }).optional(),
    /** ... or where to fetch them (cached and refreshed; https unless on this machine). */
    jwksUrl: z
      .url({ protocol: /^https?$/ })
      .refine((u) => u.startsWith('https:') || /^http:\/\/(127\.0\.0\.1|localhost|\[::1\])(:|\/)/.test(u), { message: 'jwksUrl must be https (http only on this machine)' })
      .optional(),
    /** The FHIR servers this issuer's calls may name as `fhirServer`. */
    fhirServers: z.array(fhirServerPattern).default([]),
    /**
     * `coordinator` (issue #19 item 2): this issuer's tokens may also read the trials' worklists and set patient
     * states, for the patients of its fhirServers. Without it, an EHR's token opens no worklist.
     */
    roles: z.array(z.literal('coordinator')).default([]),
    /** Development only: serve GET /dev/token, signing with privateJwkFile. */
    devTokenEndpoint: z.boolean().default(false),
    /** The private JWK for devTokenEndpoint, relative to the trust file. */
    privateJwkFile: z.string().optional(),
  })
  .refine((i) => (i.jwks ? 1 : 0) + (i.jwksUrl ? 1 : 0) === 1, { message: 'give exactly one of jwks and jwksUrl', path: ['jwks'] })
  .refine((i) => !i.devTokenEndpoint || (i.privateJwkFile && i.jwks), { message: 'devTokenEndpoint needs an inline jwks and a privateJwkFile', path: ['privateJwkFile'] });

const localOrHttps = (u: string): boolean => u.startsWith('https:') || /^http:\/\/(127\.0\.0\.1|localhost|\[::1\])(:|\/)/.test(u);

/**
 * A SMART on FHIR authorization server whose access tokens the SMART app's calls may carry (issue #11 item 4;
 * RFC 7662 token introspection). Secrets for the introspection call come from the environment, never the file.
 */
const smartServerSchema = z.strictObject({
  '//': comment,
  /** The FHIR base URL the app was launched with (its `iss`), exactly. */
  fhirBaseUrl: z.url({ protocol: /^https?$/ }).refine(localOrHttps, { message: 'fhirBaseUrl must be https (http only on this machine)' }),
  /**
   * The client ids the SMART app is registered under at this server (issue #20 item 6): an introspection answer
   * for any other client's token is refused. The app as shipped (public/smart/launch.js) asks as
   * `trialmatch-cds`; a site that registered it under another id lists that one.
   */
  clientIds: z.array(z.string().min(1)).min(1).default(['trialmatch-cds']),
  /** The authorization server's RFC 7662 introspection endpoint. */
  introspectionUrl: z.url({ protocol: /^https?$/ }).refine(localOrHttps, { message: 'introspectionUrl must be https (http only on this machine)' }),
  /**
   * How the service authenticates to the introspection endpoint (RFC 7662 §2.1): HTTP Basic with a client id
   * and the secret in an environment variable, a bearer token from an environment variable, or (the SMART
   * launcher's way) the access token being checked. None when absent.
   */
  introspectionAuth: z
    .discriminatedUnion('type', [
      z.strictObject({ type: z.literal('basic'), clientId: z.string().min(1), secretEnv: z.string().min(1) }),
      z.strictObject({ type: z.literal('bearer'), tokenEnv: z.string().min(1) }),
      z.strictObject({ type: z.literal('token-itself') }),
    ])
    .optional(),
});

export type SmartServer = z.output<typeof smartServerSchema>;

export const trustConfigSchema = z
  .strictObject({
    '//': comment,
    issuers: z.array(issuerSchema),
    /** FHIR servers allowed when AUTH_MODE=off (there is no issuer to ask). */
    unauthenticatedFhirServers: z.array(fhirServerPattern).default([]),
    /** SMART servers whose access tokens POST /smart/$evaluate accepts (none: the route refuses every call). */
    smartServers: z.array(smartServerSchema).default([]),
    /** Browser origins (browser-based EHRs) allowed to call the service; none by default (issue #12 item 1). */
    corsOrigins: z.array(z.string().refine(isCorsOriginPattern, { message: CORS_ORIGIN_HELP })).default([]),
  })
  .refine((c) => new Set(c.issuers.map((i) => i.issuer)).size === c.issuers.length, { message: 'each issuer may appear once', path: ['issuers'] })
  .refine((c) => c.issuers.filter((i) => i.devTokenEndpoint).length <= 1, { message: 'at most one issuer may have devTokenEndpoint', path: ['issuers'] });

export type TrustConfig = z.output<typeof trustConfigSchema>;
export type TrustedIssuer = TrustConfig['issuers'][number] & { privateJwkPath?: string };

export interface LoadedTrust {
  /** The trust file, or undefined for the empty trust (no TRUST_CONFIG, no DEV_TRUST). */
  file: string | undefined;
  issuers: TrustedIssuer[];
  unauthenticatedFhirServers: string[];
  smartServers?: SmartServer[];
  corsOrigins: string[];
}

/** No issuer, no FHIR server, no origin: every protected call is a 401. */
export const EMPTY_TRUST: LoadedTrust = { file: undefined, issuers: [], unauthenticatedFhirServers: [], corsOrigins: [] };

/**
 * The trust the service runs with (issue #12 item 1): TRUST_CONFIG's file, the development file with
 * DEV_TRUST=1, else the empty trust. A file that trusts a development issuer (devTokenEndpoint, whose
 * private key sits next to it) is refused unless DEV_TRUST=1, so the committed key is never trusted by
 * accident; config.ts already refuses DEV_TRUST with NODE_ENV=production.
 */
export function resolveTrust(config: { trustFile: string | undefined; devTrust: boolean }): LoadedTrust {
  if (!config.trustFile) return EMPTY_TRUST;
  const trust = loadTrustConfig(config.trustFile);
  const dev = trust.issuers.find((i) => i.devTokenEndpoint || i.jwks?.keys.some(isDevelopmentKey));
  if (dev && !config.devTrust) {
    throw new Error(`${config.trustFile}: issuer ${dev.issuer} is a development issuer (devTokenEndpoint, or the development key) whose private key is not secret; it is trusted only with DEV_TRUST=1, never in production`);
  }
  return trust;
}

/**
 * The public half of the development key (config/dev-issuer.private.jwk.json, committed, so anyone can sign
 * with it). Issue #20 item 6: a site's trust file copied from config/trust.example.json without
 * `devTokenEndpoint` still listed this key and trusted every token signed with it; it is now refused by its
 * coordinates, which no other key shares, even where the image holds neither file.
 */
const DEVELOPMENT_KEY_X = 'r5QyBYlIYJAc0prPVnn7i2MBmTrIs6CGiVCP7EqkUNX7OvoIsElckTaxb1sXixFm';

function isDevelopmentKey(jwk: { kty?: unknown; x?: unknown }): boolean {
  return jwk.kty === 'EC' && jwk.x === DEVELOPMENT_KEY_X;
}

/** Reads and validates the trust file; a broken one stops the service at start with the file and path named. */
export function loadTrustConfig(file: string): LoadedTrust {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new Error(`${file}: cannot read the trust configuration: ${err instanceof Error ? err.message : String(err)}`);
  }
  const parsed = trustConfigSchema.safeParse(raw);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
    throw new Error(`${file}: invalid trust configuration: ${issues}`);
  }
  return {
    file,
    issuers: parsed.data.issuers.map((i) => (i.privateJwkFile ? { ...i, privateJwkPath: resolve(dirname(file), i.privateJwkFile) } : i)),
    unauthenticatedFhirServers: parsed.data.unauthenticatedFhirServers,
    smartServers: parsed.data.smartServers,
    corsOrigins: parsed.data.corsOrigins,
  };
}
