import { createLocalJWKSet, createRemoteJWKSet, decodeJwt, decodeProtectedHeader, errors, jwtVerify, type JWTVerifyGetKey } from 'jose';
import { OperationOutcomeError, serviceUnavailable, unauthorized } from '../fhir/outcomes.js';
import { FhirServerAllowlist } from './fhir-server-allowlist.js';
import { ALLOWED_ALGORITHMS, type LoadedTrust, type TrustedIssuer } from './trust-config.js';
import type { ReplayStore } from '../store/shared-state.js';

/** A jti the replay cache can remember: a non-empty string of at most 256 characters. */
function isUsableJti(jti: unknown): jti is string {
  return typeof jti === 'string' && jti.length > 0 && jti.length <= 256;
}

/** Who called, as far as the service could tell, and which FHIR servers that caller may name. */
export interface ClientIdentity {
  /** The verified issuer, or undefined when authentication is off. */
  issuer?: string;
  /** The verified token's `sub` (the EHR user or system), for the audit trail; absent when auth is off. */
  subject?: string;
  fhirServers: FhirServerAllowlist;
}

export interface AuthenticatorOptions {
  trust: LoadedTrust;
  /** Absolute base URLs the service is reached at (no trailing slash). */
  publicBaseUrls: readonly string[];
  leewaySeconds: number;
  maxLifetimeSeconds: number;
  /** Where seen `jti`s are kept: shared by every replica when the state is in PostgreSQL. */
  replay: ReplayStore;
  /** Injected so tests can move time; defaults to the wall clock. */
  now?: () => number;
}

/** The refusal categories, logged (never the token or its claims). */
export type AuthFailure = 'missing' | 'malformed' | 'algorithm' | 'unknown-issuer' | 'signature' | 'audience' | 'expired' | 'claims' | 'replayed' | 'lifetime' | 'busy' | 'keys-unavailable';

/** A refused client: the outcome to answer with (401, or 503 when the service cannot check now) and why, for the log. */
export class AuthError extends OperationOutcomeError {
  constructor(
    readonly failure: AuthFailure,
    refusal: OperationOutcomeError,
  ) {
    super(refusal.outcome);
    this.name = 'AuthError';
  }
}

interface IssuerKeys {
  config: TrustedIssuer;
  keys: JWTVerifyGetKey;
  fhirServers: FhirServerAllowlist;
}

/**
 * Verifies `Authorization: Bearer <JWT>` per CDS Hooks 2.0 §Trusting CDS Clients: the issuer must be
 * configured, the key is picked by `kid` from that issuer's JWK Set (inline, or fetched from jwksUrl and
 * cached by jose, refetched when an unknown kid arrives), only asymmetric algorithms, `aud` the URL called,
 * `exp` checked with leeway, `jti` never seen before. A `jku` header is ignored: keys come only from the
 * configuration, never from a URL the token names.
 */
export class ClientAuthenticator {
  private readonly issuers = new Map<string, IssuerKeys>();
  private readonly now: () => number;

  constructor(private readonly options: AuthenticatorOptions) {
    this.now = options.now ?? Date.now;
    for (const config of options.trust.issuers) {
      const keys = config.jwks
        ? createLocalJWKSet({ keys: config.jwks.keys })
        : createRemoteJWKSet(new URL(config.jwksUrl as string), { timeoutDuration: 5000, cooldownDuration: 30_000, cacheMaxAge: 10 * 60_000 });
      this.issuers.set(config.issuer, { config, keys, fhirServers: new FhirServerAllowlist(config.fhirServers) });
    }
  }

  /**
   * The `aud` values accepted for a call: each public base URL plus the path called, with or without the
   * query string it was called with (CDS Hooks: `aud` is the URL called).
   */
  audiencesFor(requestUrl: string): string[] {
    const path = requestUrl.split('?')[0] ?? requestUrl;
    const forms = path === requestUrl ? [path] : [path, requestUrl];
    return this.options.publicBaseUrls.flatMap((base) => forms.map((f) => `${base}${f}`));
  }

