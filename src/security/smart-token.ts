import { createHash } from 'node:crypto';
import { forbidden, serviceUnavailable, unauthorized, type OperationOutcomeError } from '../fhir/outcomes.js';
import type { SmartServer } from './trust-config.js';

/**
 * The SMART app (issue #11 item 4) has no client key of its own: the service accepts its calls on the
 * strength of the user's SMART access token, checked by RFC 7662 token introspection at the authorization
 * server of a SMART server listed in the trust file. Never a server the caller names on its own: the
 * `fhirServer` it sends only picks one of the listed entries.
 */
export interface SmartTokenVerifierOptions {
  servers: readonly SmartServer[];
  /** Positive introspection answers are reused this long at most (and never past the token's exp). */
  cacheSeconds: number;
  /** Entries kept in the cache; the oldest go first. */
  cacheSize?: number;
  timeoutMs: number;
  clock: () => Date;
  fetch?: typeof fetch;
  env?: NodeJS.ProcessEnv;
}

/** What the service relies on from an active token. */
export interface SmartTokenInfo {
  /** The patient in context (SMART App Launch 2.x §Launch context: `patient`). */
  patient: string;
  scope: string;
  /** Expiry, seconds since the epoch. */
  exp: number;
  clientId?: string;
  fhirUser?: string;
  /** The listed SMART server it was checked at. */
  fhirBaseUrl: string;
}

/** A refusal with its category, for the log (never the token or its claims). */
export class SmartTokenError extends Error {
  constructor(
    readonly outcome: OperationOutcomeError,
    readonly failure: 'missing' | 'unknown-server' | 'inactive' | 'expired' | 'no-patient' | 'introspection-failed',
  ) {
    super(failure);
  }
}

const normalise = (url: string): string => url.replace(/\/+$/, '');

/** Reads the bearer token of an Authorization header (RFC 6750 §2.1), or undefined. */
export function bearerToken(header: string | undefined): string | undefined {
  const m = /^Bearer +([A-Za-z0-9\-._~+/]+=*) *$/i.exec(header ?? '');
  return m?.[1];
}

export class SmartTokenVerifier {
  private readonly servers: Map<string, SmartServer>;
  private readonly cache = new Map<string, { info: SmartTokenInfo; until: number }>();
  private readonly doFetch: typeof fetch;

  constructor(private readonly options: SmartTokenVerifierOptions) {
    this.servers = new Map(options.servers.map((s) => [normalise(s.fhirBaseUrl), s]));
    this.doFetch = options.fetch ?? fetch;
  }

  /** The FHIR base URLs whose tokens are accepted. */
  get fhirBaseUrls(): string[] {
    return [...this.servers.keys()];
  }

  /**
   * Checks the token at the listed server for `fhirServer`: 401 without one, for an unlisted server, or
   * when the answer is not active, expired or names no patient; 503 when the check could not be made.
   */
  async verify(fhirServer: string, authorization: string | undefined): Promise<SmartTokenInfo> {
    const token = bearerToken(authorization);
    if (!token) throw new SmartTokenError(unauthorized('a SMART access token is required (Authorization: Bearer ...)', 'login'), 'missing');
    const server = this.servers.get(normalise(fhirServer));
    if (!server) throw new SmartTokenError(unauthorized('tokens from this FHIR server are not accepted: it is not a trusted SMART server'), 'unknown-server');
    const now = this.options.clock().getTime();
    // Keyed by a hash of server and token: the cache never holds a usable token.
    const key = createHash('sha256').update(server.introspectionUrl).update('\n').update(token).digest('base64url');
    const hit = this.cache.get(key);
    if (hit && hit.until > now) return hit.info;
    if (hit) this.cache.delete(key);
    const info = this.accept(await this.introspect(server, token), server, now);
    this.remember(key, info, now);
    return info;
  }

  private async introspect(server: SmartServer, token: string): Promise<Record<string, unknown>> {
    const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' };
    const auth = server.introspectionAuth;
    const env = this.options.env ?? process.env;
    if (auth?.type === 'token-itself') headers.authorization = `Bearer ${token}`;
    else if (auth?.type === 'bearer') headers.authorization = `Bearer ${env[auth.tokenEnv] ?? ''}`;
    else if (auth?.type === 'basic') {
      // RFC 6749 §2.3.1: client id and secret form-urlencoded before base64.
      const pair = `${encodeURIComponent(auth.clientId)}:${encodeURIComponent(env[auth.secretEnv] ?? '')}`;
      headers.authorization = `Basic ${Buffer.from(pair).toString('base64')}`;
    }
    const failed = (): SmartTokenError => new SmartTokenError(serviceUnavailable('the SMART authorization server could not check the token; try again'), 'introspection-failed');
    let response: Response;
    try {
      response = await this.doFetch(server.introspectionUrl, {
        method: 'POST',
        headers,
        body: new URLSearchParams({ token, token_type_hint: 'access_token' }).toString(),
        redirect: 'error',
        signal: AbortSignal.timeout(this.options.timeoutMs),
      });
    } catch {
      throw failed();
    }
    if (!response.ok) throw failed();
    try {
      const body: unknown = await response.json();
      if (body && typeof body === 'object' && !Array.isArray(body)) return body as Record<string, unknown>;
    } catch {
      // fall through
    }
    throw failed();
  }

  /** RFC 7662 §2.2: only `active: true` means anything; exp and a patient in context are required here. */
  private accept(answer: Record<string, unknown>, server: SmartServer, now: number): SmartTokenInfo {
    if (answer.active !== true) throw new SmartTokenError(unauthorized('the SMART access token is not active', 'expired'), 'inactive');
    const exp = answer.exp;
    if (typeof exp !== 'number' || exp * 1000 <= now) throw new SmartTokenError(unauthorized('the SMART access token has expired', 'expired'), 'expired');
    const patient = answer.patient;
    if (typeof patient !== 'string' || patient === '') {
      throw new SmartTokenError(unauthorized('the SMART access token has no patient in context (launch with a patient)'), 'no-patient');
    }
    const info: SmartTokenInfo = { patient, exp, scope: typeof answer.scope === 'string' ? answer.scope : '', fhirBaseUrl: normalise(server.fhirBaseUrl) };
    if (typeof answer.client_id === 'string') info.clientId = answer.client_id;
    if (typeof answer.fhirUser === 'string') info.fhirUser = answer.fhirUser;
    return info;
  }

  private remember(key: string, info: SmartTokenInfo, now: number): void {
    const until = Math.min(now + this.options.cacheSeconds * 1000, info.exp * 1000);
    const max = this.options.cacheSize ?? 10_000;
    while (this.cache.size >= max) {
      const oldest = this.cache.keys().next().value;
      if (oldest === undefined) break;
      this.cache.delete(oldest);
    }
    this.cache.set(key, { info, until });
  }
}

/** 403 unless the Bundle's Patient is the token's patient: the token opens one patient's record only. */
export function assertSamePatient(info: SmartTokenInfo, bundlePatientId: string | undefined): void {
  if (bundlePatientId !== info.patient) throw forbidden('the Bundle is not the record of the patient in the SMART launch context', ['bundle.entry']);
}