  /** @param requestUrl the path and query called, as sent (fastify's request.url) */
  async authenticate(authorization: string | undefined, requestUrl: string): Promise<ClientIdentity> {
    if (!authorization) throw new AuthError('missing', unauthorized('this endpoint needs an Authorization: Bearer <JWT> header (CDS Hooks 2.0 §Trusting CDS Clients)', 'login'));
    // RFC 6750 §2.1 / RFC 9110 §11.1: the auth scheme is case-insensitive ("bearer" is as good as "Bearer").
    const m = /^Bearer\s+([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*)$/i.exec(authorization.trim());
    if (!m) throw new AuthError('malformed', unauthorized('the Authorization header must be "Bearer" followed by a compact JWT'));
    const token = m[1] as string;
    let alg: unknown;
    let iss: unknown;
    try {
      alg = decodeProtectedHeader(token).alg;
      iss = decodeJwt(token).iss;
    } catch {
      throw new AuthError('malformed', unauthorized('the bearer token is not a readable JWT'));
    }
    if (typeof alg !== 'string' || !(ALLOWED_ALGORITHMS as readonly string[]).includes(alg)) {
      throw new AuthError('algorithm', unauthorized(`the token's algorithm is not accepted; use one of ${ALLOWED_ALGORITHMS.join(', ')}`));
    }
    const issuer = typeof iss === 'string' ? this.issuers.get(iss) : undefined;
    if (!issuer) throw new AuthError('unknown-issuer', unauthorized('the token\'s issuer (iss) is not a trusted issuer of this service'));
    const audience = this.audiencesFor(requestUrl);
    let payload;
    try {
      ({ payload } = await jwtVerify(token, issuer.keys, {
        issuer: issuer.config.issuer,
        audience,
        algorithms: [...ALLOWED_ALGORITHMS],
        clockTolerance: this.options.leewaySeconds,
        currentDate: new Date(this.now()),
        requiredClaims: ['iss', 'aud', 'exp', 'iat', 'jti'],
      }));
    } catch (err) {
      throw this.refusal(err, audience);
    }
    const nowMs = this.now();
    // Issue #12 item 5: jose checks iat's type only. A token issued in the future (beyond the leeway) is not
    // one the EHR just signed; a jti must be a non-empty string (CDS Hooks 2.0 §Trusting CDS Clients: a
    // nonce) to be remembered for replay. `sub` is not required: the project's checklist lists iss, aud, exp,
    // iat and jti, and the CDS Hooks sandbox's tokens carry no sub (docs/security.md).
    if (typeof payload.iat !== 'number' || payload.iat * 1000 > nowMs + this.options.leewaySeconds * 1000) {
      throw new AuthError('claims', unauthorized('the token\'s iat claim is in the future'));
    }
    const jti = payload.jti;
    if (!isUsableJti(jti)) {
      throw new AuthError('claims', unauthorized('the token\'s jti claim must be a non-empty string of at most 256 characters'));
    }
    const expMs = (payload.exp as number) * 1000;
    if (expMs - nowMs > this.options.maxLifetimeSeconds * 1000) {
      throw new AuthError('lifetime', unauthorized(`the token's exp is more than ${this.options.maxLifetimeSeconds} s ahead`));
    }
    const seen = await this.options.replay.check(issuer.config.issuer, jti, new Date(expMs + this.options.leewaySeconds * 1000), new Date(nowMs));
    if (seen === 'replayed') throw new AuthError('replayed', unauthorized('this token (jti) has been used before; send a new token with every call'));
    if (seen === 'full') throw new AuthError('busy', serviceUnavailable('too many live tokens to check for replay; try again shortly'));
    return { issuer: issuer.config.issuer, ...(typeof payload.sub === 'string' ? { subject: payload.sub } : {}), fhirServers: issuer.fhirServers };
  }

  private refusal(err: unknown, audience: string[]): AuthError {
    if (err instanceof errors.JWTExpired) return new AuthError('expired', unauthorized('the token has expired (exp)', 'expired'));
    if (err instanceof errors.JWTClaimValidationFailed) {
      if (err.claim === 'aud') return new AuthError('audience', unauthorized(`the token's aud must be the URL called: ${audience[0] ?? ''}`));
      return new AuthError('claims', unauthorized(`the token's ${err.claim} claim is missing or not valid (${err.reason})`));
    }
    // A key set that cannot be fetched (network, timeout, not 200) is the service's problem, not the caller's.
    if (err instanceof errors.JWKSTimeout || !(err instanceof errors.JOSEError) || err.code === 'ERR_JOSE_GENERIC') {
      return new AuthError('keys-unavailable', serviceUnavailable('the issuer\'s keys could not be fetched; try again shortly'));
    }
    if (err instanceof errors.JWKSNoMatchingKey || err instanceof errors.JWKSMultipleMatchingKeys) {
      return new AuthError('signature', unauthorized('no trusted key of this issuer matches the token\'s kid and alg'));
    }
    if (err instanceof errors.JOSEAlgNotAllowed) return new AuthError('algorithm', unauthorized('the token\'s algorithm is not accepted'));
    return new AuthError('signature', unauthorized('the token\'s signature could not be verified'));
  }
}
